// The relay's TLS records: once a TLS 1.3 session starts relaying, tlsfront seals and opens its
// records itself (Tls13Records), straight between the receive buffers and the send blocks, and
// BoringSSL's SSL_read/SSL_write are no longer called. TLS 1.2 sessions, and every session when
// TLSFRONT_RECORD_LAYER=boringssl is in the environment (for comparison), keep BoringSSL's.
// A record split across two receives is completed in a buffer of its own, so the receive buffer
// goes back to the ring at once.
#include <openssl/err.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "proxy/session/connection.hpp"
#include "proxy/session/worker.hpp"

namespace tlsfront {
namespace {

bool own_record_layer() {
    static const bool enabled = [] {
        const char* choice = std::getenv("TLSFRONT_RECORD_LAYER");
        return !choice || std::string_view(choice) != "boringssl";
    }();
    return enabled;
}

}  // namespace

void Connection::take_over_records() {
    if (!ssl_ || has(plaintext) || !own_record_layer() || SSL_version(ssl_.get()) != TLS1_3_VERSION) return;
    ensure_client_output();
    // What BoringSSL still holds for the client (its session tickets) goes out first: the write
    // sequence number taken over must follow the last record it sealed.
    if (SSL_write(ssl_.get(), "", 0) < 0) {
        ERR_clear_error();
        return;
    }
    records_ = Tls13Records::take_over(ssl_.get());
    if (records_) {  // the SSL object (~2.5 KiB per idle connection) has nothing left to do
        released_session_ = log_facts(ssl_.get());
        ssl_.reset();
    }
    flush_to_client();
}

int Connection::read_client_records(Tls13Records::Cipher& cipher, uint8_t* to, uint32_t room, int& error) {
    error = SSL_ERROR_WANT_READ;
    while (true) {
        const bool staged = partial_length_ > 0;
        std::span<const uint8_t> input{tls_io_.in, tls_io_.in_len};
        if (staged) {  // complete the record begun in an earlier receive: its header, then its body
            size_t need = Tls13Records::record_length({partial_record_.get(), partial_length_});
            if (need == 0) need = Tls13Records::kHeaderSize;
            need = std::min(need, Tls13Records::kMaxRecord);  // longer ones: open() refuses the header
            uint32_t take = static_cast<uint32_t>(std::min<size_t>(need - partial_length_, tls_io_.in_len));
            if (take > 0) {  // (none to take: a pump with no new bytes, tls_io_.in may be null)
                std::memcpy(partial_record_.get() + partial_length_, tls_io_.in, take);
                partial_length_ += take;
                tls_io_.in += take;
                tls_io_.in_len -= take;
            }
            if (partial_length_ < need) return -1;
            if (partial_length_ == Tls13Records::kHeaderSize &&
                Tls13Records::record_length({partial_record_.get(), partial_length_}) > need)
                continue;  // the header is whole: now the body
            input = {partial_record_.get(), partial_length_};
        }
        if (input.empty()) return -1;
        Tls13Records::OpenResult result = records_->open(cipher, input, to, room);
        switch (result.what) {
        case Tls13Records::Opened::incomplete:
            if (!partial_record_) partial_record_ = std::make_unique_for_overwrite<uint8_t[]>(Tls13Records::kMaxRecord);
            std::memcpy(partial_record_.get(), tls_io_.in, tls_io_.in_len);
            partial_length_ = tls_io_.in_len;
            tls_io_.in += tls_io_.in_len;
            tls_io_.in_len = 0;
            return -1;
        case Tls13Records::Opened::no_room: error = SSL_ERROR_WANT_WRITE; return -1;
        case Tls13Records::Opened::failed: fail_records(result); error = SSL_ERROR_SSL; return -1;
        default: break;
        }
        if (staged) {
            partial_length_ = 0;
            partial_record_.reset();
        } else {
            tls_io_.in += result.consumed;
            tls_io_.in_len -= static_cast<uint32_t>(result.consumed);
        }
        switch (result.what) {
        case Tls13Records::Opened::data: return static_cast<int>(result.length);
        case Tls13Records::Opened::close_notify:  // remembered: the relay may ask again after a send
            set(client_eof);
            error = SSL_ERROR_ZERO_RETURN;
            return 0;
        default:  // nothing to pass on; a KeyUpdate may want ours in return
            seal_key_update_if_owed();
            if (state_ != State::relaying) {
                error = SSL_ERROR_SSL;
                return -1;
            }
            continue;
        }
    }
}

int Connection::seal_client_record(Tls13Records::Cipher& cipher, const uint8_t* from, uint32_t size) {
    size_t sealed = records_->seal(cipher, SSL3_RT_APPLICATION_DATA, {from, size}, tls_io_.out + tls_io_.out_len);
    if (sealed == 0) {
        close(CloseReason::tls_error, "INTERNAL_ERROR");
        return -1;
    }
    tls_io_.out_len += static_cast<uint32_t>(sealed);
    return static_cast<int>(size);
}

bool Connection::seal_key_update_if_owed() {
    if ((!records_->key_update_owed() && !records_->write_key_worn()) || has(close_notify_queued)) return true;
    ensure_client_output();
    if (tls_io_.out_room() < 5 + Tls13Records::kSealOverhead) return false;
    size_t sealed = records_->seal_key_update(tls_io_.out + tls_io_.out_len);
    if (sealed == 0) {
        close(CloseReason::tls_error, "INTERNAL_ERROR");
        return false;
    }
    tls_io_.out_len += static_cast<uint32_t>(sealed);
    return true;
}

void Connection::queue_close_notify() {
    if (records_) {
        ensure_client_output();
        if (tls_io_.out_room() >= 2 + Tls13Records::kSealOverhead)
            tls_io_.out_len += static_cast<uint32_t>(records_->seal_alert(SSL_AD_CLOSE_NOTIFY, tls_io_.out + tls_io_.out_len));
    } else if (ssl_ && !has(plaintext)) {
        SSL_shutdown(ssl_.get());
    }
    set(close_notify_queued);
}

// As BoringSSL does: the alert (none in answer to the client's own), then the close.
void Connection::fail_records(const Tls13Records::OpenResult& result) {
    if (result.alert != 0 && !has(close_notify_queued)) {
        ensure_client_output();
        if (tls_io_.out_room() >= 2 + Tls13Records::kSealOverhead)
            tls_io_.out_len += static_cast<uint32_t>(records_->seal_alert(result.alert, tls_io_.out + tls_io_.out_len));
        set(close_notify_queued);  // nothing may follow a fatal alert
    }
    close_after_flush(CloseReason::tls_error, result.error);
}

}  // namespace tlsfront
