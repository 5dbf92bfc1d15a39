// PingExchange: the single request/response of the handshake, resume and idle scenarios.
// "PING\r\n" selects the backend's PING mode, which answers "PONG\r\n": one round trip through
// the proxy proves the connection really reaches the backend, at the smallest possible cost.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace tlsfront::bench {

class PingExchange {
public:
    enum class Reply : uint8_t { incomplete, complete, mismatch };

    void reset() { sent_ = matched_ = 0; }
    std::span<const uint8_t> pending_output() const {
        return std::span(reinterpret_cast<const uint8_t*>(kRequest.data()), kRequest.size()).subspan(sent_);
    }
    void output_taken(size_t bytes) { sent_ += bytes; }

    Reply on_received(std::span<const uint8_t> data) {
        if (data.size() > kReply.size() - matched_ || std::memcmp(data.data(), kReply.data() + matched_, data.size()) != 0)
            return Reply::mismatch;
        matched_ += data.size();
        return matched_ == kReply.size() ? Reply::complete : Reply::incomplete;
    }

    // For an error message: what came instead of PONG, non-printable bytes as '.'.
    static std::string describe(std::span<const uint8_t> data) {
        std::string text = "expected PONG from the backend, got '";
        for (size_t i = 0; i < data.size() && i < 60; ++i)
            text += data[i] >= 0x20 && data[i] < 0x7f ? static_cast<char>(data[i]) : '.';
        return text + "'";
    }

private:
    static constexpr std::string_view kRequest = "PING\r\n";
    static constexpr std::string_view kReply = "PONG\r\n";
    size_t sent_ = 0;
    size_t matched_ = 0;
};

}  // namespace tlsfront::bench
