// Tls13Records: TLS 1.3 record protection for the relay, taken over from BoringSSL once the
// handshake is done. BoringSSL's SSL_read copies each record into a buffer of its own and the
// plaintext out of it again, and SSL_write seals into its own buffer and copies that into ours
// (plus a malloc/free per record); with the traffic secrets exported (as kTLS would take them),
// records are opened straight from the receive buffer into the backend's send block and sealed
// straight from the backend's bytes into the client's send block: no copy besides the cipher's.
// Covers what a TLS 1.3 server sees after its handshake: application data, close_notify and
// other alerts, and KeyUpdate (answered when the client asks). Anything else is refused with the
// alert BoringSSL would send. Keys only: the AEAD contexts live on the caller's stack for one
// burst of records (RecordCipher), so an idle connection holds ~200 bytes here.
#pragma once

#include <openssl/aead.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace tlsfront {

class Tls13Records {
public:
    static constexpr size_t kHeaderSize = 5;
    static constexpr size_t kTagSize = 16;
    static constexpr size_t kSealOverhead = kHeaderSize + 1 + kTagSize;  // header, inner type, tag
    static constexpr size_t kMaxPlaintext = 16384;
    // The largest record a peer may send: 2^14 + 256 bytes of ciphertext after the header.
    static constexpr size_t kMaxRecord = kHeaderSize + kMaxPlaintext + 256;

    // After SSL_do_handshake returned 1 on a TLS 1.3 server with nothing buffered inside BoringSSL
    // either way (SSL_has_pending false, no unsent flight). nullptr: keep BoringSSL's record layer
    // (TLS 1.2, an unknown cipher, a failure to export the secrets).
    static std::unique_ptr<Tls13Records> take_over(SSL* ssl);

    enum class Direction : uint8_t { read, write };

    // The expanded AEAD key of one direction, for one burst of records on the caller's stack.
    class Cipher {
    public:
        Cipher(Tls13Records& records, Direction direction);
        ~Cipher();
        Cipher(const Cipher&) = delete;
        Cipher& operator=(const Cipher&) = delete;
        bool ok() const { return ok_; }

    private:
        friend class Tls13Records;
        EVP_AEAD_CTX ctx_;
        bool ok_ = false;
    };

    // Seals `plain` (at most kMaxPlaintext bytes) as one record of `content_type` into `out`, which
    // has room for plain.size() + kSealOverhead. Returns the record's length, 0 on failure.
    size_t seal(Cipher& cipher, uint8_t content_type, std::span<const uint8_t> plain, uint8_t* out);
    // A close_notify (warning) or fatal alert record into `out` (room for 2 + kSealOverhead).
    size_t seal_alert(uint8_t description, uint8_t* out);
    // The KeyUpdate the client asked for (update_not_requested), then the new write key. Call
    // when key_update_owed(); room for 5 + kSealOverhead. Returns the record's length, 0 on failure.
    size_t seal_key_update(uint8_t* out);
    bool key_update_owed() const { return key_update_owed_; }
    // AES-GCM may seal at most 2^24.5 records under one key (RFC 8446, section 5.5): past 2^24
    // the write side rotates its key, announcing it with a KeyUpdate of its own.
    bool write_key_worn() const { return write_.sequence >= kRecordsPerKey; }

    enum class Opened : uint8_t {
        data,          // `length` bytes of application data at `out`
        nothing,       // a record with nothing to pass on (KeyUpdate, zero-length data, user_canceled)
        incomplete,    // `in` does not hold a whole record yet (`length`: the record's size, 0 if unknown)
        no_room,       // the record would not fit in `room` (`length`: the room it needs)
        close_notify,  // the client's close_notify: nothing more will come
        failed,        // `alert` to send (0: none), `error` says why
    };
    struct OpenResult {
        Opened what;
        size_t consumed = 0;  // ciphertext bytes of `in` used up
        size_t length = 0;
        uint8_t alert = 0;
        const char* error = nullptr;
    };
    // Opens the first record of `in` into `out` (which must not overlap `in`).
    OpenResult open(Cipher& cipher, std::span<const uint8_t> in, uint8_t* out, size_t room);

    // The length of the record that starts `in` (header included), or 0 while the header is short.
    static size_t record_length(std::span<const uint8_t> in);

    uint64_t records_sealed() const { return write_.sequence; }
    uint64_t records_opened() const { return read_.sequence; }

private:
    static constexpr uint64_t kRecordsPerKey = uint64_t{1} << 24;

    struct Keys {
        uint8_t secret[48];  // SHA-384 at most
        uint8_t key[32];
        uint8_t iv[12];
        uint64_t sequence;
    };
    Tls13Records(const EVP_AEAD* aead, const EVP_MD* hash, size_t key_size);
    bool set_secret(Keys& keys, std::span<const uint8_t> secret);
    bool next_secret(Keys& keys);
    void nonce(const Keys& keys, uint8_t out[12]) const;
    OpenResult read_handshake(std::span<const uint8_t> body);

    const EVP_AEAD* aead_;
    const EVP_MD* hash_;
    uint8_t key_size_;
    uint8_t secret_size_;
    bool key_update_owed_ = false;
    Keys read_{};
    Keys write_{};
};

}  // namespace tlsfront
