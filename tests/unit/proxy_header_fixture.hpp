// Helpers for the PROXY header tests: hex bytes, the writers and the parser in one call each, TLV
// walking, and haproxy 2.6's captured send-proxy-v2-ssl header.
#pragma once
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <random>
#include <string>
#include <vector>

#include "proxy/protocol/proxy_header.hpp"

using namespace tlsfront;

namespace {

using Bytes = std::vector<uint8_t>;

inline SocketAddress address(std::string_view text) {
    auto result = parse_socket_address(text, true, true);
    INFO("address: ", text, " error: ", result.error);
    REQUIRE(result.address.has_value());
    return *result.address;
}

inline Bytes from_hex(std::string_view hex) {
    Bytes bytes;
    std::string digits;
    for (char c : hex)
        if (c != ' ') digits += c;
    REQUIRE(digits.size() % 2 == 0);
    for (size_t i = 0; i < digits.size(); i += 2) bytes.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    return bytes;
}

inline Bytes to_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

inline Bytes concat(Bytes head, const Bytes& tail) {
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
}

inline std::string write_v1(const SocketAddress& source, const SocketAddress& destination) {
    Bytes out(kProxyV1MaxSize);
    size_t size = write_proxy_v1(out, source, destination);
    REQUIRE(size > 0);
    return std::string(out.begin(), out.begin() + static_cast<ptrdiff_t>(size));
}

inline Bytes write_v2(const SocketAddress& source, const SocketAddress& destination, const TlsFacts& facts, uint16_t tlvs) {
    Bytes out(4096);
    size_t size = write_proxy_v2(out, source, destination, facts, tlvs);
    REQUIRE(size > 0);
    out.resize(size);
    return out;
}

// The exact-size copy makes ASan catch any read past the input.
inline ProxyParseResult parse(const Bytes& bytes) {
    Bytes exact(bytes);
    return parse_proxy_header(exact);
}
inline ProxyParseResult parse(std::string_view text) { return parse(to_bytes(text)); }

uint16_t be16(const Bytes& bytes, size_t at) { return static_cast<uint16_t>((bytes[at] << 8) | bytes[at + 1]); }

struct Tlv {
    uint8_t type;
    std::string value;
};

// Splits a TLV sequence (top level or SSL sub-TLVs); fails the test on broken framing.
inline std::vector<Tlv> tlvs_of(const Bytes& bytes, size_t begin, size_t end) {
    std::vector<Tlv> tlvs;
    while (begin < end) {
        REQUIRE(end - begin >= 3);
        size_t length = be16(bytes, begin + 1);
        REQUIRE(begin + 3 + length <= end);
        tlvs.push_back({bytes[begin], std::string(bytes.begin() + static_cast<ptrdiff_t>(begin + 3),
                                                  bytes.begin() + static_cast<ptrdiff_t>(begin + 3 + length))});
        begin += 3 + length;
    }
    return tlvs;
}

// The TLVs after a v2 header's address block.
inline std::vector<Tlv> header_tlvs(const Bytes& header, size_t address_block) {
    REQUIRE(header.size() == 16u + be16(header, 14));
    return tlvs_of(header, 16 + address_block, header.size());
}

inline Bytes as_bytes(const std::string& text) { return to_bytes(text); }

inline std::vector<Tlv> ssl_sub_tlvs(const Tlv& ssl) {
    REQUIRE(ssl.type == 0x20);
    REQUIRE(ssl.value.size() >= 5);
    Bytes value = as_bytes(ssl.value);
    return tlvs_of(value, 5, value.size());
}

inline TlsFacts every_fact() {
    TlsFacts facts;
    facts.alpn = "imap";
    facts.sni = "mail.example.org";
    facts.unique_id = "c0ffee-42";
    facts.version = "TLSv1.3";
    facts.cipher = "TLS_AES_128_GCM_SHA256";
    facts.sig_alg = "RSA-SHA256";
    facts.key_alg = "RSA2048";
    facts.client_cn = "alice";
    return facts;
}

constexpr uint16_t kEveryTlv = tlv_alpn | tlv_authority | tlv_unique_id | tlv_ssl | tlv_ssl_version | tlv_ssl_cn |
                               tlv_ssl_cipher | tlv_ssl_sig_alg | tlv_ssl_key_alg;

// haproxy 2.6 send-proxy-v2-ssl, no ALPN: v2 PROXY TCP4 127.0.0.1:57448 -> 127.0.0.1:21982,
// TLV 0x20 {client 0x01, verify 0, sub-TLV 0x21 "TLSv1.3"}. (A function, not a global: from_hex
// uses doctest assertions, which need a running test.)
inline Bytes haproxy_capture() {
    return from_hex(
        "0d0a0d0a000d0a515549540a 21 11 001e 7f000001 7f000001 e068 55de 20 000f 01 00000000 21 0007 544c5376312e33");
}

inline void check_invalid(const Bytes& bytes, std::string_view expected_error = {}) {
    auto result = parse(bytes);
    CHECK(result.status == ProxyParseStatus::invalid);
    CHECK(result.consumed == 0);
    REQUIRE(result.error != nullptr);
    if (!expected_error.empty()) CHECK(std::string_view(result.error) == expected_error);
}
inline void check_invalid(std::string_view text, std::string_view expected_error = {}) {
    INFO("input: ", text);
    check_invalid(to_bytes(text), expected_error);
}

// A v2 PROXY TCP4 header from 10.0.0.1:1000 to 10.0.0.2:993 followed by `tlvs` (raw bytes).
// Complete headers of every kind the parser accepts: v1 TCP4, TCP6 and UNKNOWN, v2 PROXY with and
// without TLVs, v2 LOCAL.
inline std::vector<Bytes> valid_headers() {
    return {
        to_bytes("PROXY TCP4 192.0.2.7 192.0.2.1 40000 993\r\n"),
        to_bytes("PROXY TCP6 2001:db8::1 ::1 40000 993\r\n"),
        to_bytes("PROXY UNKNOWN\r\n"),
        haproxy_capture(),
        write_v2(address("[2001:db8::1]:40000"), address("[::1]:993"), every_fact(), kEveryTlv),
        from_hex("0d0a0d0a000d0a515549540a 20 00 0000"),
    };
}

inline Bytes v2_tcp4_with(const Bytes& tlvs) {
    Bytes header = from_hex("0d0a0d0a000d0a515549540a 21 11 0000 0a000001 0a000002 03e8 03e1");
    header.insert(header.end(), tlvs.begin(), tlvs.end());
    header[14] = static_cast<uint8_t>((header.size() - 16) >> 8);
    header[15] = static_cast<uint8_t>(header.size() - 16);
    return header;
}

}  // namespace
