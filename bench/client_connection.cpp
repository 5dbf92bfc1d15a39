// The client connection's life cycle: connect, handshake, the session's exchange, clean close.
#include "bench/client_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/clock.hpp"
#include "bench/load_thread.hpp"
#include "bench/tls_client.hpp"

namespace tlsfront::bench {
namespace {

// Room a sealed close_notify alert needs in the send buffer (2 bytes of alert plus record overhead).
constexpr uint32_t kAlertRoom = 64;

std::string errno_text(const char* during, int error) {
    const char* name = strerrorname_np(error);  // null for a number glibc does not know
    return std::string(during) + ": " + (name ? name : "errno " + std::to_string(error));
}

}  // namespace

ClientConnection::ClientConnection(LoadThread& thread, std::unique_ptr<Session> session, BufferSizes sizes)
    : thread_(thread), session_(std::move(session)),
      // Not zeroed: pages a connection never touches cost no memory.
      receive_buffer_(std::make_unique_for_overwrite<uint8_t[]>(sizes.receive)),
      send_buffer_(std::make_unique_for_overwrite<uint8_t[]>(sizes.send)), receive_capacity_(sizes.receive) {
    transport_.out = send_buffer_.get();
    transport_.out_cap = sizes.send;
}

// The thread tears its ring down first, so no request can still point into these buffers.
ClientConnection::~ClientConnection() = default;

const char* ClientConnection::to_string(State state) {
    switch (state) {
    case State::idle: return "idle";
    case State::connecting: return "connecting";
    case State::handshaking: return "handshaking";
    case State::established: return "established";
    case State::closing: return "closing";
    case State::releasing: return "releasing";
    }
    return "unknown";
}

ThreadCounters& ClientConnection::counters() const { return thread_.counters(); }
ThreadResults& ClientConnection::results() const { return thread_.results(); }
RunControl& ClientConnection::control() const { return thread_.control(); }

ClientConnection::Outcome ClientConnection::take_outcome() { return std::exchange(outcome_, Outcome::none); }

bool ClientConnection::start(std::optional<uint64_t> scheduled_ns) {
    if (!scheduled_ns && !session_->start_connection(thread_.control())) return false;
    outcome_ = Outcome::none;
    flags_ = 0;
    sent_ = 0;
    transport_.in = nullptr;
    transport_.in_len = 0;
    transport_.out_len = 0;
    last_progress_ns_ = monotonic_ns();
    unit_started_ns_ = scheduled_ns.value_or(last_progress_ns_);
    state_ = State::connecting;
    opening_ = true;
    thread_.note_opening(+1);

    const SocketAddress& proxy = thread_.options().connect;
    int fd = ::socket(proxy.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int socket_errno = errno;
    fd_.reset(fd);
    if (!fd_) {
        fail(ErrorKind::connect, errno_text("socket", socket_errno));
        return true;
    }
    int one = 1;  // requests are small and each waits for its answer: no Nagle delay
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ssl_ = thread_.tls().new_connection(&transport_, &saved_session_);
    if (!ssl_) {
        ERR_clear_error();
        fail(ErrorKind::handshake, "SSL_new failed");
        return true;
    }
    io_uring_sqe* sqe = thread_.ring().next_sqe();
    io_uring_prep_connect(sqe, fd_.get(), proxy.get(), proxy.length);
    io_uring_sqe_set_data64(sqe, make_user_data(this, BenchOp::connect));
    ++pending_ops_;
    return true;
}

void ClientConnection::on_completion(BenchOp op, int result) {
    --pending_ops_;
    if (op == BenchOp::recv) clear(receive_armed);
    if (op == BenchOp::send) clear(send_armed);
    if (state_ == State::releasing) {
        if (pending_ops_ == 0) close_now();
        return;
    }
    if (!open()) return;
    last_progress_ns_ = monotonic_ns();
    const ErrorKind io_kind = state_ <= State::handshaking ? ErrorKind::handshake : ErrorKind::io;
    switch (op) {
    case BenchOp::connect:
        if (result < 0) return fail(ErrorKind::connect, errno_text("connect", -result));
        state_ = State::handshaking;
        break;
    case BenchOp::recv:
        if (result < 0) return fail(io_kind, errno_text("recv", -result));
        if (result == 0) {
            set(socket_eof);
        } else {
            transport_.in = receive_buffer_.get();
            transport_.in_len = static_cast<uint32_t>(result);
        }
        break;
    case BenchOp::send:
        if (result < 0) return fail(io_kind, errno_text("send", -result));
        sent_ += static_cast<uint32_t>(result);
        if (sent_ == transport_.out_len) transport_.out_len = sent_ = 0;
        break;
    default: break;
    }
    drive();
}

// Runs the connection as far as it can go without waiting, then makes sure the next completion
// will come: a send for anything sealed, a receive while the proxy may still say something.
void ClientConnection::drive() {
    if (state_ == State::handshaking) step_handshake();
    if (state_ == State::established) read_plaintext();
    if (state_ == State::established) write_plaintext();
    if (state_ == State::closing) {
        read_plaintext();  // waiting for the proxy's close_notify; anything else is dropped
        if (state_ == State::closing && !has(close_notify_queued)) queue_close_notify();
    }
    if (!open()) return;
    flush();
    if (state_ == State::closing && has(close_notify_queued) && has(peer_closed) && !has(send_armed) &&
        transport_.out_len == 0)
        return release(Outcome::succeeded);
    arm_receive();
}

void ClientConnection::step_handshake() {
    int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) return handshake_done();
    int error = SSL_get_error(ssl_.get(), ret);
    if (error == SSL_ERROR_WANT_READ && has(socket_eof))
        return fail(ErrorKind::handshake, "handshake: the proxy closed the connection");
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
    fail(ErrorKind::handshake, ssl_failure_text(ssl_.get(), ret, "handshake"));
}

void ClientConnection::handshake_done() {
    leave_opening();
    ThreadCounters& c = counters();
    ThreadCounters::add(c.handshakes);
    if (SSL_session_reused(ssl_.get())) ThreadCounters::add(c.resumed);
    ThreadCounters::add(c.open);
    set(counted_open);
    uint64_t now = monotonic_ns();
    results().handshake.record(now - unit_started_ns_);
    control().connection_established(now);
    state_ = State::established;
    session_->on_established(*this);
}

// Decrypts everything received so far and hands it to the session (established) or drops it
// (closing), until BoringSSL wants more bytes or the proxy's close_notify / EOF shows up.
void ClientConnection::read_plaintext() {
    std::span<uint8_t> scratch = thread_.plaintext_scratch();
    while (state_ == State::established || state_ == State::closing) {
        int n = SSL_read(ssl_.get(), scratch.data(), static_cast<int>(scratch.size()));
        if (n > 0) {
            if (state_ == State::established) session_->on_received(*this, scratch.first(static_cast<size_t>(n)));
            continue;
        }
        int error = SSL_get_error(ssl_.get(), n);
        if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_WANT_READ && has(socket_eof))) {
            if (has(peer_closed)) return;
            set(peer_closed);
            if (state_ != State::established) return;
            session_->on_peer_closed(*this);
            if (state_ == State::established)  // a session that neither finished nor failed
                fail(ErrorKind::closed_early, "the proxy closed the connection");
            return;
        }
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
        return fail(ErrorKind::tls, ssl_failure_text(ssl_.get(), n, "read"));
    }
}

