// TLS 1.3 record protection after the handshake (RFC 8446, sections 5 and 7): keys from the
// exported traffic secrets, the per-record nonce, sealing, opening, alerts and KeyUpdate.
#include "tls/tls13_records.hpp"

#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/hkdf.h>

#include <cstring>
#include <string_view>

namespace tlsfront {
namespace {

constexpr uint8_t kApplicationData = 23;
constexpr uint8_t kAlert = 21;
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kKeyUpdate = 24;
constexpr uint8_t kAlertWarning = 1;
constexpr uint8_t kAlertFatal = 2;
constexpr uint8_t kCloseNotify = 0;
constexpr uint8_t kUserCanceled = 90;

// HKDF-Expand-Label(secret, label, "", out.size()) of RFC 8446, section 7.1.
bool expand_label(const EVP_MD* hash, std::span<const uint8_t> secret, std::string_view label, std::span<uint8_t> out) {
    uint8_t info[2 + 1 + 6 + 16 + 1];
    size_t n = 0;
    info[n++] = static_cast<uint8_t>(out.size() >> 8);
    info[n++] = static_cast<uint8_t>(out.size());
    info[n++] = static_cast<uint8_t>(6 + label.size());
    std::memcpy(info + n, "tls13 ", 6);
    n += 6;
    std::memcpy(info + n, label.data(), label.size());
    n += label.size();
    info[n++] = 0;  // empty context
    return HKDF_expand(out.data(), out.size(), hash, secret.data(), secret.size(), info, n) == 1;
}

void write_header(uint8_t* out, size_t body_length) {
    out[0] = kApplicationData;
    out[1] = 0x03;
    out[2] = 0x03;
    out[3] = static_cast<uint8_t>(body_length >> 8);
    out[4] = static_cast<uint8_t>(body_length);
}

// BoringSSL's own name for a received alert (SSLV3_ALERT_..., TLSV1_ALERT_...), as its log lines have.
const char* alert_reason(uint8_t description) {
    const char* name = ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, SSL_AD_REASON_OFFSET + description));
    return name ? name : "UNKNOWN_ALERT";
}

Tls13Records::OpenResult failure(uint8_t alert, const char* error) {
    return {Tls13Records::Opened::failed, 0, 0, alert, error};
}

}  // namespace

std::unique_ptr<Tls13Records> Tls13Records::take_over(SSL* ssl) {
    if (SSL_version(ssl) != TLS1_3_VERSION || !SSL_is_init_finished(ssl) || SSL_has_pending(ssl)) return nullptr;
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    if (!cipher) return nullptr;
    std::unique_ptr<Tls13Records> records;
    switch (SSL_CIPHER_get_protocol_id(cipher)) {
    case 0x1301: records.reset(new Tls13Records(EVP_aead_aes_128_gcm(), EVP_sha256(), 16)); break;
    case 0x1302: records.reset(new Tls13Records(EVP_aead_aes_256_gcm(), EVP_sha384(), 32)); break;
    case 0x1303: records.reset(new Tls13Records(EVP_aead_chacha20_poly1305(), EVP_sha256(), 32)); break;
    default: return nullptr;
    }
    bssl::Span<const uint8_t> read_secret, write_secret;
    if (!bssl::SSL_get_traffic_secrets(ssl, &read_secret, &write_secret)) return nullptr;
    if (read_secret.size() != records->secret_size_ || write_secret.size() != records->secret_size_) return nullptr;
    if (!records->set_secret(records->read_, {read_secret.data(), read_secret.size()}) ||
        !records->set_secret(records->write_, {write_secret.data(), write_secret.size()}))
        return nullptr;
    records->read_.sequence = SSL_get_read_sequence(ssl);
    records->write_.sequence = SSL_get_write_sequence(ssl);
    return records;
}

Tls13Records::Tls13Records(const EVP_AEAD* aead, const EVP_MD* hash, size_t key_size)
    : aead_(aead), hash_(hash), key_size_(static_cast<uint8_t>(key_size)),
      secret_size_(static_cast<uint8_t>(EVP_MD_size(hash))) {}

bool Tls13Records::set_secret(Keys& keys, std::span<const uint8_t> secret) {
    std::memcpy(keys.secret, secret.data(), secret.size());
    return expand_label(hash_, secret, "key", {keys.key, key_size_}) && expand_label(hash_, secret, "iv", keys.iv);
}

// application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length)
bool Tls13Records::next_secret(Keys& keys) {
    uint8_t next[48];
    if (!expand_label(hash_, {keys.secret, secret_size_}, "traffic upd", {next, secret_size_})) return false;
    bool ok = set_secret(keys, {next, secret_size_});
    keys.sequence = 0;
    return ok;
}

void Tls13Records::nonce(const Keys& keys, uint8_t out[12]) const {
    std::memcpy(out, keys.iv, 12);
    for (int i = 0; i < 8; ++i) out[11 - i] ^= static_cast<uint8_t>(keys.sequence >> (8 * i));
}

Tls13Records::Cipher::Cipher(Tls13Records& records, Direction direction) {
    const Keys& keys = direction == Direction::read ? records.read_ : records.write_;
    ok_ = EVP_AEAD_CTX_init(&ctx_, records.aead_, keys.key, records.key_size_, kTagSize, nullptr) == 1;
}

Tls13Records::Cipher::~Cipher() {
    if (ok_) EVP_AEAD_CTX_cleanup(&ctx_);
}

