// ClientConnection: one client slot of a load thread. Each connection of the slot goes
//   connect -> TLS handshake -> the scenario's exchange (its Session) -> close_notify -> the
//   proxy's close_notify (or FIN) -> close
// driven by the io_uring completions its LoadThread hands it. At most one receive and one send
// are in flight. The slot keeps its buffers, its Session and (resume) the last session it was
// issued from one connection to the next: a connection allocates only its socket and SSL object,
// a request nothing at all. BoringSSL reads and writes straight from and into the slot's buffers
// through the proxy's TlsTransport BIO.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "bench/arrival_schedule.hpp"
#include "bench/bench_op.hpp"
#include "proxy/net/io_ring.hpp"
#include "bench/run_control.hpp"
#include "bench/session.hpp"
#include "proxy/net/unique_fd.hpp"
#include "tls/tls_transport.hpp"

namespace tlsfront::bench {

class LoadThread;

// 16-byte aligned: the low four bits of its address carry the BenchOp in io_uring user_data.
class alignas(16) ClientConnection {
public:
    enum class Outcome : uint8_t { none, succeeded, failed };

    ClientConnection(LoadThread& thread, std::unique_ptr<Session> session, BufferSizes sizes);
    ~ClientConnection();
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    // Opens the slot's next connection if its session has work for one. False: the slot is done.
    // (True and idle() at once: the connection failed before it got anywhere.)
    // `scheduled_ns` (--rate, a unit that is a connection): the arrival this connection serves,
    // already claimed from the budget; its latencies run from that time, not from the connect.
    bool start(std::optional<uint64_t> scheduled_ns = std::nullopt);
    // --rate, a session waiting on the thread's list for its next unit (see await_arrival): the
    // arrival's scheduled time, or nullopt when there will be none.
    void deliver_arrival(std::optional<uint64_t> scheduled_ns);
    bool awaiting_arrival() const { return awaiting_arrival_; }
    void on_completion(BenchOp op, int result);
    // About ten times a second: the session's timers and the stall timeout.
    void on_tick(uint64_t now_ns);
    // The hard time cap: ends the connection now, counted as an error.
    void abort(std::string_view why);

    // No connection open and nothing in flight: the thread may start the next one.
    bool idle() const { return state_ == State::idle; }
    // What happened to the connection that just ended (read once: then none).
    Outcome take_outcome();

    // For the session.
    void finish();
    void fail(ErrorKind kind, std::string_view why);
    ThreadCounters& counters() const;
    ThreadResults& results() const;
    RunControl& control() const;
    // When this connection's unit of work began: the connect, or with --rate the scheduled time.
    uint64_t unit_started_ns() const { return unit_started_ns_; }
    // --rate: the next unit for a session that is ready for one (pingpong). Kind::later puts the
    // connection on the thread's waiting list; the arrival then comes through on_arrival().
    ArrivalOffer await_arrival();

private:
    // releasing: closed as far as the session is concerned, waiting for cancelled requests.
    enum class State : uint8_t { idle, connecting, handshaking, established, closing, releasing };
    enum Flag : uint8_t {
        receive_armed = 1 << 0,
        send_armed = 1 << 1,
        socket_eof = 1 << 2,           // recv returned 0
        peer_closed = 1 << 3,          // close_notify (or EOF) seen through TLS
        close_notify_queued = 1 << 4,  // ours
        counted_open = 1 << 5,         // counted in ThreadCounters::open
    };
    bool has(Flag f) const { return flags_ & f; }
    void set(Flag f) { flags_ |= f; }
    void clear(Flag f) { flags_ &= static_cast<uint8_t>(~f); }
    bool open() const { return state_ >= State::connecting && state_ <= State::closing; }
    static const char* to_string(State state);

    void drive();
    void step_handshake();
    void handshake_done();
    void read_plaintext();
    void write_plaintext();
    void queue_close_notify();
    void flush();
    void arm_receive();
    void release(Outcome outcome);
    void close_now();
    void leave_opening();

    LoadThread& thread_;
    std::unique_ptr<Session> session_;
    std::unique_ptr<uint8_t[]> receive_buffer_;
    std::unique_ptr<uint8_t[]> send_buffer_;
    uint32_t receive_capacity_;
    uint32_t sent_ = 0;  // of transport_.out_len
    TlsTransport transport_;
    UniqueFd fd_;
    bssl::UniquePtr<SSL> ssl_;
    bssl::UniquePtr<SSL_SESSION> saved_session_;  // resume: what the previous connection was issued
    State state_ = State::idle;
    uint8_t flags_ = 0;
    bool opening_ = false;  // counted in the thread's connections being opened
    Outcome outcome_ = Outcome::none;
    Outcome release_outcome_ = Outcome::none;
    uint16_t pending_ops_ = 0;
    bool awaiting_arrival_ = false;  // on the thread's waiting list; silence is expected
    uint64_t unit_started_ns_ = 0;
    uint64_t last_progress_ns_ = 0;
};

}  // namespace tlsfront::bench