// Seals what the session offers while the send buffer has room for a whole record; the rest is
// pulled again after the next send completes.
void ClientConnection::write_plaintext() {
    const size_t overhead = SSL_max_seal_overhead(ssl_.get());
    while (state_ == State::established) {
        std::span<const uint8_t> plaintext = session_->pending_output();
        if (plaintext.empty()) return;
        size_t room = transport_.out_room();
        if (room <= overhead) return;
        size_t chunk = std::min({plaintext.size(), room - overhead, size_t{SSL3_RT_MAX_PLAIN_LENGTH}});
        int n = SSL_write(ssl_.get(), plaintext.data(), static_cast<int>(chunk));
        if (n <= 0) {
            if (SSL_get_error(ssl_.get(), n) == SSL_ERROR_WANT_WRITE) return;
            return fail(ErrorKind::tls, ssl_failure_text(ssl_.get(), n, "write"));
        }
        session_->output_taken(*this, static_cast<size_t>(n));
    }
}

void ClientConnection::queue_close_notify() {
    if (transport_.out_room() < kAlertRoom) return;  // after the pending send drains
    SSL_shutdown(ssl_.get());  // 0 or 1: the alert is in the send buffer either way
    ERR_clear_error();
    set(close_notify_queued);
}

// New sealed bytes may go out while an earlier send is still in flight: they are appended after
// it, and the send completion picks them up.
void ClientConnection::flush() {
    if (has(send_armed) || transport_.out_len <= sent_) return;
    io_uring_sqe* sqe = thread_.ring().next_sqe();
    io_uring_prep_send(sqe, fd_.get(), transport_.out + sent_, transport_.out_len - sent_, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, make_user_data(this, BenchOp::send));
    set(send_armed);
    ++pending_ops_;
}