size_t Tls13Records::seal(Cipher& cipher, uint8_t content_type, std::span<const uint8_t> plain, uint8_t* out) {
    if (!cipher.ok_ || plain.size() > kMaxPlaintext) return 0;
    size_t body = plain.size() + 1 + kTagSize;
    write_header(out, body);
    uint8_t iv[12];
    nonce(write_, iv);
    size_t tag_length = 0;
    if (!EVP_AEAD_CTX_seal_scatter(&cipher.ctx_, out + kHeaderSize, out + kHeaderSize + plain.size(), &tag_length,
                                   1 + kTagSize, iv, sizeof iv, plain.data(), plain.size(), &content_type, 1, out,
                                   kHeaderSize))
        return 0;
    ++write_.sequence;
    return kHeaderSize + plain.size() + tag_length;
}

size_t Tls13Records::seal_alert(uint8_t description, uint8_t* out) {
    Cipher cipher(*this, Direction::write);
    const uint8_t alert[2] = {description == kCloseNotify ? kAlertWarning : kAlertFatal, description};
    return seal(cipher, kAlert, alert, out);
}

size_t Tls13Records::seal_key_update(uint8_t* out) {
    size_t length;
    {
        Cipher cipher(*this, Direction::write);
        const uint8_t message[5] = {kKeyUpdate, 0, 0, 1, 0};  // update_not_requested
        length = seal(cipher, kHandshake, message, out);
    }
    if (length == 0 || !next_secret(write_)) return 0;
    key_update_owed_ = false;
    return length;
}

size_t Tls13Records::record_length(std::span<const uint8_t> in) {
    if (in.size() < kHeaderSize) return 0;
    return kHeaderSize + (size_t{in[3]} << 8 | in[4]);
}

Tls13Records::OpenResult Tls13Records::open(Cipher& cipher, std::span<const uint8_t> in, uint8_t* out, size_t room) {
    if (in.size() < kHeaderSize) return {Opened::incomplete};
    if (in[0] != kApplicationData) return failure(SSL_AD_UNEXPECTED_MESSAGE, "UNEXPECTED_RECORD");
    if (in[1] != 0x03 || in[2] != 0x03) return failure(SSL_AD_PROTOCOL_VERSION, "WRONG_VERSION_NUMBER");
    size_t length = record_length(in);
    if (length > kMaxRecord) return failure(SSL_AD_RECORD_OVERFLOW, "ENCRYPTED_LENGTH_TOO_LONG");
    if (length < kHeaderSize + 1 + kTagSize) return failure(SSL_AD_BAD_RECORD_MAC, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
    if (in.size() < length) return {Opened::incomplete, 0, length};
    if (room < length - kHeaderSize - kTagSize) return {Opened::no_room, 0, length - kHeaderSize - kTagSize};
    if (!cipher.ok_) return failure(SSL_AD_INTERNAL_ERROR, "INTERNAL_ERROR");
    uint8_t iv[12];
    nonce(read_, iv);
    size_t plain_length = 0;
    if (!EVP_AEAD_CTX_open(&cipher.ctx_, out, &plain_length, room, iv, sizeof iv, in.data() + kHeaderSize,
                           length - kHeaderSize, in.data(), kHeaderSize))
        return failure(SSL_AD_BAD_RECORD_MAC, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
    ++read_.sequence;
    while (plain_length > 0 && out[plain_length - 1] == 0) --plain_length;  // the padding
    if (plain_length == 0) return failure(SSL_AD_DECODE_ERROR, "DECODE_ERROR");
    uint8_t type = out[--plain_length];
    if (plain_length > kMaxPlaintext) return failure(SSL_AD_RECORD_OVERFLOW, "DATA_LENGTH_TOO_LONG");
    std::span<const uint8_t> body{out, plain_length};
    OpenResult result;
    switch (type) {
    case kApplicationData: result = {plain_length ? Opened::data : Opened::nothing, 0, plain_length}; break;
    case kAlert:
        if (body.size() != 2) return failure(SSL_AD_DECODE_ERROR, "BAD_ALERT");
        if (body[1] == kCloseNotify) result = {Opened::close_notify};
        else if (body[1] == kUserCanceled) result = {Opened::nothing};
        else return failure(0, alert_reason(body[1]));
        break;
    case kHandshake:
        result = read_handshake(body);
        if (result.what == Opened::failed) return result;
        // The read key changed under the caller's cipher: re-key it for the records that follow.
        EVP_AEAD_CTX_cleanup(&cipher.ctx_);
        cipher.ok_ = EVP_AEAD_CTX_init(&cipher.ctx_, aead_, read_.key, key_size_, kTagSize, nullptr) == 1;
        break;
    default: return failure(SSL_AD_UNEXPECTED_MESSAGE, "UNEXPECTED_RECORD");
    }
    result.consumed = length;
    return result;
}

// After the handshake a client may send KeyUpdate only (no post-handshake authentication is
// asked for), and as the last message under its key: alone in its record.
Tls13Records::OpenResult Tls13Records::read_handshake(std::span<const uint8_t> body) {
    if (body.size() < 4 || body[0] != kKeyUpdate) return failure(SSL_AD_UNEXPECTED_MESSAGE, "UNEXPECTED_MESSAGE");
    size_t length = size_t{body[1]} << 16 | size_t{body[2]} << 8 | body[3];
    if (length != 1 || body.size() != 5 || body[4] > 1) return failure(SSL_AD_DECODE_ERROR, "DECODE_ERROR");
    if (!next_secret(read_)) return failure(SSL_AD_INTERNAL_ERROR, "INTERNAL_ERROR");
    if (body[4] == 1) key_update_owed_ = true;  // update_requested
    return {Opened::nothing};
}

}  // namespace tlsfront
