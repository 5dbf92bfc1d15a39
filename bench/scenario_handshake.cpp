// handshake and resume: a connection per unit of work, one PING/PONG, close_notify. Whether the
// handshake is full or resumed is the TLS context's business (tls_client.cpp): the session is the
// same for both.
#include "bench/client_connection.hpp"
#include "bench/ping_exchange.hpp"
#include "bench/session.hpp"

namespace tlsfront::bench {
namespace {

class HandshakeSession final : public Session {
public:
    bool start_connection(RunControl& control) override { return control.claim_unit(); }
    void on_established(ClientConnection&) override { ping_.reset(); }

    void on_received(ClientConnection& connection, std::span<const uint8_t> plaintext) override {
        switch (ping_.on_received(plaintext)) {
        case PingExchange::Reply::complete:
            ThreadCounters::add(connection.counters().completed);
            return connection.finish();
        case PingExchange::Reply::mismatch:
            return connection.fail(ErrorKind::protocol, PingExchange::describe(plaintext));
        case PingExchange::Reply::incomplete: return;
        }
    }

    void on_peer_closed(ClientConnection& connection) override {
        connection.fail(ErrorKind::closed_early, "the proxy closed the connection before PONG");
    }

    std::span<const uint8_t> pending_output() override { return ping_.pending_output(); }
    void output_taken(ClientConnection&, size_t bytes) override { ping_.output_taken(bytes); }

private:
    PingExchange ping_;
};

}  // namespace

std::unique_ptr<Session> make_handshake_session() { return std::make_unique<HandshakeSession>(); }

}  // namespace tlsfront::bench
