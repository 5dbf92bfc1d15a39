// Connection: one client from accept to close. It owns the client socket, the TLS session and the
// backend socket, and moves through handshake -> backend connect -> relay -> close, driven by the
// io_uring completions its Worker hands it. connection.cpp has the life cycle, connection_relay.cpp
// the two relay directions with backpressure and half-close, connection_starttls.cpp the plaintext
// dialogue before STARTTLS and the backend greeting that tlsfront swallows after it.
#pragma once

#include <netinet/in.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "config/socket_address.hpp"
#include "proxy/net/deadline_list.hpp"
#include "proxy/session/io_op.hpp"
#include "proxy/net/unique_fd.hpp"
#include "tls/session_facts.hpp"
#include "tls/tls13_records.hpp"
#include "tls/tls_transport.hpp"

namespace tlsfront {

class Worker;
struct ListenerRuntime;
struct ListenerShard;
struct SnapshotUse;
struct StartTlsPhase;

enum class CloseReason : uint8_t {
    done,
    handshake_timeout,
    handshake_failed,
    client_disconnected,
    backend_unreachable,
    idle_timeout,
    client_error,
    backend_error,
    tls_error,
    shutdown,
    drained,  // sent the protocol's goodbye during a drain
    proxy_header_invalid,  // a trusted balancer sent a malformed PROXY header
    proxy_header_timeout,
    starttls_quit,               // LOGOUT/QUIT before STARTTLS
    starttls_line_too_long,      // a command line over the protocol's limit before STARTTLS
    starttls_too_many_commands,  // more commands than allowed before STARTTLS
    starttls_timeout,            // no STARTTLS and handshake within handshake_timeout
    backend_refused,             // the backend greeted with an error (or not at all)
};
const char* to_string(CloseReason reason);

// 16-byte aligned: the low four bits of its address carry the IoOp in io_uring user_data.
class alignas(16) Connection : public DeadlineHook {
public:
    Connection(Worker& worker, SnapshotUse& use, const ListenerRuntime& listener, ListenerShard& metrics,
               UniqueFd client, const SocketAddress& peer, uint64_t id);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();
    void on_completion(IoOp op, int result, uint32_t cqe_flags);
    void on_deadline();
    // Ends the connection now (shutdown grace over); pending I/O is cancelled.
    void abort(CloseReason reason);
    // Closed and no io_uring operation refers to it any more: the worker may free it.
    bool finished() const { return state_ == State::closed && pending_ops_ == 0; }
    // A receive that found the provided-buffer ring empty; retried when buffers come back.
    void retry_receive(IoOp op);
    // Draining: a relayed session at rest (the backend had the last word, a whole line, and nothing
    // is in flight either way) gets the protocol's goodbye and close_notify, so its client
    // reconnects now instead of at shutdown_grace. Anywhere else it is a no-op.
    void say_goodbye_if_at_rest();
    // Keeps the listener's idle gauge: relayed, nothing in flight either way, no buffer held.
    void update_idle_gauge();

    // The snapshot the connection was accepted under: its listener settings and its deadlines.
    SnapshotUse& snapshot_use() const { return use_; }

    uint32_t worker_slot = 0;  // index in the worker's connection table

private:
    // proxy_header: reading a trusted balancer's PROXY header, before the TLS handshake.
    // starttls: tlsfront's own plaintext dialogue until STARTTLS (STARTTLS listeners).
    // greeting: swallowing the backend's greeting, which the client must not see twice.
    // flushing: a last message (alert, refusal, close_notify) goes out, then the connection closes.
    enum class State : uint8_t {
        proxy_header,
        starttls,
        handshake,
        connecting,
        greeting,
        relaying,
        flushing,
        closing,
        closed
    };
    enum Flag : uint16_t {
        client_recv_armed = 1 << 0,
        backend_recv_armed = 1 << 1,
        client_send_busy = 1 << 2,
        backend_send_busy = 1 << 3,
        client_eof = 1 << 4,          // no more data will come from the client
        backend_write_shut = 1 << 5,  // EOF passed on to the backend
        backend_eof = 1 << 6,         // no more data will come from the backend
        close_notify_queued = 1 << 7,
        client_write_shut = 1 << 8,  // close_notify sent and TCP FIN passed on to the client
        local_from_header = 1 << 9,  // local_ holds the destination a balancer's PROXY header named
        backend_spoke_last = 1 << 10,  // the last bytes relayed came from the backend and ended a line
        counted_idle = 1 << 11,        // counted in the listener's idle gauge
        plaintext = 1 << 12,           // SMTP optional without STARTTLS: relayed without TLS
        tickets_held = 1 << 13,        // TLS 1.3 tickets wait to go out with the backend's first bytes
    };
    bool has(Flag f) const { return flags_ & f; }
    void set(Flag f) { flags_ |= f; }
    void clear(Flag f) { flags_ &= static_cast<uint16_t>(~f); }

