// Connection life cycle: accept -> (STARTTLS dialogue) -> TLS handshake -> backend connect ->
// (backend greeting) -> relay -> close and log.
#include "proxy/session/connection.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/net/backend_connector.hpp"
#include "proxy/session/backend_proxy_header.hpp"
#include "proxy/session/listener_metrics.hpp"
#include "proxy/session/starttls_phase.hpp"
#include "proxy/protocol/proxy_header.hpp"
#include "proxy/common/log.hpp"
#include "proxy/protocol/protocol_refusal.hpp"
#include "proxy/session/worker.hpp"
#include "tls/server_context.hpp"
#include "tls/session_facts.hpp"

namespace tlsfront {

const char* to_string(CloseReason reason) {
    switch (reason) {
    case CloseReason::done: return "done";
    case CloseReason::handshake_timeout: return "handshake_timeout";
    case CloseReason::handshake_failed: return "handshake_failed";
    case CloseReason::client_disconnected: return "client_disconnected";
    case CloseReason::backend_unreachable: return "backend_unreachable";
    case CloseReason::idle_timeout: return "idle_timeout";
    case CloseReason::client_error: return "client_error";
    case CloseReason::backend_error: return "backend_error";
    case CloseReason::tls_error: return "tls_error";
    case CloseReason::shutdown: return "shutdown";
    case CloseReason::drained: return "drained";
    case CloseReason::proxy_header_invalid: return "proxy_header_invalid";
    case CloseReason::proxy_header_timeout: return "proxy_header_timeout";
    case CloseReason::starttls_quit: return "starttls_quit";
    case CloseReason::starttls_line_too_long: return "starttls_line_too_long";
    case CloseReason::starttls_too_many_commands: return "starttls_too_many_commands";
    case CloseReason::starttls_timeout: return "starttls_timeout";
    case CloseReason::backend_refused: return "backend_refused";
    }
    return "unknown";
}

namespace {

uint64_t monotonic_us() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace

static_assert(static_cast<size_t>(CloseReason::backend_refused) + 1 == kCloseReasons);

Connection::Connection(Worker& worker, SnapshotUse& use, const ListenerRuntime& listener, ListenerShard& metrics,
                       UniqueFd client, const SocketAddress& peer, uint64_t id)
    : worker_(worker), use_(use), listener_(listener), metrics_(metrics), client_(std::move(client)), id_(id),
      started_ms_(worker.now_ms()), phase_started_us_(monotonic_us()) {
    store(peer_, peer);
}

void Connection::store(CompactAddress& to, const SocketAddress& from) {
    to = CompactAddress{};
    std::memcpy(&to, &from.storage, std::min<size_t>(sizeof to, from.length));
}

SocketAddress Connection::load(const CompactAddress& from) {
    socklen_t length = from.sa.sa_family == AF_INET6 ? sizeof from.v6 : sizeof from.v4;
    return SocketAddress::from_sockaddr(&from.sa, length);
}

Connection::~Connection() {
    DeadlineList::remove(*this);
    release_client_input();
    release_backend_input();
    if (tls_io_.out) worker_.send_buffers().release(tls_io_.out);
    if (backend_out_) worker_.send_buffers().release(backend_out_);
}

// The handshake_timeout deadline armed here covers the PROXY header, the STARTTLS dialogue and
// the handshake together: a client gets that long to reach TLS, however it spends it.
void Connection::start() {
    bool starttls = listener_.config->starttls != StartTlsMode::off;
    if (!starttls && !start_tls_session()) return;
    use_.handshake_deadlines.arm(*this, worker_.now_ms());
    // Only a configured balancer may say who the client is; from anyone else a PROXY header is
    // just bytes that are not a ClientHello (or a command), and is refused as such.
    const auto& trusted = listener_.config->accept_proxy_from;
    SocketAddress peer = load(peer_);
    if (std::any_of(trusted.begin(), trusted.end(), [&](const CidrRange& range) { return range.contains(peer); }))
        state_ = State::proxy_header;
    else if (starttls)
        begin_starttls();
    arm_client_receive();
}

// The handshake and backend-connect latencies are measured from here, not from the accept: a
// STARTTLS client's plaintext dialogue is its own time, not the handshake's.
void Connection::restart_phase_clock() { phase_started_us_ = monotonic_us(); }

bool Connection::start_tls_session() {
    ssl_ = listener_.tls->new_session(client_.get());
    if (ssl_ && attach_transport(ssl_.get(), &tls_io_)) return true;
    close(CloseReason::tls_error, "out of memory");
    return false;
}

void Connection::submit(IoOp op) {
    io_uring_sqe* sqe = worker_.next_sqe();
    ProvidedBufferRing& ring = worker_.receive_buffers();
    switch (op) {
    case IoOp::client_recv:
    case IoOp::backend_recv:
        io_uring_prep_recv(sqe, op == IoOp::client_recv ? client_.get() : backend_.get(), nullptr,
                           ring.buffer_size(), 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = ring.group_id();
        set(op == IoOp::client_recv ? client_recv_armed : backend_recv_armed);
        break;
    case IoOp::client_send:
        io_uring_prep_send(sqe, client_.get(), tls_io_.out + client_sent_, tls_io_.out_len - client_sent_,
                           MSG_NOSIGNAL | (fin_follows() ? MSG_MORE : 0));
        set(client_send_busy);
        break;
    case IoOp::backend_send:
        io_uring_prep_send(sqe, backend_.get(), backend_out_ + backend_sent_, backend_out_len_ - backend_sent_,
                           MSG_NOSIGNAL);
        set(backend_send_busy);
        break;
    case IoOp::backend_connect: {
        const SocketAddress& address = listener_.config->backend;
        io_uring_prep_connect(sqe, backend_.get(), address.get(), address.length);
        break;
    }
    default: return;
    }
    io_uring_sqe_set_data64(sqe, make_user_data(this, op));
    ++pending_ops_;
}

// The last send of a relayed session (close_notify queued): the shutdown after it adds the FIN to
// the same segment while MSG_MORE keeps it corked, one segment fewer per connection.
bool Connection::fin_follows() const {
    return has(close_notify_queued) && state_ == State::relaying && !has(client_write_shut);
}

void Connection::arm_client_receive() {
    if (!has(client_recv_armed) && !has(client_eof) && state_ < State::flushing) submit(IoOp::client_recv);
}

void Connection::arm_backend_receive() {
    if (!has(backend_recv_armed) && !has(backend_eof) && state_ < State::flushing) submit(IoOp::backend_recv);
}

void Connection::retry_receive(IoOp op) {
    if (op == IoOp::client_recv) arm_client_receive();
    else arm_backend_receive();
}

void Connection::on_completion(IoOp op, int result, uint32_t cqe_flags) {
    --pending_ops_;
    switch (op) {
    case IoOp::client_recv: return on_client_received(result, cqe_flags);
    case IoOp::client_send: return on_client_sent(result);
    case IoOp::backend_connect: return on_backend_connected(result);
    case IoOp::backend_recv: return on_backend_received(result, cqe_flags);
    case IoOp::backend_send: return on_backend_sent(result);
    default: return;
    }
}

void Connection::on_client_received(int result, uint32_t cqe_flags) {
    clear(client_recv_armed);
    if (cqe_flags & IORING_CQE_F_BUFFER) {
        worker_.receive_buffers().taken();
        client_in_buffer_ = static_cast<uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    }
    if (state_ >= State::flushing) {
        release_client_input();
        if (state_ == State::flushing && result <= 0 && result != -ENOBUFS) close(reason_, error_);
        return;
    }
    if (result == -ENOBUFS) return worker_.wait_for_receive_buffer(*this, IoOp::client_recv);
    if (result < 0) {
        release_client_input();
        if (state_ <= State::handshake) return close(CloseReason::client_disconnected, strerrorname_np(-result));
        return close(client_failure_reason(), strerrorname_np(-result));
    }
    if (result == 0) {
        release_client_input();
        set(client_eof);
        if (state_ <= State::handshake) return close(CloseReason::client_disconnected, "eof during handshake");
        if (state_ == State::relaying) pump_client_to_backend();
        return;
    }
    if (state_ == State::proxy_header) return read_proxy_header(static_cast<uint32_t>(result));
    if (state_ == State::starttls)
        return read_pre_tls(worker_.receive_buffers().data(client_in_buffer_), static_cast<uint32_t>(result));
    tls_io_.in = worker_.receive_buffers().data(client_in_buffer_);
    tls_io_.in_len = static_cast<uint32_t>(result);
    if (state_ == State::handshake) return continue_handshake();
    if (state_ == State::relaying) {
        use_.idle_deadlines.arm(*this, worker_.now_ms());
        pump_client_to_backend();
    }
    // While connecting (or swallowing the backend's greeting), the bytes wait in the buffer.
}

// SMTP and POP3 clients often hang up right after the server's goodbye, without reading our
// close_notify: their kernel answers it with a reset. Once the backend has ended the session and
// close_notify is on its way, that reset is a normal end, not a client failure.
CloseReason Connection::client_failure_reason() const {
    return has(close_notify_queued) ? CloseReason::done : CloseReason::client_error;
}

void Connection::on_client_sent(int result) {
    clear(client_send_busy);
    if (state_ >= State::closing) return;
    if (result < 0) return close(client_failure_reason(), strerrorname_np(-result));
    client_sent_ += static_cast<uint32_t>(result);
    if (client_sent_ < tls_io_.out_len) return submit(IoOp::client_send);
    tls_io_.out_len = client_sent_ = 0;
    if (state_ == State::flushing) return close(reason_, error_);
    if (has(close_notify_queued) && !has(client_write_shut)) {
        ::shutdown(client_.get(), SHUT_WR);
        set(client_write_shut);
    }
    if (state_ == State::handshake) return continue_handshake();
    if (state_ != State::relaying) return release_idle_output();
    use_.idle_deadlines.arm(*this, worker_.now_ms());
    pump_backend_to_client();
    pump_client_to_backend();
    if (state_ == State::relaying) maybe_done();
}

void Connection::continue_handshake() {
    if (has(client_send_busy)) return;
    ensure_client_output();
    int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) return handshake_complete();
    if (!handle_ssl_error(ret, "handshake")) return;
    flush_to_client();
    if (tls_io_.in_len == 0) {
        release_client_input();
        release_idle_output();  // a half-open handshake (slowloris) holds no send block while it waits
        arm_client_receive();
    }
}

void Connection::handshake_complete() {
    uint64_t now_us = monotonic_us();
    metrics_.handshakes[SSL_version(ssl_.get()) == TLS1_3_VERSION][SSL_session_reused(ssl_.get()) ? 1 : 0].add();
    metrics_.handshake_latency.observe(now_us - phase_started_us_);
    phase_started_us_ = now_us;
    // TLS 1.2: our Finished, which the client waits for. TLS 1.3: only the ticket, which no client
    // waits for: it goes out with the backend's first bytes (a mail server's greeting), one send
    // and one segment instead of two; a session that ends first sends it with its close_notify.
    if (SSL_version(ssl_.get()) == TLS1_3_VERSION) set(tickets_held);
    flush_to_client();
    if (tls_io_.in_len == 0) release_client_input();
    if (backend_out_) {  // the PROXY header accumulator, consumed by now: a client cannot send
        worker_.send_buffers().release(backend_out_);  // past its Finished before our reply
        backend_out_ = nullptr;
        backend_out_len_ = 0;
        if (tls_io_.in_len > 0) return close(CloseReason::tls_error, "data before the handshake finished");
    }
    DeadlineList::remove(*this);
    state_ = State::connecting;
    connect_backend();
}

void Connection::connect_backend() {
    backend_ = open_backend_socket(listener_.config->backend);
    if (!backend_) return refuse_backend_unavailable(errno);
    use_.connect_deadlines.arm(*this, worker_.now_ms());
    submit(IoOp::backend_connect);
}

void Connection::on_backend_connected(int result) {
    if (state_ >= State::closing) return;
    if (result == -ECANCELED) return refuse_backend_unavailable(ETIMEDOUT);
    if (result < 0) return refuse_backend_unavailable(-result);
    metrics_.backend_connect_latency.observe(monotonic_us() - phase_started_us_);
    if (listener_.config->starttls != StartTlsMode::off) return begin_backend_greeting();
    state_ = State::relaying;
    use_.idle_deadlines.arm(*this, worker_.now_ms());
    arm_backend_receive();
    if (listener_.config->proxy_protocol != ProxyProtocolVersion::off) send_proxy_header();
    take_over_records();  // after the PROXY header, which reads the TLS facts from the SSL object
    pump_client_to_backend();
}

// In one send, before any client byte: Dovecot and Postfix read the whole header in their first read.
void Connection::send_proxy_header() {
    SocketAddress local;
    if (has(local_from_header)) {
        local = load(local_);
    } else {
        local.length = sizeof local.storage;
        getsockname(client_.get(), reinterpret_cast<sockaddr*>(&local.storage), &local.length);
    }
    backend_out_ = worker_.send_buffers().acquire();
    backend_sent_ = 0;
    backend_out_len_ = static_cast<uint32_t>(write_backend_proxy_header(
        {backend_out_, worker_.send_buffers().block_size()}, *listener_.config, ssl_.get(), load(peer_), local, id_));
    flush_to_backend();
}

// A trusted balancer's header, possibly over several reads (kept in the not yet used backend
// send block). What follows it is the client's ClientHello.
void Connection::read_proxy_header(uint32_t received) {
    const uint8_t* data = worker_.receive_buffers().data(client_in_buffer_);
    std::span<const uint8_t> bytes(data, received);
    if (backend_out_) {
        uint32_t room = worker_.send_buffers().block_size() - backend_out_len_;
        uint32_t n = std::min(room, received);
        std::memcpy(backend_out_ + backend_out_len_, data, n);
        backend_out_len_ += n;
        release_client_input();
        bytes = {backend_out_, backend_out_len_};
    }
    ProxyParseResult parsed = parse_proxy_header(bytes);
    if (parsed.status == ProxyParseStatus::invalid) return close(CloseReason::proxy_header_invalid, parsed.error);
    if (parsed.status == ProxyParseStatus::incomplete) {
        if (bytes.size() >= kMaxInboundProxyHeader) return close(CloseReason::proxy_header_invalid, "header too long");
        if (!backend_out_) {
            backend_out_ = worker_.send_buffers().acquire();
            std::memcpy(backend_out_, data, received);
            backend_out_len_ = received;
            release_client_input();
        }
        return arm_client_receive();
    }
    if (parsed.source) store(peer_, *parsed.source);
    if (parsed.destination) {
        store(local_, *parsed.destination);
        set(local_from_header);
    }
    if (listener_.config->starttls != StartTlsMode::off) {
        std::string early(reinterpret_cast<const char*>(bytes.data()) + parsed.consumed, bytes.size() - parsed.consumed);
        release_client_input();
        if (backend_out_) worker_.send_buffers().release(backend_out_);
        backend_out_ = nullptr;
        backend_out_len_ = 0;
        begin_starttls();
        if (early.empty()) return arm_client_receive();
        return read_pre_tls(reinterpret_cast<const uint8_t*>(early.data()), static_cast<uint32_t>(early.size()));
    }
    state_ = State::handshake;
    tls_io_.in = bytes.data() + parsed.consumed;
    tls_io_.in_len = static_cast<uint32_t>(bytes.size() - parsed.consumed);
    continue_handshake();
}

// The client has finished its handshake: tell it, in its own protocol, why it is being let go.
void Connection::refuse_backend_unavailable(int error) {
    const char* cause = error == ETIMEDOUT ? "connect_timeout" : strerrorname_np(error);
    metrics_.backend_connect_failures.add();
    LogLine(LogLevel::warn, "backend_unreachable")
        .hex_field("conn", id_)
        .field("listener", listener_.config->name)
        .field("backend", listener_.config->backend.to_string())
        .field("error", cause);
    backend_.reset();
    release_client_input();
    end_with_line(backend_unavailable_line(listener_.config->protocol), CloseReason::backend_unreachable, cause);
}

void Connection::write_to_client(std::string_view bytes) {
    ensure_client_output();
    if (records_) {
        Tls13Records::Cipher cipher(*records_, Tls13Records::Direction::write);
        while (!bytes.empty() && tls_io_.out_room() >= Tls13Records::kSealOverhead + 1 && state_ < State::closing) {
            size_t n = std::min({bytes.size(), Tls13Records::kMaxPlaintext, tls_io_.out_room() - Tls13Records::kSealOverhead});
            if (seal_client_record(cipher, reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<uint32_t>(n)) < 0) return;
            bytes.remove_prefix(n);
        }
        return;
    }
    if (ssl_) {
        if (SSL_is_init_finished(ssl_.get())) SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
        return;  // mid-handshake nothing may go out but the handshake
    }
    size_t n = std::min<size_t>(bytes.size(), tls_io_.out_room());
    std::memcpy(tls_io_.out + tls_io_.out_len, bytes.data(), n);
    tls_io_.out_len += static_cast<uint32_t>(n);
}

// The protocol's last word, if any, and close_notify once TLS is up, then the close: a client
// never sees a session end in a bare FIN or a reset when tlsfront could say goodbye.
void Connection::end_with_line(std::string_view line, CloseReason reason, const char* error) {
    ensure_client_output();
    if (!line.empty()) write_to_client(line);
    bool tls_up = records_ || (ssl_ && SSL_is_init_finished(ssl_.get()));
    if (tls_up && !has(close_notify_queued)) queue_close_notify();
    close_after_flush(reason, error);
}

// Sends what is queued for the client (an alert, a refusal, close_notify), then closes. The
// handshake timeout bounds how long a client that does not read can hold this up.
void Connection::close_after_flush(CloseReason reason, const char* error) {
    reason_ = reason;
    error_ = error;
    if (state_ >= State::flushing) return;
    clear(tickets_held);
    if (held_tickets_) ensure_client_output();
    flush_to_client();
    if (!has(client_send_busy)) return close(reason, error);
    state_ = State::flushing;
    use_.handshake_deadlines.arm(*this, worker_.now_ms());
}

void Connection::on_deadline() {
    switch (state_) {
    case State::proxy_header: return close(CloseReason::proxy_header_timeout);
    case State::starttls: return on_starttls_deadline();
    case State::handshake: return close(CloseReason::handshake_timeout);
    case State::connecting:
        // The connect is still in flight: cancelling it completes it with -ECANCELED.
        if (io_uring_sqe* sqe = worker_.next_sqe()) {
            io_uring_prep_cancel_fd(sqe, backend_.get(), IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, make_user_data(nullptr, IoOp::ignore));
        }
        return;
    case State::greeting: return refuse_backend("greeting_timeout");
    case State::relaying: return end_with_line({}, CloseReason::idle_timeout, nullptr);
    case State::flushing: return close(reason_, error_);
    default: return;
    }
}

void Connection::abort(CloseReason reason) { close(reason); }

bool Connection::quiet() const {
    return state_ == State::relaying && !has(client_send_busy) && !has(backend_send_busy) && tls_io_.out_len == 0 &&
           tls_io_.in_len == 0 && backend_in_len_ == 0 && backend_out_len_ == 0;
}

void Connection::say_goodbye_if_at_rest() {
    if (!quiet() || !has(backend_spoke_last) || has(close_notify_queued)) return;
    end_with_line(shutdown_goodbye_line(listener_.config->protocol), CloseReason::drained, nullptr);
}

void Connection::close(CloseReason reason, const char* error) {
    if (state_ >= State::closing) return;
    count_close(reason, error);
    reason_ = reason;
    error_ = error;
    state_ = State::closing;
    DeadlineList::remove(*this);
    for (int fd : {client_.get(), backend_.get()}) {
        if (fd < 0 || pending_ops_ == 0) continue;
        io_uring_sqe* sqe = worker_.next_sqe();
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, make_user_data(nullptr, IoOp::ignore));
    }
    finish();
}

void Connection::count_close(CloseReason reason, const char* error) {
    metrics_.closed[static_cast<size_t>(reason)].add();
    if (has(counted_idle)) metrics_.idle.sub();
    clear(counted_idle);
    // The STARTTLS dialogue's own ends (QUIT, limits) are not handshake failures.
    bool before_tls = state_ == State::proxy_header || state_ == State::handshake;
    if (!before_tls && !(state_ == State::flushing && reason == CloseReason::handshake_failed)) return;
    HandshakeFailure cause = classify_handshake_failure(
        reason == CloseReason::handshake_timeout, reason == CloseReason::client_disconnected,
        reason == CloseReason::proxy_header_invalid || reason == CloseReason::proxy_header_timeout, error);
    metrics_.handshake_failures[static_cast<size_t>(cause)].add();
}

void Connection::update_idle_gauge() {
    bool idle = quiet() && !tls_io_.out && !backend_out_ && client_in_buffer_ == kNoBuffer &&
                backend_in_buffer_ == kNoBuffer && partial_length_ == 0;
    if (idle == has(counted_idle)) return;
    if (idle) {
        metrics_.idle.add();
        set(counted_idle);
    } else {
        metrics_.idle.sub();
        clear(counted_idle);
    }
}

void Connection::finish() {
    log_close();
    state_ = State::closed;
    // The fds stay open until the cancelled requests complete (the destructor closes them):
    // closing earlier could hand their numbers to new connections while requests still refer to them.
}

void Connection::log_close() const {
    char client[INET6_ADDRSTRLEN + 8] = "-";
    char host[INET6_ADDRSTRLEN] = "";
    if (peer_.sa.sa_family == AF_INET && inet_ntop(AF_INET, &peer_.v4.sin_addr, host, sizeof host))
        snprintf(client, sizeof client, "%s:%u", host, ntohs(peer_.v4.sin_port));
    else if (peer_.sa.sa_family == AF_INET6 && inet_ntop(AF_INET6, &peer_.v6.sin6_addr, host, sizeof host))
        snprintf(client, sizeof client, "[%s]:%u", host, ntohs(peer_.v6.sin6_port));
    SessionLogFacts live;
    if (ssl_) live = log_facts(ssl_.get());
    const SessionLogFacts& tls = ssl_ ? live : released_session_;
    LogLine line(LogLevel::info, "close");
    line.hex_field("conn", id_)
        .field("listener", listener_.config->name)
        .field("client", client)
        .field("sni", tls.sni.empty() ? "-" : tls.sni.c_str())
        .field("tls", has(plaintext) ? "none" : tls.version ? tls.version : "-")
        .field("cipher", tls.cipher ? tls.cipher : "-")
        .field("bytes_in", bytes_in_)
        .field("bytes_out", bytes_out_)
        .field("duration_ms", worker_.now_ms() - started_ms_)
        .field("reason", to_string(reason_));
    if (error_) line.field("error", error_);
    if (listener_.config->starttls != StartTlsMode::off)
        line.field("starttls_discarded", static_cast<uint64_t>(starttls_discarded_));
    if (!tls.client_cn.empty()) line.field("client_cn", tls.client_cn);
}

}  // namespace tlsfront