void ClientConnection::arm_receive() {
    if (state_ == State::connecting || has(receive_armed) || has(socket_eof) || has(peer_closed) ||
        transport_.in_len > 0)
        return;
    io_uring_sqe* sqe = thread_.ring().next_sqe();
    io_uring_prep_recv(sqe, fd_.get(), receive_buffer_.get(), receive_capacity_, 0);
    io_uring_sqe_set_data64(sqe, make_user_data(this, BenchOp::recv));
    set(receive_armed);
    ++pending_ops_;
}

ArrivalOffer ClientConnection::await_arrival() {
    ArrivalOffer offer = thread_.offer_arrival(*this);
    awaiting_arrival_ = offer.kind == ArrivalOffer::Kind::later;
    return offer;
}

void ClientConnection::deliver_arrival(std::optional<uint64_t> scheduled_ns) {
    if (!awaiting_arrival_ || state_ != State::established) return;
    awaiting_arrival_ = false;
    last_progress_ns_ = monotonic_ns();  // the stall clock starts with the request
    session_->on_arrival(*this, scheduled_ns);
    if (open()) drive();
}

void ClientConnection::finish() {
    if (state_ != State::established) return;
    state_ = State::closing;
    last_progress_ns_ = monotonic_ns();  // the stall clock restarts (idle was silent on purpose)
}

void ClientConnection::fail(ErrorKind kind, std::string_view why) {
    if (!open()) return;
    ThreadCounters::add(counters().errors);
    results().errors.add(kind, why);
    release(Outcome::failed);
}

void ClientConnection::abort(std::string_view why) { fail(ErrorKind::unfinished, why); }

void ClientConnection::on_tick(uint64_t now_ns) {
    if (!open()) return;
    if (state_ == State::established) {
        session_->on_tick(*this);
        if (session_->silence_expected() || awaiting_arrival_) last_progress_ns_ = now_ns;
    }
    if (!open()) return;
    // Completions handled after the tick's clock reading may be "newer" than now_ns.
    if (now_ns > last_progress_ns_ && now_ns - last_progress_ns_ > thread_.timeout_ns()) {
        char why[96];
        snprintf(why, sizeof why, "no progress for %.1f s while %s", thread_.options().timeout_s, to_string(state_));
        return fail(ErrorKind::timeout, why);
    }
    // The session may have finished (idle's hold is over) or queued output from its timer.
    if (state_ == State::closing || !session_->pending_output().empty()) drive();
}

// Ends the connection: the socket closes once no request refers to it any more (closing it
// earlier could hand its number to a new socket while a cancelled request still names it).
void ClientConnection::release(Outcome outcome) {
    leave_opening();
    awaiting_arrival_ = false;  // its entry on the thread's waiting list is stale now
    if (has(counted_open)) {
        ThreadCounters::subtract(counters().open);
        clear(counted_open);
    }
    release_outcome_ = outcome;
    state_ = State::releasing;
    if (pending_ops_ > 0) return thread_.ring().cancel_all_on(fd_.get());
    close_now();
}

void ClientConnection::close_now() {
    ssl_.reset();
    fd_.reset();
    transport_.in = nullptr;
    transport_.in_len = 0;
    transport_.out_len = sent_ = 0;
    flags_ = 0;
    state_ = State::idle;
    outcome_ = release_outcome_;
}

void ClientConnection::leave_opening() {
    if (!opening_) return;
    opening_ = false;
    thread_.note_opening(-1);
}

}  // namespace tlsfront::bench
