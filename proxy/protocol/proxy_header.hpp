// HAProxy PROXY protocol (haproxy's doc/proxy-protocol.txt), both ways:
//   - ProxyHeaderV1/V2 writers: the header tlsfront sends to the backend, telling it the real
//     client address and the TLS facts (TLVs);
//   - parse_proxy_header: the header a trusted load balancer in front sends to tlsfront.
// Pure byte work, no I/O, so it is tested byte for byte against the spec.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/proxy_tlv.hpp"
#include "config/socket_address.hpp"

namespace tlsfront {

// ---- Writing (tlsfront -> backend) ------------------------------------------------------

// Which v2 TLVs to send: a bit set of ProxyTlv (config/proxy_tlv.hpp).

// Upper bounds of the variable fields, used both to truncate at run time and to compute the
// worst-case header size at config load (so a backend's size limit is checked once, up front).
constexpr size_t kMaxAlpn = 32;
constexpr size_t kMaxAuthority = 255;  // a DNS name
constexpr size_t kMaxUniqueId = 32;
constexpr size_t kMaxSslString = 64;  // version, CN (X.509 ub-common-name), cipher, sig/key alg names

// The TLS facts of one connection, as the TLVs carry them. Empty strings are omitted.
struct TlsFacts {
    std::string_view alpn;
    std::string_view sni;
    std::string_view unique_id;
    std::string_view version;  // "TLSv1.3"
    std::string_view cipher;   // "TLS_AES_128_GCM_SHA256"
    std::string_view sig_alg;  // signature algorithm of the client certificate, e.g. "RSA-SHA256"
    std::string_view key_alg;  // key algorithm of the client certificate, e.g. "RSA2048"
    std::string_view client_cn;
    bool client_cert_conn = false;  // PP2_CLIENT_CERT_CONN: a certificate on this connection
    bool client_cert_sess = false;  // PP2_CLIENT_CERT_SESS: a certificate on the (resumed) session
    uint32_t verify_result = 0;     // 0 = verified (or no certificate asked for)
};

// The largest header write_proxy_v2 can produce for `tlvs` with either address family.
size_t proxy_v2_worst_case_size(uint16_t tlvs);
constexpr size_t kProxyV1MaxSize = 107;  // spec: "PROXY TCP6 " + 2 addresses + ports + CRLF

// Both write into `out` and return the header length, or 0 when `out` is too small. `source` is
// the client, `destination` the address the client connected to. When the families differ, or
// either is not AF_INET/AF_INET6 (a unix-socket client), v1 writes "PROXY UNKNOWN\r\n" and v2
// writes the PROXY command with family AF_UNSPEC and no addresses (TLVs still follow).
size_t write_proxy_v1(std::span<uint8_t> out, const SocketAddress& source, const SocketAddress& destination);
size_t write_proxy_v2(std::span<uint8_t> out, const SocketAddress& source, const SocketAddress& destination,
                      const TlsFacts& facts, uint16_t tlvs);

// ---- Parsing (load balancer -> tlsfront) -----------------------------------------------

enum class ProxyParseStatus {
    complete,    // `consumed` bytes are the header; the TLS ClientHello follows
    incomplete,  // a valid prefix: read more (the caller bounds the wait and the size)
    invalid,     // not a PROXY header, or a malformed one: `error` says why
};

struct ProxyParseResult {
    ProxyParseStatus status = ProxyParseStatus::incomplete;
    size_t consumed = 0;
    // For the PROXY command with TCP over IPv4/IPv6: the original client and destination.
    // Empty for the LOCAL command (v2) and for "PROXY UNKNOWN" (v1): keep the socket's addresses.
    std::optional<SocketAddress> source;
    std::optional<SocketAddress> destination;
    const char* error = nullptr;  // static text, e.g. "bad v2 signature"
};

// Largest header accepted: v1 lines are at most 107 bytes; v2 headers at most this (16 + 65535
// would be the protocol's own limit, far more than any balancer sends).
constexpr size_t kMaxInboundProxyHeader = 1536;

// Parses the bytes received so far (a v1 or v2 header at the start of `bytes`). Never reads past
// the span and never allocates from a length field. Acceptance rules where the spec leaves a choice:
//   - v2 LOCAL: complete with no addresses; the family byte and the whole block are ignored (the
//     spec says to discard them), only the length must stay within kMaxInboundProxyHeader.
//   - v2 PROXY with UNSPEC (0x00), UDP (0x12/0x22) or UNIX (0x31/0x32): accepted without addresses
//     (the spec's "fall back to UNSPEC"), but the length must hold that family's address block.
//     Any other family/transport byte is invalid.
//   - v2 TLVs are not interpreted (no CRC32C check) but must tile the rest of the header exactly.
//   - v1: "PROXY UNKNOWN" ends at the CRLF or continues with a space and anything; TCP4/TCP6 need
//     exactly four single-space-separated fields, numeric addresses of that family, ports 0..65535
//     without sign or leading zero (the spec forbids leading zeros, as inet_pton does for IPv4).
//     A lone CR or LF is invalid at once; no CRLF within kProxyV1MaxSize bytes is invalid.
ProxyParseResult parse_proxy_header(std::span<const uint8_t> bytes);

}  // namespace tlsfront
