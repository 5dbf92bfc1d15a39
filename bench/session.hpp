// Session: what a scenario does on a connection once TLS is up. One per client slot, reused for
// every connection of that slot, so its state (a request line, a reply being matched, an IMAP
// response reader) is allocated once. The connection owns the socket and the TLS session; the
// session only sees plaintext:
//   - it offers plaintext to send through pending_output()/output_taken() (pulled by the
//     connection whenever there is room in the ciphertext buffer: no copy, no queue);
//   - it gets plaintext in on_received(), and on_peer_closed() when the proxy ends the stream;
//   - it ends the connection with ClientConnection::finish() (success: close_notify, wait for the
//     peer's close) or ClientConnection::fail(kind, why) (counted as an error).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "bench/options.hpp"

namespace tlsfront::bench {

class ClientConnection;
class RunControl;

class Session {
public:
    virtual ~Session() = default;

    // Before each connection of the slot. False: nothing left to do (budget spent, stopping), the
    // slot retires. Scenarios whose unit of work is a connection claim it here.
    virtual bool start_connection(RunControl& control) = 0;
    virtual void on_established(ClientConnection& connection) = 0;
    virtual void on_received(ClientConnection& connection, std::span<const uint8_t> plaintext) = 0;
    // close_notify or EOF from the proxy before finish(): a success or an error, as the scenario says.
    virtual void on_peer_closed(ClientConnection& connection) = 0;
    // Plaintext waiting to be sealed and sent, and how much of it was.
    virtual std::span<const uint8_t> pending_output() { return {}; }
    virtual void output_taken(ClientConnection& /*connection*/, size_t /*bytes*/) {}
    // --rate, after ClientConnection::await_arrival() said Kind::later: the arrival to serve
    // (its scheduled time), or nullopt: the run has no more, finish.
    virtual void on_arrival(ClientConnection& /*connection*/, std::optional<uint64_t> /*scheduled_ns*/) {}
    // About ten times a second while established (idle: end the hold when the run stops).
    virtual void on_tick(ClientConnection& /*connection*/) {}
    // True while silence is expected (idle's hold): the stall timeout does not apply.
    virtual bool silence_expected() const { return false; }
};

// Ciphertext buffer sizes per connection: large for transfers (fewer system calls per MB),
// small for the chatty scenarios (an idle slot touches only a few pages of them).
struct BufferSizes {
    uint32_t receive;
    uint32_t send;
};
BufferSizes buffer_sizes_for(Scenario scenario);

std::unique_ptr<Session> make_session(const LoadOptions& options);

// One factory per scenario family (scenario_*.cpp).
std::unique_ptr<Session> make_handshake_session();  // handshake and resume
std::unique_ptr<Session> make_idle_session();
std::unique_ptr<Session> make_pingpong_session(bool open_loop);
std::unique_ptr<Session> make_download_session(uint64_t bytes);
std::unique_ptr<Session> make_upload_session(uint64_t bytes);
std::unique_ptr<Session> make_imap_session(const LoadOptions& options);

}  // namespace tlsfront::bench
