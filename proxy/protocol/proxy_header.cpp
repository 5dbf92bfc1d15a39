// The PROXY protocol codec (haproxy's doc/proxy-protocol.txt): the v1 and v2 header writers
// (tlsfront -> backend) and the parser of the header a trusted balancer sends (balancer ->
// tlsfront). Multi-byte integers on the wire are big-endian ("network order") throughout.
#include "proxy/protocol/proxy_header.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace tlsfront {

namespace {

// ---- Wire constants -------------------------------------------------------------------

constexpr std::array<uint8_t, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr size_t kV2FixedSize = 16;        // signature, version|command, family|transport, length
constexpr size_t kV2VersionCommandAt = 12;
constexpr size_t kV2FamilyAt = 13;
constexpr size_t kV2LengthAt = 14;
constexpr uint8_t kV2Version = 0x20;       // high nibble
constexpr uint8_t kCommandLocal = 0x0;
constexpr uint8_t kCommandProxy = 0x1;

// Byte 14: address family (high nibble) | transport (low nibble).
constexpr uint8_t kFamilyUnspec = 0x00;
constexpr uint8_t kFamilyTcp4 = 0x11;
constexpr uint8_t kFamilyUdp4 = 0x12;
constexpr uint8_t kFamilyTcp6 = 0x21;
constexpr uint8_t kFamilyUdp6 = 0x22;
constexpr uint8_t kFamilyUnixStream = 0x31;
constexpr uint8_t kFamilyUnixDgram = 0x32;

constexpr size_t kIpv4Size = 4;
constexpr size_t kIpv6Size = 16;
constexpr size_t kPortSize = 2;
constexpr size_t kUnixPathSize = 108;
constexpr size_t kIpv6AddressBlock = 2 * kIpv6Size + 2 * kPortSize;  // the larger one we write

constexpr size_t kTlvFraming = 3;  // type(1) + length(2), for TLVs and SSL sub-TLVs alike
constexpr uint8_t kTypeAlpn = 0x01;
constexpr uint8_t kTypeAuthority = 0x02;
constexpr uint8_t kTypeUniqueId = 0x05;
constexpr uint8_t kTypeSsl = 0x20;
constexpr uint8_t kSubtypeSslVersion = 0x21;
constexpr uint8_t kSubtypeSslCn = 0x22;
constexpr uint8_t kSubtypeSslCipher = 0x23;
constexpr uint8_t kSubtypeSslSigAlg = 0x24;
constexpr uint8_t kSubtypeSslKeyAlg = 0x25;

constexpr size_t kSslFixedSize = 1 + 4;  // client flags(1) + verify result(4)
constexpr uint8_t kClientSsl = 0x01;
constexpr uint8_t kClientCertConn = 0x02;
constexpr uint8_t kClientCertSess = 0x04;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV1Unknown = "UNKNOWN";

// The string TLVs, in the order they are written. One table drives both the writer and the
// worst-case size, so the two cannot disagree.
struct StringTlv {
    uint16_t selector;  // ProxyTlv bit
    uint8_t type;
    std::string_view TlsFacts::*field;
    size_t max_size;
};
constexpr std::array<StringTlv, 3> kTopLevelTlvs = {{
    {tlv_alpn, kTypeAlpn, &TlsFacts::alpn, kMaxAlpn},
    {tlv_authority, kTypeAuthority, &TlsFacts::sni, kMaxAuthority},
    {tlv_unique_id, kTypeUniqueId, &TlsFacts::unique_id, kMaxUniqueId},
}};
constexpr std::array<StringTlv, 5> kSslSubTlvs = {{
    {tlv_ssl_version, kSubtypeSslVersion, &TlsFacts::version, kMaxSslString},
    {tlv_ssl_cn, kSubtypeSslCn, &TlsFacts::client_cn, kMaxSslString},
    {tlv_ssl_cipher, kSubtypeSslCipher, &TlsFacts::cipher, kMaxSslString},
    {tlv_ssl_sig_alg, kSubtypeSslSigAlg, &TlsFacts::sig_alg, kMaxSslString},
    {tlv_ssl_key_alg, kSubtypeSslKeyAlg, &TlsFacts::key_alg, kMaxSslString},
}};

constexpr uint16_t kAnySslSubTlv = tlv_ssl_version | tlv_ssl_cn | tlv_ssl_cipher | tlv_ssl_sig_alg | tlv_ssl_key_alg;

// A selected sub-TLV implies the SSL TLV that carries it.
constexpr bool writes_ssl_tlv(uint16_t tlvs) { return (tlvs & (tlv_ssl | kAnySslSubTlv)) != 0; }

template <size_t N>
constexpr size_t worst_case_strings_size(const std::array<StringTlv, N>& table, uint16_t tlvs) {
    size_t size = 0;
    for (const StringTlv& tlv : table)
        if (tlvs & tlv.selector) size += kTlvFraming + tlv.max_size;
    return size;
}

constexpr size_t worst_case_v2_size(uint16_t tlvs) {
    size_t size = kV2FixedSize + kIpv6AddressBlock + worst_case_strings_size(kTopLevelTlvs, tlvs);
    if (writes_ssl_tlv(tlvs)) size += kTlvFraming + kSslFixedSize + worst_case_strings_size(kSslSubTlvs, tlvs);
    return size;
}

constexpr uint16_t kEveryTlv = tlv_alpn | tlv_authority | tlv_unique_id | tlv_ssl | kAnySslSubTlv;
// The v2 length field is 16 bits; and our own headers must pass our own parser (tests round-trip).
static_assert(worst_case_v2_size(kEveryTlv) - kV2FixedSize <= 0xFFFF);
static_assert(worst_case_v2_size(kEveryTlv) <= kMaxInboundProxyHeader);

// ---- Writing ---------------------------------------------------------------------------

// Appends to a fixed output span. Once something does not fit, later appends are dropped and
// finish() reports 0, so the writers check one flag instead of every step.
class ByteWriter {
public:
    explicit ByteWriter(std::span<uint8_t> out) : out_(out) {}

