// Session-ticket keys of tlsfront's own, so that tickets resume across processes sharing a key
// file and across config reloads (which build new SSL_CTXs): the key file parser, the immutable
// key ring, and the BoringSSL ticket callback that encrypts and decrypts with the ring.
//
// Key file format (HAProxy's `tls-ticket-keys` layout):
//   - one key per line, base64 (standard alphabet, '=' padding optional) of 48 or 80 bytes:
//       bytes  0..15  key name (public, sent in every ticket)
//       48 bytes:  16..31 AES-128-CBC key, 32..47 HMAC-SHA256 key
//       80 bytes:  16..47 AES-256-CBC key, 48..79 HMAC-SHA256 key
//     e.g. a line made by `openssl rand -base64 80`;
//   - whitespace around a key is ignored; blank lines and lines whose first non-blank character
//     is '#' are comments;
//   - 1 to 64 keys, each with its own name;
//   - the FIRST key encrypts new tickets, every key decrypts. To rotate, prepend a new key, reload
//     every process, and drop the last key once tickets made with it may have expired. A ticket
//     decrypted with a key other than the first is replaced by a new one made with the first.
#pragma once

#include <openssl/base.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsfront {

inline constexpr size_t ticket_key_name_length = 16;
inline constexpr size_t max_ticket_keys = 64;

// aes_key: 16 bytes (AES-128-CBC) or 32 (AES-256-CBC). hmac_key: 16 or 32 bytes, for HMAC-SHA256.
struct TicketKey {
    std::array<uint8_t, ticket_key_name_length> name{};
    std::vector<uint8_t> aes_key;
    std::vector<uint8_t> hmac_key;
};

// On success `keys` holds the file's keys in file order and `error` is empty; on failure `error`
// is "line N: cause" (or "no key in the file") and `keys` is empty.
struct TicketKeyFileResult {
    std::vector<TicketKey> keys;
    std::string error;
};
TicketKeyFileResult parse_ticket_key_file(std::string_view text);

// The keys one or more SSL_CTXs encrypt and decrypt tickets with. Immutable once built: share it
// between threads as std::shared_ptr<const TicketKeyRing>.
class TicketKeyRing {
    struct Token {};  // keeps the constructor for the factories below

public:
    // Unix time in seconds. Only the in-memory ring looks at the clock.
    using Clock = int64_t (*)();
    static constexpr int64_t rotation_seconds = 12 * 3600;

    // The file case. Null when `keys` is empty, holds more than max_ticket_keys keys, a key of a
    // wrong size, or a name twice (parse_ticket_key_file never returns such keys).
    static std::shared_ptr<const TicketKeyRing> from_keys(std::vector<TicketKey> keys);

    // The no-file case: keys derived with HKDF-SHA256 from one random secret made once per process,
    // for the period N = floor(unix_time / 12 h). Period N's key encrypts; N's and N-1's decrypt,
    // so a ticket resumes for 12 to 24 hours. All in-memory rings of a process use the same keys,
    // so tickets survive a reload. `clock` is for tests; null means the system clock.
    static std::shared_ptr<const TicketKeyRing> in_memory(Clock clock = nullptr);

    // A key found by name, and whether it is the one that encrypts (else the ticket is renewed).
    struct Match {
        const TicketKey* key = nullptr;
        bool encrypts = false;
    };

    // `now` in unix seconds (see clock_now()). An in-memory ring returns references into a
    // per-thread cache: use them before this thread asks an in-memory ring about another period.
    const TicketKey& encrypting_key(int64_t now) const;
    Match find(std::span<const uint8_t, ticket_key_name_length> name, int64_t now) const;
    int64_t clock_now() const;

    // File: the number of keys; in memory: 2 (the current and the previous period's).
    size_t key_count() const;
    bool is_in_memory() const { return in_memory_; }
    // "file, 3 keys" or "in memory, rotated every 12h".
    std::string describe() const;

    TicketKeyRing(Token, std::vector<TicketKey> keys, bool in_memory, Clock clock);

private:
    std::vector<TicketKey> keys_;  // the file case only
    bool in_memory_;
    Clock clock_;
};

// Makes `ctx` encrypt and decrypt its session tickets with `ring` (SSL_CTX_set_tlsext_ticket_key_cb)
// and keeps `ring` alive until `ctx` is freed. Calling it again replaces the ring. False (and
// nothing changed) when `ring` is null or BoringSSL refuses. Tickets must still be enabled on
// `ctx` (no SSL_OP_NO_TICKET). The callback finds the ring through SSL_get_SSL_CTX(ssl): a
// server that switches SSL_CTX with SSL_set_SSL_CTX must install the ring on both contexts.
bool install_ticket_keys(SSL_CTX* ctx, std::shared_ptr<const TicketKeyRing> ring);

}  // namespace tlsfront
