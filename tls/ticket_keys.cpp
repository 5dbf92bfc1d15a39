// Ticket key file parsing, the file and in-memory key rings, and the SSL_CTX ticket callback.
// Error messages never quote a key line: the file is a secret.
#include "tls/ticket_keys.hpp"

#include <openssl/base64.h>
#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>

namespace tlsfront {
namespace {

constexpr std::string_view blanks = " \t\r\f\v";

std::string_view trim(std::string_view text) {
    size_t first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

// Standard base64, '=' padding optional. Nullopt when `text` is not base64.
std::optional<std::vector<uint8_t>> decode_base64(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string padded(text);
    padded.append((4 - padded.size() % 4) % 4, '=');
    size_t max_length = 0;
    if (!EVP_DecodedLength(&max_length, padded.size())) return std::nullopt;
    std::vector<uint8_t> out(max_length);
    size_t length = 0;
    if (!EVP_DecodeBase64(out.data(), &length, out.size(), reinterpret_cast<const uint8_t*>(padded.data()),
                          padded.size()))
        return std::nullopt;
    out.resize(length);
    return out;
}

bool valid_key_size(size_t size) { return size == 16 || size == 32; }

// 48 bytes: name, AES-128 key, HMAC key (16 each); 80 bytes: name, AES-256 key, HMAC key (32).
TicketKey split_key(const std::vector<uint8_t>& bytes) {
    size_t secret_length = (bytes.size() - ticket_key_name_length) / 2;
    auto name_end = bytes.begin() + ticket_key_name_length;
    TicketKey key;
    std::copy(bytes.begin(), name_end, key.name.begin());
    key.aes_key.assign(name_end, name_end + static_cast<ptrdiff_t>(secret_length));
    key.hmac_key.assign(name_end + static_cast<ptrdiff_t>(secret_length), bytes.end());
    return key;
}

bool same_name(const TicketKey& key, std::span<const uint8_t, ticket_key_name_length> name) {
    return CRYPTO_memcmp(key.name.data(), name.data(), ticket_key_name_length) == 0;
}

// ---- The in-memory ring: keys derived from a per-process secret, one per 12-hour period ----

const std::array<uint8_t, 32>& process_secret() {
    // Made on first use; a function-local static is initialised once even with racing threads.
    static const std::array<uint8_t, 32> secret = [] {
        std::array<uint8_t, 32> bytes{};
        RAND_bytes(bytes.data(), bytes.size());  // aborts rather than fail in BoringSSL
        return bytes;
    }();
    return secret;
}

int64_t period_of(int64_t unix_time) {
    return std::max<int64_t>(unix_time, 0) / TicketKeyRing::rotation_seconds;
}

// HKDF-SHA256(secret, info = period as 8 big-endian bytes) -> name, AES-256 key, HMAC key.
void derive_period_key(int64_t period, TicketKey& key) {
    static constexpr std::string_view salt = "tlsfront session ticket key v1";
    uint8_t info[8];
    for (int i = 0; i < 8; ++i) info[i] = static_cast<uint8_t>(static_cast<uint64_t>(period) >> (56 - 8 * i));
    uint8_t out[ticket_key_name_length + 64];
    const auto& secret = process_secret();
    HKDF(out, sizeof(out), EVP_sha256(), secret.data(), secret.size(), reinterpret_cast<const uint8_t*>(salt.data()),
         salt.size(), info, sizeof(info));
    std::copy(out, out + ticket_key_name_length, key.name.begin());
    key.aes_key.assign(out + ticket_key_name_length, out + ticket_key_name_length + 32);
    key.hmac_key.assign(out + ticket_key_name_length + 32, out + sizeof(out));
    OPENSSL_cleanse(out, sizeof(out));
}

// One slot per period parity, so a decryption can hold the keys of N and N-1 at once. Per
// thread, so the handshake path takes no lock; each thread runs HKDF twice per 12 hours.
const TicketKey& period_key(int64_t period) {
    struct Slot {
        bool valid = false;
        int64_t period = 0;
        TicketKey key;
    };
    thread_local std::array<Slot, 2> cache;
    Slot& slot = cache[static_cast<size_t>(period & 1)];
    if (!slot.valid || slot.period != period) {
        derive_period_key(period, slot.key);
        slot.period = period;
        slot.valid = true;
    }
    return slot.key;
}

int64_t system_clock_now() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

TicketKeyFileResult parse_ticket_key_file(std::string_view text) {
    TicketKeyFileResult result;
    std::vector<size_t> key_lines;
    size_t line_number = 0;
    auto fail = [&](const std::string& cause) {
        result.keys.clear();
        result.error = "line " + std::to_string(line_number) + ": " + cause;
        return result;
    };
    while (!text.empty()) {
        ++line_number;
        size_t end = text.find('\n');
        std::string_view line = trim(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        if (line.empty() || line.front() == '#') continue;

        auto bytes = decode_base64(line);
        if (!bytes) return fail("not valid base64");
        if (bytes->size() != 48 && bytes->size() != 80)
            return fail("key decodes to " + std::to_string(bytes->size()) + " bytes, want 48 or 80");
        if (result.keys.size() == max_ticket_keys)
            return fail("more than " + std::to_string(max_ticket_keys) + " keys");
        TicketKey key = split_key(*bytes);
        OPENSSL_cleanse(bytes->data(), bytes->size());
        for (size_t i = 0; i < result.keys.size(); ++i)
            if (result.keys[i].name == key.name)
                return fail("key name already used by the key on line " + std::to_string(key_lines[i]));
        result.keys.push_back(std::move(key));
        key_lines.push_back(line_number);
    }
    if (result.keys.empty()) result.error = "no key in the file";
    return result;
}

TicketKeyRing::TicketKeyRing(Token, std::vector<TicketKey> keys, bool in_memory, Clock clock)
    : keys_(std::move(keys)), in_memory_(in_memory), clock_(clock ? clock : system_clock_now) {}

std::shared_ptr<const TicketKeyRing> TicketKeyRing::from_keys(std::vector<TicketKey> keys) {
    if (keys.empty() || keys.size() > max_ticket_keys) return nullptr;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!valid_key_size(keys[i].aes_key.size()) || !valid_key_size(keys[i].hmac_key.size())) return nullptr;
        for (size_t j = 0; j < i; ++j)
            if (keys[j].name == keys[i].name) return nullptr;
    }
    return std::make_shared<const TicketKeyRing>(Token{}, std::move(keys), false, nullptr);
}

std::shared_ptr<const TicketKeyRing> TicketKeyRing::in_memory(Clock clock) {
    process_secret();  // made now, not in the first handshake
    return std::make_shared<const TicketKeyRing>(Token{}, std::vector<TicketKey>{}, true, clock);
}

const TicketKey& TicketKeyRing::encrypting_key(int64_t now) const {
    return in_memory_ ? period_key(period_of(now)) : keys_.front();
}

TicketKeyRing::Match TicketKeyRing::find(std::span<const uint8_t, ticket_key_name_length> name,
                                         int64_t now) const {
    if (in_memory_) {
        int64_t period = period_of(now);
        const TicketKey& current = period_key(period);
        if (same_name(current, name)) return {&current, true};
        const TicketKey& previous = period_key(period - 1);
        if (same_name(previous, name)) return {&previous, false};
        return {};
    }
    for (size_t i = 0; i < keys_.size(); ++i)
        if (same_name(keys_[i], name)) return {&keys_[i], i == 0};
    return {};
}

int64_t TicketKeyRing::clock_now() const { return clock_(); }

size_t TicketKeyRing::key_count() const { return in_memory_ ? 2 : keys_.size(); }

std::string TicketKeyRing::describe() const {
    if (in_memory_) return "in memory, rotated every 12h";
    return "file, " + std::to_string(keys_.size()) + (keys_.size() == 1 ? " key" : " keys");
}

// ---- The SSL_CTX side ----

namespace {

using SharedRing = std::shared_ptr<const TicketKeyRing>;

// The SSL_CTX owns a heap copy of the shared_ptr; BoringSSL frees it with the SSL_CTX.
void free_ring(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*index*/, long /*argl*/, void* /*argp*/) {
    std::unique_ptr<SharedRing> owned(static_cast<SharedRing*>(ptr));
}

int ring_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_ring);
    return index;
}

const TicketKeyRing* ring_of(const SSL* ssl) {
    auto* ring = static_cast<const SharedRing*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ring_index()));
    return ring ? ring->get() : nullptr;
}

