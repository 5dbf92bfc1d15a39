// pingpong: long-lived connections in the backend's ECHO mode, each with exactly one 64-byte line
// in flight; a request is a unit of work. Latency runs from sealing the line to the last byte of
// its echo, and the echo is compared byte for byte (the line carries a sequence number, so a
// stale or misrouted echo does not pass). Closed loop, only requests sent once every connection is
// open are measured: with 1,000 connections, requests sent during the opening handshakes measure
// the handshakes, not the relay.
// With --rate (open loop) a connection that has no request in flight asks its thread for the next
// arrival instead of claiming one; the request's latency then runs from the arrival's scheduled
// time, so a request that waited for a free connection is not measured as if it had not waited.
#include <array>
#include <cstring>
#include <optional>
#include <string_view>

#include "bench/client_connection.hpp"
#include "bench/clock.hpp"
#include "bench/session.hpp"

namespace tlsfront::bench {
namespace {

class PingPongSession final : public Session {
public:
    explicit PingPongSession(bool open_loop) : open_loop_(open_loop) {
        std::memcpy(out_.data(), kModeLine.data(), kModeLine.size());
        std::memset(out_.data() + kModeLine.size(), 'p', kLineSize - 2);
        out_[out_.size() - 2] = '\r';
        out_[out_.size() - 1] = '\n';
    }

    // Requests are claimed one at a time, so a connection only starts while some are left.
    bool start_connection(RunControl& control) override { return control.work_left(); }

    void on_established(ClientConnection& connection) override {
        out_begin_ = out_end_ = 0;  // the first request goes out behind the mode line
        next_request(connection);
    }

    void on_arrival(ClientConnection& connection, std::optional<uint64_t> scheduled_ns) override {
        if (!scheduled_ns) return connection.finish();
        send_request(*scheduled_ns);
    }

    void on_received(ClientConnection& connection, std::span<const uint8_t> plaintext) override {
        const uint8_t* expected = out_.data() + kModeLine.size();
        if (plaintext.size() > kLineSize - matched_ ||
            std::memcmp(plaintext.data(), expected + matched_, plaintext.size()) != 0)
            return connection.fail(ErrorKind::protocol, "the echo does not match the request");
        matched_ += plaintext.size();
        if (matched_ < kLineSize) return;
        // Requests sent while connections were still opening are not measured (with --rate the
        // schedule itself starts once the thread's connections are open).
        if (open_loop_ || sent_at_ns_ >= connection.control().all_open_ns())
            connection.results().latency.record(monotonic_ns() - sent_at_ns_);
        ThreadCounters::add(connection.counters().completed);
        out_begin_ = out_end_ = kModeLine.size();
        next_request(connection);
    }

    void on_peer_closed(ClientConnection& connection) override {
        connection.fail(ErrorKind::closed_early, connection.awaiting_arrival()
                                                     ? "the proxy closed a connection waiting for its next request"
                                                     : "the proxy closed the connection with a request in flight");
    }

    std::span<const uint8_t> pending_output() override {
        return std::span<const uint8_t>(out_).subspan(out_begin_, out_end_ - out_begin_);
    }
    void output_taken(ClientConnection&, size_t bytes) override { out_begin_ += bytes; }

private:
    static constexpr std::string_view kModeLine = "ECHO\r\n";
    static constexpr size_t kLineSize = 64;

    void next_request(ClientConnection& connection) {
        if (!open_loop_) {
            if (!connection.control().claim_unit()) return connection.finish();
            return send_request(monotonic_ns());
        }
        ArrivalOffer offer = connection.await_arrival();
        if (offer.kind == ArrivalOffer::Kind::over) return connection.finish();
        if (offer.kind == ArrivalOffer::Kind::now) send_request(offer.scheduled_ns);
    }

    // `since_ns`: where the latency runs from (the send, or the arrival's scheduled time).
    void send_request(uint64_t since_ns) {
        ++sequence_;
        static constexpr char kHex[] = "0123456789abcdef";
        uint8_t* digits = out_.data() + kModeLine.size();
        for (int i = 15; i >= 0; --i) digits[15 - i] = static_cast<uint8_t>(kHex[(sequence_ >> (i * 4)) & 15]);
        out_end_ = out_.size();
        matched_ = 0;
        sent_at_ns_ = since_ns;
    }

    // "ECHO\r\n" then the request line: 16 hex digits of sequence number, filler, CRLF.
    std::array<uint8_t, kModeLine.size() + kLineSize> out_{};
    size_t out_begin_ = 0;
    size_t out_end_ = 0;
    size_t matched_ = 0;
    uint64_t sequence_ = 0;
    uint64_t sent_at_ns_ = 0;
    bool open_loop_;
};

}  // namespace

std::unique_ptr<Session> make_pingpong_session(bool open_loop) { return std::make_unique<PingPongSession>(open_loop); }

}  // namespace tlsfront::bench
