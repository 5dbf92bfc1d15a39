// ClientHello extension parsing with bounds checks on every length prefix.
#include "tls/client_hello.hpp"

namespace tlsfront {
namespace {

// A cursor over untrusted bytes: every read checks the remaining length.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

    bool empty() const { return bytes_.empty(); }

    bool u8(uint8_t& out) {
        if (bytes_.empty()) return false;
        out = bytes_[0];
        bytes_ = bytes_.subspan(1);
        return true;
    }
    bool u16(uint16_t& out) {
        if (bytes_.size() < 2) return false;
        out = static_cast<uint16_t>(bytes_[0] << 8 | bytes_[1]);
        bytes_ = bytes_.subspan(2);
        return true;
    }
    bool take(size_t n, std::span<const uint8_t>& out) {
        if (bytes_.size() < n) return false;
        out = bytes_.first(n);
        bytes_ = bytes_.subspan(n);
        return true;
    }
    // A TLS vector: a 1- or 2-byte length prefix, then that many bytes.
    bool prefixed(int prefix_bytes, std::span<const uint8_t>& out) {
        uint16_t len16 = 0;
        uint8_t len8 = 0;
        if (prefix_bytes == 2 ? !u16(len16) : !u8(len8)) return false;
        return take(prefix_bytes == 2 ? len16 : len8, out);
    }

private:
    std::span<const uint8_t> bytes_;
};

}  // namespace

std::optional<std::vector<uint16_t>> parse_signature_algorithms(std::span<const uint8_t> body) {
    Reader outer(body);
    std::span<const uint8_t> list;
    if (!outer.prefixed(2, list) || !outer.empty() || list.size() % 2 != 0) return std::nullopt;
    std::vector<uint16_t> out;
    Reader items(list);
    uint16_t scheme = 0;
    while (items.u16(scheme)) out.push_back(scheme);
    return out;
}

bool offers_tls13(std::span<const uint8_t> body) {
    Reader outer(body);
    std::span<const uint8_t> list;
    if (!outer.prefixed(1, list)) return false;
    Reader versions(list);
    uint16_t version = 0;
    while (versions.u16(version))
        if (version == 0x0304) return true;
    return false;
}

bool offers_ecdsa_suite(std::span<const uint8_t> cipher_suites) {
    Reader suites(cipher_suites);
    uint16_t suite = 0;
    while (suites.u16(suite)) {
        switch (suite) {
        case 0xC02B:  // ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        case 0xC02C:  // ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        case 0xCCA9:  // ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        case 0xC009:  // ECDHE_ECDSA_WITH_AES_128_CBC_SHA
        case 0xC00A:  // ECDHE_ECDSA_WITH_AES_256_CBC_SHA
            return true;
        default: break;
        }
    }
    return false;
}

}  // namespace tlsfront
