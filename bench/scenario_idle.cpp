// idle: every slot opens one connection, proves it with PING/PONG, then holds it without a byte
// either way until the run stops (the controller measures the proxy's RSS meanwhile), then closes
// it cleanly. A connection the proxy drops during the hold is an error.
#include "bench/client_connection.hpp"
#include "bench/ping_exchange.hpp"
#include "bench/session.hpp"

namespace tlsfront::bench {
namespace {

class IdleSession final : public Session {
public:
    // The budget is exactly --connections: a failed connection is not replaced.
    bool start_connection(RunControl& control) override {
        holding_ = false;
        return control.claim_unit();
    }
    void on_established(ClientConnection&) override { ping_.reset(); }

    void on_received(ClientConnection& connection, std::span<const uint8_t> plaintext) override {
        if (holding_) return connection.fail(ErrorKind::protocol, "bytes arrived on an idle connection");
        switch (ping_.on_received(plaintext)) {
        case PingExchange::Reply::complete:
            holding_ = true;
            ThreadCounters::add(connection.counters().completed);
            return;
        case PingExchange::Reply::mismatch:
            return connection.fail(ErrorKind::protocol, PingExchange::describe(plaintext));
        case PingExchange::Reply::incomplete: return;
        }
    }

    void on_peer_closed(ClientConnection& connection) override {
        connection.fail(ErrorKind::closed_early, holding_ ? "the proxy closed an idle connection"
                                                          : "the proxy closed the connection before PONG");
    }

    void on_tick(ClientConnection& connection) override {
        if (holding_ && connection.control().stopping()) {
            holding_ = false;
            connection.finish();
        }
    }

    bool silence_expected() const override { return holding_; }
    std::span<const uint8_t> pending_output() override { return ping_.pending_output(); }
    void output_taken(ClientConnection&, size_t bytes) override { ping_.output_taken(bytes); }

private:
    PingExchange ping_;
    bool holding_ = false;
};

}  // namespace

std::unique_ptr<Session> make_idle_session() { return std::make_unique<IdleSession>(); }

}  // namespace tlsfront::bench
