// download and upload: a connection per transfer of --bytes, counted and checked at the far end.
//   download: "STREAM n\r\n"; the backend sends n bytes and closes its write side, so the proxy's
//             close_notify ends the stream, and exactly n bytes must have arrived by then.
//   upload:   "SINK n\r\n" and n bytes; the backend reads exactly n and answers "OK n\r\n".
// Completion time is per connection, from the connect to the last byte (handshake included).
#include <algorithm>
#include <array>
#include <string>

#include "bench/client_connection.hpp"
#include "bench/clock.hpp"
#include "bench/session.hpp"

namespace tlsfront::bench {
namespace {

std::span<const uint8_t> as_bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

void transfer_done(ClientConnection& connection) {
    connection.results().completion.record(monotonic_ns() - connection.unit_started_ns());
    ThreadCounters::add(connection.counters().completed);
    connection.finish();
}

class DownloadSession final : public Session {
public:
    explicit DownloadSession(uint64_t bytes) : bytes_(bytes), request_("STREAM " + std::to_string(bytes) + "\r\n") {}

    bool start_connection(RunControl& control) override { return control.claim_unit(); }
    void on_established(ClientConnection&) override { request_sent_ = received_ = 0; }

    void on_received(ClientConnection& connection, std::span<const uint8_t> plaintext) override {
        received_ += plaintext.size();
        ThreadCounters::add(connection.counters().bytes, plaintext.size());
        if (received_ > bytes_)
            connection.fail(ErrorKind::protocol, "received more than " + std::to_string(bytes_) + " bytes");
    }

    void on_peer_closed(ClientConnection& connection) override {
        if (received_ == bytes_) return transfer_done(connection);
        connection.fail(ErrorKind::closed_early, "the stream ended after " + std::to_string(received_) + " of " +
                                                     std::to_string(bytes_) + " bytes");
    }

    std::span<const uint8_t> pending_output() override { return as_bytes(request_).subspan(request_sent_); }
    void output_taken(ClientConnection&, size_t bytes) override { request_sent_ += bytes; }

private:
    uint64_t bytes_;
    std::string request_;
    size_t request_sent_ = 0;
    uint64_t received_ = 0;
};

class UploadSession final : public Session {
public:
    explicit UploadSession(uint64_t bytes)
        : bytes_(bytes), request_("SINK " + std::to_string(bytes) + "\r\n"),
          expected_reply_("OK " + std::to_string(bytes) + "\r\n") {
        for (size_t i = 0; i < payload_.size(); ++i) payload_[i] = static_cast<uint8_t>('a' + i % 26);
    }

    bool start_connection(RunControl& control) override { return control.claim_unit(); }
    void on_established(ClientConnection&) override {
        request_sent_ = 0;
        payload_sent_ = 0;
        reply_.clear();
    }

    std::span<const uint8_t> pending_output() override {
        if (request_sent_ < request_.size()) return as_bytes(request_).subspan(request_sent_);
        uint64_t left = bytes_ - payload_sent_;
        return std::span<const uint8_t>(payload_).first(static_cast<size_t>(std::min<uint64_t>(left, payload_.size())));
    }

    // Counted as sealed; the backend's "OK n" at the end is what proves they all arrived.
    void output_taken(ClientConnection& connection, size_t bytes) override {
        if (request_sent_ < request_.size()) {
            request_sent_ += bytes;
            return;
        }
        payload_sent_ += bytes;
        ThreadCounters::add(connection.counters().bytes, bytes);
    }

    void on_received(ClientConnection& connection, std::span<const uint8_t> plaintext) override {
        reply_.append(reinterpret_cast<const char*>(plaintext.data()), plaintext.size());
        if (!expected_reply_.starts_with(reply_))
            return connection.fail(ErrorKind::protocol, "the backend answered '" + reply_.substr(0, 40) + "'");
        if (reply_.size() == expected_reply_.size()) transfer_done(connection);
    }

    void on_peer_closed(ClientConnection& connection) override {
        connection.fail(ErrorKind::closed_early, "the proxy closed the connection after " +
                                                     std::to_string(payload_sent_) + " of " + std::to_string(bytes_) +
                                                     " bytes, before the backend's OK");
    }

private:
    uint64_t bytes_;
    std::string request_;
    std::string expected_reply_;
    std::string reply_;  // at most expected_reply_.size() + one read: capacity settles after the first transfer
    size_t request_sent_ = 0;
    uint64_t payload_sent_ = 0;
    std::array<uint8_t, 16384> payload_{};
};

}  // namespace

std::unique_ptr<Session> make_download_session(uint64_t bytes) { return std::make_unique<DownloadSession>(bytes); }
std::unique_ptr<Session> make_upload_session(uint64_t bytes) { return std::make_unique<UploadSession>(bytes); }

}  // namespace tlsfront::bench