    void bytes(const void* data, size_t size) {
        if (overflow_ || size > out_.size() - position_) {
            overflow_ = true;
            return;
        }
        if (size > 0) std::memcpy(out_.data() + position_, data, size);
        position_ += size;
    }
    void text(std::string_view value) { bytes(value.data(), value.size()); }
    void u8(uint8_t value) { bytes(&value, 1); }
    void u16(uint16_t value) {
        const uint8_t big_endian[2] = {static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
        bytes(big_endian, sizeof big_endian);
    }
    void u32(uint32_t value) {
        u16(static_cast<uint16_t>(value >> 16));
        u16(static_cast<uint16_t>(value));
    }
    // Fills in a length written as a placeholder at `at`: a length is known only after its content.
    void patch_u16(size_t at, uint16_t value) {
        if (overflow_) return;
        out_[at] = static_cast<uint8_t>(value >> 8);
        out_[at + 1] = static_cast<uint8_t>(value);
    }
    size_t position() const { return position_; }
    size_t finish() const { return overflow_ ? 0 : position_; }

private:
    std::span<uint8_t> out_;
    size_t position_ = 0;
    bool overflow_ = false;
};

// One side of the connection as the header carries it: IPv4-mapped IPv6 is unmapped to IPv4,
// because a v4 client of a dual-stack listener is an IPv4 client for the backend.
struct IpEndpoint {
    int family = AF_UNSPEC;              // AF_INET or AF_INET6; AF_UNSPEC when not an IP socket
    std::array<uint8_t, 16> address{};   // network order; IPv4 in the first 4 bytes
    uint16_t port = 0;

    size_t address_size() const { return family == AF_INET ? kIpv4Size : kIpv6Size; }
};

IpEndpoint endpoint_of(const SocketAddress& socket_address) {
    IpEndpoint endpoint;
    endpoint.port = socket_address.port();
    if (socket_address.family() == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(socket_address.storage);
        endpoint.family = AF_INET;
        std::memcpy(endpoint.address.data(), &v4.sin_addr, kIpv4Size);
    } else if (socket_address.family() == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(socket_address.storage);
        if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
            endpoint.family = AF_INET;
            std::memcpy(endpoint.address.data(), v6.sin6_addr.s6_addr + kIpv6Size - kIpv4Size, kIpv4Size);
        } else {
            endpoint.family = AF_INET6;
            std::memcpy(endpoint.address.data(), &v6.sin6_addr, kIpv6Size);
        }
    }
    return endpoint;
}

struct EndpointPair {
    IpEndpoint source;
    IpEndpoint destination;
};

// Both sides, or nothing when the header cannot carry them: not IP, or the families differ.
std::optional<EndpointPair> carried_endpoints(const SocketAddress& source, const SocketAddress& destination) {
    EndpointPair pair{endpoint_of(source), endpoint_of(destination)};
    if (pair.source.family == AF_UNSPEC || pair.source.family != pair.destination.family) return std::nullopt;
    return pair;
}

void append_v1_address(ByteWriter& writer, const IpEndpoint& endpoint) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(endpoint.family, endpoint.address.data(), text, sizeof text);
    writer.text(text);
}

