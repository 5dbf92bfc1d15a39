// The relay. Each direction has at most one operation in flight: while a send to one side is
// pending, nothing more is read from the other (backpressure), so memory per connection is bounded
// by one receive buffer and one send block per direction, and by nothing at all when idle.
//   client -> backend: ciphertext lands in a ring buffer and is opened into a send block.
//   backend -> client: plaintext lands in a ring buffer and is sealed into a send block.
// Opening and sealing is tlsfront's own for TLS 1.3 (connection_records.cpp), BoringSSL's
// SSL_read/SSL_write for TLS 1.2.
// Half-close: client EOF (close_notify or FIN) -> shutdown(SHUT_WR) toward the backend; backend
// EOF -> close_notify and FIN toward the client; each direction ends on its own.
// An SMTP session that never started TLS (flag plaintext) is relayed the same way, copying instead
// of sealing and opening.
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "proxy/session/connection.hpp"
#include "proxy/session/listener_metrics.hpp"
#include "proxy/session/worker.hpp"
#include "tls/session_facts.hpp"

namespace tlsfront {

void Connection::ensure_client_output() {
    if (!tls_io_.out) {
        tls_io_.out = worker_.send_buffers().acquire();
        tls_io_.out_cap = worker_.send_buffers().block_size();
        tls_io_.out_len = held_tickets_length_;
        if (held_tickets_) std::memcpy(tls_io_.out, held_tickets_.get(), held_tickets_length_);
        held_tickets_.reset();
        held_tickets_length_ = 0;
    }
}

// Gives back send blocks that hold nothing: an idle connection keeps no I/O memory. A ticket that
// waits for the backend's first bytes (a silent backend can take until idle_timeout) waits in a
// buffer of its own size, not in a send block.
void Connection::release_idle_output() {
    if (has(tickets_held) && tls_io_.out && tls_io_.out_len > 0 && client_sent_ == 0 && !has(client_send_busy)) {
        held_tickets_ = std::make_unique_for_overwrite<uint8_t[]>(tls_io_.out_len);
        std::memcpy(held_tickets_.get(), tls_io_.out, tls_io_.out_len);
        held_tickets_length_ = tls_io_.out_len;
        tls_io_.out_len = 0;
    }
    if (tls_io_.out && tls_io_.out_len == 0 && !has(client_send_busy)) {
        worker_.send_buffers().release(tls_io_.out);
        tls_io_.out = nullptr;
        tls_io_.out_cap = 0;
    }
    if (backend_out_ && backend_out_len_ == 0 && !has(backend_send_busy)) {
        worker_.send_buffers().release(backend_out_);
        backend_out_ = nullptr;
    }
}

void Connection::release_client_input() {
    if (client_in_buffer_ == kNoBuffer) return;
    worker_.recycle_receive_buffer(client_in_buffer_);
    client_in_buffer_ = kNoBuffer;
    tls_io_.in = nullptr;
    tls_io_.in_len = 0;
}

void Connection::release_backend_input() {
    if (backend_in_buffer_ == kNoBuffer) return;
    worker_.recycle_receive_buffer(backend_in_buffer_);
    backend_in_buffer_ = kNoBuffer;
    backend_in_offset_ = backend_in_len_ = 0;
}

void Connection::flush_to_client() {
    if (!has(client_send_busy) && !has(tickets_held) && tls_io_.out_len > client_sent_) submit(IoOp::client_send);
}

void Connection::flush_to_backend() {
    if (!has(backend_send_busy) && backend_out_len_ > backend_sent_) submit(IoOp::backend_send);
}

// Returns true when the SSL call may be retried later (it wants I/O); otherwise the connection
// is on its way out, with BoringSSL's alert (if it queued one) sent first.
bool Connection::handle_ssl_error(int ret, const char* during) {
    switch (SSL_get_error(ssl_.get(), ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: ERR_clear_error(); return true;
    default: break;
    }
    uint32_t code = ERR_peek_error();
    const char* reason = code ? ERR_reason_error_string(code) : nullptr;
    ERR_clear_error();
    bool handshake = state_ == State::handshake;
    if (!reason) reason = last_sent_alert(ssl_.get());
    if (!reason) reason = during;
    close_after_flush(handshake ? CloseReason::handshake_failed : CloseReason::tls_error, reason);
    return false;
}

void Connection::pump_client_to_backend() {
    if (state_ != State::relaying || has(backend_send_busy) || has(backend_write_shut)) return;
    bool client_done = false;
    std::optional<Tls13Records::Cipher> cipher;  // keyed once for this burst of records
    if (records_ && (tls_io_.in_len > 0 || partial_length_ > 0)) cipher.emplace(*records_, Tls13Records::Direction::read);
    while (true) {
        if (!backend_out_) {
            backend_out_ = worker_.send_buffers().acquire();
            backend_out_len_ = backend_sent_ = 0;
        }
        uint32_t room = worker_.send_buffers().block_size() - backend_out_len_;
        if (room == 0) break;
        ensure_client_output();  // SSL_read may have to answer (a KeyUpdate, say)
        uint8_t* to = backend_out_ + backend_out_len_;
        int error = SSL_ERROR_WANT_READ;
        int n = has(plaintext) ? take_plaintext(to, room)
                : records_     ? (cipher ? read_client_records(*cipher, to, room, error) : -1)
                               : SSL_read(ssl_.get(), to, static_cast<int>(room));
        if (n > 0) {
            backend_out_len_ += static_cast<uint32_t>(n);
            bytes_in_ += static_cast<uint64_t>(n);
            metrics_.bytes_from_client.add(static_cast<uint64_t>(n));
            clear(backend_spoke_last);
            continue;
        }
        if (!has(plaintext) && !records_) error = SSL_get_error(ssl_.get(), n);
        if (error == SSL_ERROR_ZERO_RETURN) {
            client_done = true;  // close_notify
        } else if (error == SSL_ERROR_WANT_READ) {
            client_done = has(client_eof) && partial_length_ == 0;  // a bare TCP FIN ends the stream too
        } else if (records_ ? error != SSL_ERROR_WANT_WRITE : !handle_ssl_error(n, "read")) {
            return;  // records_: WANT_WRITE is a record too big for the room left; anything else ended it
        }
        break;
    }
    flush_to_client();
    if (backend_out_len_ > 0) return flush_to_backend();
    if (client_done) {
        set(client_eof);
        ::shutdown(backend_.get(), SHUT_WR);
        set(backend_write_shut);
        release_client_input();
        release_idle_output();
        return maybe_done();
    }
    if (tls_io_.in_len == 0) {
        release_client_input();
        arm_client_receive();
    }
    release_idle_output();
}

void Connection::on_backend_sent(int result) {
    clear(backend_send_busy);
    if (state_ >= State::flushing) return;
    if (result < 0) return end_with_line({}, CloseReason::backend_error, strerrorname_np(-result));
    backend_sent_ += static_cast<uint32_t>(result);
    if (backend_sent_ < backend_out_len_) return submit(IoOp::backend_send);
    backend_out_len_ = backend_sent_ = 0;
    use_.idle_deadlines.arm(*this, worker_.now_ms());
    pump_client_to_backend();
}

void Connection::on_backend_received(int result, uint32_t cqe_flags) {
    clear(backend_recv_armed);
    if (cqe_flags & IORING_CQE_F_BUFFER) {
        worker_.receive_buffers().taken();
        backend_in_buffer_ = static_cast<uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    }
    if (state_ >= State::flushing) return release_backend_input();
    if (result == -ENOBUFS) return worker_.wait_for_receive_buffer(*this, IoOp::backend_recv);
    if (state_ == State::greeting) {
        if (result > 0)
            return read_backend_greeting(worker_.receive_buffers().data(backend_in_buffer_),
                                         static_cast<uint32_t>(result));
        release_backend_input();
        return refuse_backend(result == 0 ? "closed before its greeting" : strerrorname_np(-result));
    }
    if (result < 0) {  // e.g. a reset: what the backend sent before it has been relayed
        release_backend_input();
        return end_with_line({}, CloseReason::backend_error, strerrorname_np(-result));
    }
    if (result == 0) {
        release_backend_input();
        set(backend_eof);
    } else {
        backend_in_offset_ = 0;
        backend_in_len_ = static_cast<uint32_t>(result);
        use_.idle_deadlines.arm(*this, worker_.now_ms());
    }
    pump_backend_to_client();
}

void Connection::pump_backend_to_client() {
    if (state_ != State::relaying || has(client_send_busy) || has(close_notify_queued)) return;
    if (backend_in_len_ > 0 || has(backend_eof)) clear(tickets_held);
    ensure_client_output();
    if (records_ && !seal_key_update_if_owed()) {  // no room for it yet: what is queued goes first
        if (state_ == State::relaying) flush_to_client();
        return;
    }
    const size_t overhead = has(plaintext) ? 0
                            : records_     ? Tls13Records::kSealOverhead
                                           : SSL_max_seal_overhead(ssl_.get());
    const uint8_t* plain = backend_in_len_ ? worker_.receive_buffers().data(backend_in_buffer_) : nullptr;
    std::optional<Tls13Records::Cipher> cipher;
    if (records_ && backend_in_len_ > 0) cipher.emplace(*records_, Tls13Records::Direction::write);
    while (backend_in_len_ > 0 && tls_io_.out_room() > overhead) {
        uint32_t chunk = std::min<uint32_t>(backend_in_len_, static_cast<uint32_t>(tls_io_.out_room() - overhead));
        chunk = std::min<uint32_t>(chunk, SSL3_RT_MAX_PLAIN_LENGTH);
        const uint8_t* from = plain + backend_in_offset_;
        int n = has(plaintext) ? put_plaintext(from, chunk)
                : records_     ? seal_client_record(*cipher, from, chunk)
                               : SSL_write(ssl_.get(), from, static_cast<int>(chunk));
        if (n <= 0) {
            if (records_ || !handle_ssl_error(n, "write")) return;
            break;
        }
        backend_in_offset_ += static_cast<uint32_t>(n);
        backend_in_len_ -= static_cast<uint32_t>(n);
        bytes_out_ += static_cast<uint64_t>(n);
        metrics_.bytes_to_client.add(static_cast<uint64_t>(n));
        if (plain[backend_in_offset_ - 1] == '\n') set(backend_spoke_last);
        else clear(backend_spoke_last);
    }
    if (backend_in_len_ == 0) release_backend_input();
    if (backend_in_len_ == 0 && has(backend_eof) && tls_io_.out_room() >= overhead + 2) {
        queue_close_notify();  // FIN follows once it is sent
        if (tls_io_.out_len == 0) {  // plaintext with nothing left to send: the FIN goes now
            ::shutdown(client_.get(), SHUT_WR);
            set(client_write_shut);
        }
    }
    if (tls_io_.out_len > 0) return flush_to_client();
    if (backend_in_len_ == 0) arm_backend_receive();
    release_idle_output();
    maybe_done();
}

int Connection::take_plaintext(uint8_t* to, uint32_t room) {
    uint32_t n = std::min(room, tls_io_.in_len);
    if (n == 0) return -1;
    std::memcpy(to, tls_io_.in, n);
    tls_io_.in += n;
    tls_io_.in_len -= n;
    return static_cast<int>(n);
}

int Connection::put_plaintext(const uint8_t* from, uint32_t size) {
    std::memcpy(tls_io_.out + tls_io_.out_len, from, size);  // size fits: the caller checked out_room
    tls_io_.out_len += size;
    return static_cast<int>(size);
}

// Both directions have ended: the client's EOF reached the backend, and the backend's EOF
// reached the client as close_notify + FIN.
void Connection::maybe_done() {
    if (has(backend_write_shut) && has(client_write_shut)) close(CloseReason::done);
}

}  // namespace tlsfront