const EVP_CIPHER* cipher_of(const TicketKey& key) {
    return key.aes_key.size() == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
}

bool init_hmac(HMAC_CTX* hmac, const TicketKey& key) {
    return HMAC_Init_ex(hmac, key.hmac_key.data(), key.hmac_key.size(), EVP_sha256(), nullptr) == 1;
}

// The contract of SSL_CTX_set_tlsext_ticket_key_cb: encrypting, 1 or -1 (error); decrypting,
// 0 for an unknown name (full handshake), 1 for the encrypting key, 2 to have the ticket renewed.
int ticket_key_callback(SSL* ssl, uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher_ctx, HMAC_CTX* hmac_ctx,
                        int encrypt) {
    const TicketKeyRing* ring = ring_of(ssl);
    if (!ring) return -1;
    int64_t now = ring->clock_now();
    if (encrypt) {
        const TicketKey& key = ring->encrypting_key(now);
        const EVP_CIPHER* cipher = cipher_of(key);
        if (!RAND_bytes(iv, EVP_CIPHER_iv_length(cipher))) return -1;
        std::memcpy(key_name, key.name.data(), ticket_key_name_length);
        if (!EVP_EncryptInit_ex(cipher_ctx, cipher, nullptr, key.aes_key.data(), iv) || !init_hmac(hmac_ctx, key))
            return -1;
        return 1;
    }
    TicketKeyRing::Match match = ring->find(std::span<const uint8_t, ticket_key_name_length>(key_name,
                                                                                             ticket_key_name_length),
                                            now);
    if (!match.key) return 0;
    if (!EVP_DecryptInit_ex(cipher_ctx, cipher_of(*match.key), nullptr, match.key->aes_key.data(), iv) ||
        !init_hmac(hmac_ctx, *match.key))
        return -1;
    return match.encrypts ? 1 : 2;
}

}  // namespace

bool install_ticket_keys(SSL_CTX* ctx, std::shared_ptr<const TicketKeyRing> ring) {
    if (!ctx || !ring || ring_index() < 0) return false;
    auto owned = std::make_unique<SharedRing>(std::move(ring));
    // The previous ring (a second call) is freed only once the new one is in place.
    std::unique_ptr<SharedRing> previous(static_cast<SharedRing*>(SSL_CTX_get_ex_data(ctx, ring_index())));
    if (!SSL_CTX_set_ex_data(ctx, ring_index(), owned.get())) {
        (void)previous.release();  // still installed
        return false;
    }
    (void)owned.release();  // now owned by ctx, freed by free_ring
    SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_key_callback);
    return true;
}

}  // namespace tlsfront