void append_v1_port(ByteWriter& writer, uint16_t port) {
    char text[5];
    auto end = std::to_chars(text, text + sizeof text, port).ptr;
    writer.bytes(text, static_cast<size_t>(end - text));
}

void append_v2_addresses(ByteWriter& writer, const EndpointPair& endpoints) {
    writer.bytes(endpoints.source.address.data(), endpoints.source.address_size());
    writer.bytes(endpoints.destination.address.data(), endpoints.destination.address_size());
    writer.u16(endpoints.source.port);
    writer.u16(endpoints.destination.port);
}

// TLVs and SSL sub-TLVs share one framing: type, length (patched by end_tlv), value. The SSL TLV
// nests sub-TLVs between its begin_tlv and end_tlv.
size_t begin_tlv(ByteWriter& writer, uint8_t type) {
    writer.u8(type);
    size_t length_at = writer.position();
    writer.u16(0);
    return length_at;
}

void end_tlv(ByteWriter& writer, size_t length_at) {
    writer.patch_u16(length_at, static_cast<uint16_t>(writer.position() - length_at - sizeof(uint16_t)));
}

// Each selected, non-empty string of `table` as a TLV (or sub-TLV), truncated to its bound.
template <size_t N>
void append_string_tlvs(ByteWriter& writer, const std::array<StringTlv, N>& table, const TlsFacts& facts,
                        uint16_t tlvs) {
    for (const StringTlv& tlv : table) {
        std::string_view value = facts.*tlv.field;
        if (!(tlvs & tlv.selector) || value.empty()) continue;
        size_t length_at = begin_tlv(writer, tlv.type);
        writer.text(value.substr(0, tlv.max_size));
        end_tlv(writer, length_at);
    }
}

uint8_t ssl_client_flags(const TlsFacts& facts) {
    // PP2_CLIENT_SSL always: tlsfront only forwards connections it terminated TLS for.
    uint8_t flags = kClientSsl;
    if (facts.client_cert_conn) flags |= kClientCertConn;
    if (facts.client_cert_sess) flags |= kClientCertSess;
    return flags;
}

void append_ssl_tlv(ByteWriter& writer, const TlsFacts& facts, uint16_t tlvs) {
    size_t length_at = begin_tlv(writer, kTypeSsl);
    writer.u8(ssl_client_flags(facts));
    writer.u32(facts.verify_result);
    append_string_tlvs(writer, kSslSubTlvs, facts, tlvs);
    end_tlv(writer, length_at);
}

// ---- Parsing: common -------------------------------------------------------------------

ProxyParseResult incomplete() { return {}; }

ProxyParseResult invalid(const char* why) {
    ProxyParseResult result;
    result.status = ProxyParseStatus::invalid;
    result.error = why;
    return result;
}

ProxyParseResult complete(size_t consumed) {
    ProxyParseResult result;
    result.status = ProxyParseStatus::complete;
    result.consumed = consumed;
    return result;
}

// Whether `bytes` and `pattern` agree on their common length (bytes may be a prefix of pattern).
bool agrees_with(std::span<const uint8_t> bytes, std::span<const uint8_t> pattern) {
    size_t common = std::min(bytes.size(), pattern.size());
    return std::equal(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(common), pattern.begin());
}