    // connection.cpp: life cycle
    void continue_handshake();
    void handshake_complete();
    void connect_backend();
    void on_backend_connected(int result);
    void refuse_backend_unavailable(int error);
    void refuse_backend(const char* error);
    void close_after_flush(CloseReason reason, const char* error);
    void count_close(CloseReason reason, const char* error);
    // Relaying with nothing in flight or buffered either way.
    bool quiet() const;
    bool fin_follows() const;
    void close(CloseReason reason, const char* error = nullptr);
    void finish();
    void log_close() const;
    void submit(IoOp op);
    void arm_client_receive();
    void arm_backend_receive();
    void on_client_received(int result, uint32_t cqe_flags);
    void on_client_sent(int result);
    CloseReason client_failure_reason() const;
    void read_proxy_header(uint32_t received);
    void send_proxy_header();
    bool start_tls_session();
    void restart_phase_clock();
    // To the client as it is now: sealed once TLS is up, as is before (and without) it.
    void write_to_client(std::string_view bytes);
    void end_with_line(std::string_view line, CloseReason reason, const char* error);

    // connection_starttls.cpp: before STARTTLS and the backend greeting after it
    void begin_starttls();
    void read_pre_tls(const uint8_t* data, uint32_t size);
    void on_starttls_deadline();
    void begin_backend_greeting();
    void read_backend_greeting(const uint8_t* data, uint32_t size);
    void finish_backend_greeting(std::string_view leftover);
    void queue_to_backend(std::string_view bytes);

    // connection_relay.cpp: the relay
    void pump_client_to_backend();
    void pump_backend_to_client();
    void on_backend_received(int result, uint32_t cqe_flags);
    void on_backend_sent(int result);
    void flush_to_client();
    void flush_to_backend();
    void release_client_input();
    void release_backend_input();
    void ensure_client_output();
    void release_idle_output();
    void maybe_done();
    bool handle_ssl_error(int ret, const char* during);
    // connection_records.cpp: TLS 1.3 records sealed and opened by tlsfront once the relay starts
    // (Tls13Records), BoringSSL's SSL_read/SSL_write otherwise.
    void take_over_records();
    // Like SSL_read into `to`: bytes (> 0), or 0/-1 with `error` an SSL_ERROR_* value;
    // SSL_ERROR_SSL means the connection is already on its way out.
    int read_client_records(Tls13Records::Cipher& cipher, uint8_t* to, uint32_t room, int& error);
    // Seals `size` bytes (at most one record) into the client's send block; -1 after a failure.
    int seal_client_record(Tls13Records::Cipher& cipher, const uint8_t* from, uint32_t size);
    // The KeyUpdate a client asked for, or ours when the write key is worn; false if it must wait for room.
    bool seal_key_update_if_owed();
    void queue_close_notify();
    void fail_records(const Tls13Records::OpenResult& result);
    // The plaintext relay's SSL_read and SSL_write: bytes moved (-1: none to take).
    int take_plaintext(uint8_t* to, uint32_t room);
    int put_plaintext(const uint8_t* from, uint32_t size);

    Worker& worker_;
    SnapshotUse& use_;
    const ListenerRuntime& listener_;
    ListenerShard& metrics_;  // the listener's counters, this worker's shard
    UniqueFd client_;
    UniqueFd backend_;
    bssl::UniquePtr<SSL> ssl_;  // freed once records_ takes over (TLS 1.3): it holds ~2.5 KiB
    std::unique_ptr<StartTlsPhase> starttls_;  // STARTTLS listeners, until the relay starts
    TlsTransport tls_io_;  // ciphertext in (ring buffer) and out (pool block)
    std::unique_ptr<Tls13Records> records_;      // TLS 1.3 while relaying: tlsfront's own record layer
    std::unique_ptr<uint8_t[]> partial_record_;  // a record split across two receives, while it is
    uint32_t partial_length_ = 0;                // (Tls13Records::kMaxRecord bytes)
    uint32_t held_tickets_length_ = 0;
    std::unique_ptr<uint8_t[]> held_tickets_;  // the TLS 1.3 ticket, while tickets_held and no block
    SessionLogFacts released_session_;  // what the close log needs once ssl_ is freed (records_)
    uint32_t client_sent_ = 0;
    uint16_t client_in_buffer_ = kNoBuffer;
    uint16_t backend_in_buffer_ = kNoBuffer;
    uint32_t backend_in_offset_ = 0;
    uint32_t backend_in_len_ = 0;
    uint8_t* backend_out_ = nullptr;  // plaintext toward the backend
    uint32_t backend_out_len_ = 0;
    uint32_t backend_sent_ = 0;
    State state_ = State::handshake;
    CloseReason reason_ = CloseReason::done;
    uint16_t flags_ = 0;
    uint16_t pending_ops_ = 0;
    const char* error_ = nullptr;  // static string explaining reason_
    uint64_t id_;
    uint64_t started_ms_;
    uint64_t phase_started_us_;  // precise clock: accept, then handshake end (for the latency histograms)
    uint64_t bytes_in_ = 0;   // plaintext client -> backend
    uint64_t bytes_out_ = 0;  // plaintext backend -> client
    uint32_t starttls_discarded_ = 0;  // bytes sent after STARTTLS, before the handshake: dropped
    // IPv4 or IPv6, compactly (sockaddr_storage would be 128 bytes per connection).
    union CompactAddress {
        sockaddr sa;
        sockaddr_in v4;
        sockaddr_in6 v6;
    };
    static void store(CompactAddress& to, const SocketAddress& from);
    static SocketAddress load(const CompactAddress& from);
    CompactAddress peer_{};   // the client (from the PROXY header when a balancer sent one)
    CompactAddress local_{};  // only with local_from_header
};

}  // namespace tlsfront