uint16_t read_u16(std::span<const uint8_t> bytes, size_t at) {
    return static_cast<uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

SocketAddress ip_address(int family, std::span<const uint8_t> address, uint16_t port) {
    if (family == AF_INET) {
        sockaddr_in v4{};
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        std::memcpy(&v4.sin_addr, address.data(), kIpv4Size);
        return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
    }
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    std::memcpy(&v6.sin6_addr, address.data(), kIpv6Size);
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
}

// ---- Parsing: v2 ----------------------------------------------------------------------

// The address block size of a family|transport byte, or nothing for a value the spec forbids.
std::optional<size_t> v2_address_block_size(uint8_t family) {
    switch (family) {
        case kFamilyUnspec: return 0;
        case kFamilyTcp4:
        case kFamilyUdp4: return 2 * kIpv4Size + 2 * kPortSize;
        case kFamilyTcp6:
        case kFamilyUdp6: return 2 * kIpv6Size + 2 * kPortSize;
        case kFamilyUnixStream:
        case kFamilyUnixDgram: return 2 * kUnixPathSize;
        default: return std::nullopt;
    }
}

// TLVs are skipped, but each must end inside the header: a TLV running past it means the
// sender and we disagree on the framing, so nothing after it can be trusted.
bool tlv_framing_consistent(std::span<const uint8_t> tlvs) {
    while (!tlvs.empty()) {
        if (tlvs.size() < kTlvFraming) return false;
        size_t value_size = read_u16(tlvs, 1);
        if (value_size > tlvs.size() - kTlvFraming) return false;
        tlvs = tlvs.subspan(kTlvFraming + value_size);
    }
    return true;
}

// Source and destination of a TCP4/TCP6 address block (UDP and UNIX are not taken: see header).
void take_tcp_addresses(ProxyParseResult& result, uint8_t family, std::span<const uint8_t> block) {
    if (family != kFamilyTcp4 && family != kFamilyTcp6) return;
    int socket_family = family == kFamilyTcp4 ? AF_INET : AF_INET6;
    size_t size = family == kFamilyTcp4 ? kIpv4Size : kIpv6Size;
    result.source = ip_address(socket_family, block.subspan(0, size), read_u16(block, 2 * size));
    result.destination = ip_address(socket_family, block.subspan(size, size), read_u16(block, 2 * size + kPortSize));
}

// `bytes` starts with (a prefix of) the v2 signature.
ProxyParseResult parse_v2(std::span<const uint8_t> bytes) {
    if (bytes.size() < kV2FixedSize) return incomplete();
    uint8_t version_command = bytes[kV2VersionCommandAt];
    if ((version_command & 0xF0) != kV2Version) return invalid("unsupported PROXY v2 version");
    uint8_t command = version_command & 0x0F;
    if (command != kCommandLocal && command != kCommandProxy) return invalid("bad PROXY v2 command");
    size_t payload_size = read_u16(bytes, kV2LengthAt);
    if (kV2FixedSize + payload_size > kMaxInboundProxyHeader) return invalid("PROXY header too long");
    // LOCAL (a balancer's health check): the spec says to discard the block, family included.
    uint8_t family = bytes[kV2FamilyAt];
    std::optional<size_t> block_size = command == kCommandLocal ? 0 : v2_address_block_size(family);
    if (!block_size) return invalid("bad PROXY v2 address family");
    if (payload_size < *block_size) return invalid("PROXY v2 length too short for its addresses");
    if (bytes.size() < kV2FixedSize + payload_size) return incomplete();
    if (command == kCommandLocal) return complete(kV2FixedSize + payload_size);

    std::span<const uint8_t> payload = bytes.subspan(kV2FixedSize, payload_size);
    if (!tlv_framing_consistent(payload.subspan(*block_size))) return invalid("PROXY v2 TLV runs past the header");
    ProxyParseResult result = complete(kV2FixedSize + payload_size);
    take_tcp_addresses(result, family, payload.first(*block_size));
    return result;
}

// ---- Parsing: v1 ----------------------------------------------------------------------

// The line's text fields after "PROXY ": protocol, source, destination, source port, destination port.
constexpr size_t kV1Fields = 5;

// Splits on single spaces; an empty field (two spaces, or a leading/trailing one) or a field
// count other than kV1Fields is malformed.
std::optional<std::array<std::string_view, kV1Fields>> split_v1_fields(std::string_view text) {
    std::array<std::string_view, kV1Fields> fields;
    for (size_t index = 0; index < kV1Fields; ++index) {
        size_t space = text.find(' ');
        bool last = index + 1 == kV1Fields;
        if (last != (space == std::string_view::npos)) return std::nullopt;
        fields[index] = text.substr(0, space);
        if (fields[index].empty()) return std::nullopt;
        if (!last) text.remove_prefix(space + 1);
    }
    return fields;
}

// A decimal 0..65535 without sign or leading zero (the spec forbids them: octal confusion).
std::optional<uint16_t> parse_v1_port(std::string_view text) {
    if (text.empty() || text.size() > 5 || (text.size() > 1 && text.front() == '0')) return std::nullopt;
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value > 0xFFFF) return std::nullopt;
    return static_cast<uint16_t>(value);
}

std::optional<SocketAddress> parse_v1_address(int family, std::string_view text, std::string_view port_text) {
    char host[INET6_ADDRSTRLEN] = {};  // inet_pton wants a NUL-terminated string
    // An embedded NUL would make inet_pton accept "1.2.3.4\0junk" as 1.2.3.4.
    if (text.size() >= sizeof host || text.find('\0') != std::string_view::npos) return std::nullopt;
    std::memcpy(host, text.data(), text.size());
    std::array<uint8_t, kIpv6Size> address{};
    if (inet_pton(family, host, address.data()) != 1) return std::nullopt;
    auto port = parse_v1_port(port_text);
    if (!port) return std::nullopt;
    return ip_address(family, address, *port);
}

// `line` is the text between "PROXY " and the CRLF.
ProxyParseResult parse_v1_line(std::string_view line, size_t consumed) {
    // UNKNOWN: the spec says to ignore whatever follows it on the line.
    if (line.starts_with(kV1Unknown) && (line.size() == kV1Unknown.size() || line[kV1Unknown.size()] == ' '))
        return complete(consumed);
    auto fields = split_v1_fields(line);
    if (!fields) return invalid("malformed PROXY v1 line");
    const auto& [protocol, source, destination, source_port, destination_port] = *fields;
    int family = protocol == "TCP4" ? AF_INET : protocol == "TCP6" ? AF_INET6 : AF_UNSPEC;
    if (family == AF_UNSPEC) return invalid("unknown PROXY v1 protocol");
    ProxyParseResult result = complete(consumed);
    result.source = parse_v1_address(family, source, source_port);
    result.destination = parse_v1_address(family, destination, destination_port);
    if (!result.source || !result.destination) return invalid("bad PROXY v1 address or port");
    return result;
}

// `bytes` starts with (a prefix of) "PROXY ". The line must end with CRLF within
// kProxyV1MaxSize bytes; a lone CR or LF is rejected at once rather than waited on.
ProxyParseResult parse_v1(std::span<const uint8_t> bytes) {
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), std::min(bytes.size(), kProxyV1MaxSize));
    constexpr const char* kLineNotEnded = "PROXY v1 line not ended by CRLF";
    size_t end = text.find_first_of("\r\n");
    if (end != std::string_view::npos && text[end] == '\n') return invalid(kLineNotEnded);
    if (end == std::string_view::npos || end + 1 == text.size()) {
        if (text.size() == kProxyV1MaxSize) return invalid("PROXY v1 line too long");
        return incomplete();  // no CR yet, or a CR whose LF has not arrived
    }
    if (text[end + 1] != '\n') return invalid(kLineNotEnded);
    if (end < kV1Prefix.size()) return invalid("malformed PROXY v1 line");
    return parse_v1_line(text.substr(kV1Prefix.size(), end - kV1Prefix.size()), end + 2);
}

std::span<const uint8_t> as_bytes_of(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace

size_t proxy_v2_worst_case_size(uint16_t tlvs) { return worst_case_v2_size(tlvs); }

size_t write_proxy_v1(std::span<uint8_t> out, const SocketAddress& source, const SocketAddress& destination) {
    ByteWriter writer(out);
    auto endpoints = carried_endpoints(source, destination);
    if (!endpoints) {
        writer.text("PROXY UNKNOWN\r\n");
        return writer.finish();
    }
    writer.text(endpoints->source.family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ");
    append_v1_address(writer, endpoints->source);
    writer.u8(' ');
    append_v1_address(writer, endpoints->destination);
    writer.u8(' ');
    append_v1_port(writer, endpoints->source.port);
    writer.u8(' ');
    append_v1_port(writer, endpoints->destination.port);
    writer.text("\r\n");
    return writer.finish();
}

size_t write_proxy_v2(std::span<uint8_t> out, const SocketAddress& source, const SocketAddress& destination,
                      const TlsFacts& facts, uint16_t tlvs) {
    ByteWriter writer(out);
    auto endpoints = carried_endpoints(source, destination);
    writer.bytes(kV2Signature.data(), kV2Signature.size());
    writer.u8(kV2Version | kCommandProxy);
    writer.u8(!endpoints ? kFamilyUnspec : endpoints->source.family == AF_INET ? kFamilyTcp4 : kFamilyTcp6);
    size_t length_at = writer.position();
    writer.u16(0);
    if (endpoints) append_v2_addresses(writer, *endpoints);
    append_string_tlvs(writer, kTopLevelTlvs, facts, tlvs);
    if (writes_ssl_tlv(tlvs)) append_ssl_tlv(writer, facts, tlvs);
    writer.patch_u16(length_at, static_cast<uint16_t>(writer.position() - kV2FixedSize));
    return writer.finish();
}

ProxyParseResult parse_proxy_header(std::span<const uint8_t> bytes) {
    if (bytes.empty()) return incomplete();
    if (agrees_with(bytes, kV2Signature)) return parse_v2(bytes);
    if (agrees_with(bytes, as_bytes_of(kV1Prefix))) return parse_v1(bytes);
    if (bytes[0] == kV2Signature[0]) return invalid("bad PROXY v2 signature");
    return invalid("not a PROXY header");
}

}  // namespace tlsfront
