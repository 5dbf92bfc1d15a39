// PROXY protocol codec: the writers byte for byte against haproxy's output and the spec, and the
// parser against valid, truncated, malformed and random input.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <random>
#include <string>
#include <vector>

#include "proxy/proxy_header.hpp"

using namespace tlsfront;

namespace {

using Bytes = std::vector<uint8_t>;

SocketAddress address(std::string_view text) {
    auto result = parse_socket_address(text, true, true);
    INFO("address: ", text, " error: ", result.error);
    REQUIRE(result.address.has_value());
    return *result.address;
}

Bytes from_hex(std::string_view hex) {
    Bytes bytes;
    std::string digits;
    for (char c : hex)
        if (c != ' ') digits += c;
    REQUIRE(digits.size() % 2 == 0);
    for (size_t i = 0; i < digits.size(); i += 2) bytes.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    return bytes;
}

Bytes to_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

Bytes concat(Bytes head, const Bytes& tail) {
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
}

std::string write_v1(const SocketAddress& source, const SocketAddress& destination) {
    Bytes out(kProxyV1MaxSize);
    size_t size = write_proxy_v1(out, source, destination);
    REQUIRE(size > 0);
    return std::string(out.begin(), out.begin() + static_cast<ptrdiff_t>(size));
}

Bytes write_v2(const SocketAddress& source, const SocketAddress& destination, const TlsFacts& facts, uint16_t tlvs) {
    Bytes out(4096);
    size_t size = write_proxy_v2(out, source, destination, facts, tlvs);
    REQUIRE(size > 0);
    out.resize(size);
    return out;
}

// The exact-size copy makes ASan catch any read past the input.
ProxyParseResult parse(const Bytes& bytes) {
    Bytes exact(bytes);
    return parse_proxy_header(exact);
}
ProxyParseResult parse(std::string_view text) { return parse(to_bytes(text)); }

uint16_t be16(const Bytes& bytes, size_t at) { return static_cast<uint16_t>((bytes[at] << 8) | bytes[at + 1]); }

struct Tlv {
    uint8_t type;
    std::string value;
};

// Splits a TLV sequence (top level or SSL sub-TLVs); fails the test on broken framing.
std::vector<Tlv> tlvs_of(const Bytes& bytes, size_t begin, size_t end) {
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
std::vector<Tlv> header_tlvs(const Bytes& header, size_t address_block) {
    REQUIRE(header.size() == 16u + be16(header, 14));
    return tlvs_of(header, 16 + address_block, header.size());
}

Bytes as_bytes(const std::string& text) { return to_bytes(text); }

std::vector<Tlv> ssl_sub_tlvs(const Tlv& ssl) {
    REQUIRE(ssl.type == 0x20);
    REQUIRE(ssl.value.size() >= 5);
    Bytes value = as_bytes(ssl.value);
    return tlvs_of(value, 5, value.size());
}

TlsFacts every_fact() {
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
Bytes haproxy_capture() {
    return from_hex(
        "0d0a0d0a000d0a515549540a 21 11 001e 7f000001 7f000001 e068 55de 20 000f 01 00000000 21 0007 544c5376312e33");
}

void check_invalid(const Bytes& bytes, std::string_view expected_error = {}) {
    auto result = parse(bytes);
    CHECK(result.status == ProxyParseStatus::invalid);
    CHECK(result.consumed == 0);
    REQUIRE(result.error != nullptr);
    if (!expected_error.empty()) CHECK(std::string_view(result.error) == expected_error);
}
void check_invalid(std::string_view text, std::string_view expected_error = {}) {
    INFO("input: ", text);
    check_invalid(to_bytes(text), expected_error);
}

// A v2 PROXY TCP4 header from 10.0.0.1:1000 to 10.0.0.2:993 followed by `tlvs` (raw bytes).
Bytes v2_tcp4_with(const Bytes& tlvs) {
    Bytes header = from_hex("0d0a0d0a000d0a515549540a 21 11 0000 0a000001 0a000002 03e8 03e1");
    header.insert(header.end(), tlvs.begin(), tlvs.end());
    header[14] = static_cast<uint8_t>((header.size() - 16) >> 8);
    header[15] = static_cast<uint8_t>(header.size() - 16);
    return header;
}

}  // namespace

// ---- Writers ---------------------------------------------------------------------------

TEST_CASE("v2 reproduces haproxy's send-proxy-v2-ssl capture byte for byte") {
    // The capture's description says port 21981, but its bytes say 0x55de = 21982: bytes win.
    TlsFacts facts;
    facts.version = "TLSv1.3";
    CHECK(write_v2(address("127.0.0.1:57448"), address("127.0.0.1:21982"), facts, tlv_ssl | tlv_ssl_version) ==
          haproxy_capture());
    // Unselected facts change nothing.
    TlsFacts more = every_fact();
    CHECK(write_v2(address("127.0.0.1:57448"), address("127.0.0.1:21982"), more, tlv_ssl | tlv_ssl_version) ==
          haproxy_capture());
}

TEST_CASE("v1 TCP4 and TCP6 lines") {
    CHECK(write_v1(address("127.0.0.1:53456"), address("127.0.0.1:21983")) ==
          "PROXY TCP4 127.0.0.1 127.0.0.1 53456 21983\r\n");
    CHECK(write_v1(address("[2001:db8::1]:40000"), address("[::1]:993")) == "PROXY TCP6 2001:db8::1 ::1 40000 993\r\n");
    std::string longest = write_v1(address("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535"),
                                   address("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"));
    CHECK(longest.size() == 104);
    CHECK(longest.size() <= kProxyV1MaxSize);
}

TEST_CASE("v2 TCP6 layout: 36 address bytes") {
    Bytes header = write_v2(address("[2001:db8::1]:40000"), address("[2001:db8::2]:993"), {}, 0);
    REQUIRE(header.size() == 16 + 36);
    CHECK(header[12] == 0x21);
    CHECK(header[13] == 0x21);
    CHECK(be16(header, 14) == 36);
    CHECK(header == from_hex("0d0a0d0a000d0a515549540a 21 21 0024"
                             "20010db8000000000000000000000001 20010db8000000000000000000000002 9c40 03e1"));
}

TEST_CASE("v2 writes every TLV with type, length and value, in order") {
    Bytes header = write_v2(address("10.0.0.1:1000"), address("10.0.0.2:993"), every_fact(), kEveryTlv);
    auto tlvs = header_tlvs(header, 12);
    REQUIRE(tlvs.size() == 4);
    CHECK(tlvs[0].type == 0x01);
    CHECK(tlvs[0].value == "imap");
    CHECK(tlvs[1].type == 0x02);
    CHECK(tlvs[1].value == "mail.example.org");
    CHECK(tlvs[2].type == 0x05);
    CHECK(tlvs[2].value == "c0ffee-42");
    CHECK(tlvs[3].type == 0x20);
    CHECK(tlvs[3].value.substr(0, 5) == std::string("\x01\0\0\0\0", 5));
    auto sub = ssl_sub_tlvs(tlvs[3]);
    REQUIRE(sub.size() == 5);
    const std::pair<uint8_t, std::string> expected[] = {
        {0x21, "TLSv1.3"}, {0x22, "alice"}, {0x23, "TLS_AES_128_GCM_SHA256"}, {0x24, "RSA-SHA256"}, {0x25, "RSA2048"}};
    for (size_t i = 0; i < sub.size(); ++i) {
        CHECK(sub[i].type == expected[i].first);
        CHECK(sub[i].value == expected[i].second);
    }
    // The raw framing of the first TLV, byte for byte.
    CHECK(Bytes(header.begin() + 28, header.begin() + 35) == from_hex("01 0004 696d6170"));
}

TEST_CASE("v2 omits unselected and empty TLVs; a sub-TLV implies the SSL TLV") {
    TlsFacts facts = every_fact();
    facts.sni = "";
    facts.client_cn = "";
    Bytes header = write_v2(address("10.0.0.1:1000"), address("10.0.0.2:993"), facts,
                            tlv_authority | tlv_unique_id | tlv_ssl_cn | tlv_ssl_cipher);
    auto tlvs = header_tlvs(header, 12);
    REQUIRE(tlvs.size() == 2);
    CHECK(tlvs[0].type == 0x05);
    CHECK(tlvs[1].type == 0x20);
    auto sub = ssl_sub_tlvs(tlvs[1]);
    REQUIRE(sub.size() == 1);
    CHECK(sub[0].type == 0x23);

    CHECK(write_v2(address("10.0.0.1:1000"), address("10.0.0.2:993"), facts, 0).size() == 16 + 12);
}

TEST_CASE("v2 SSL client flags and big-endian verify result") {
    auto ssl_value = [](bool conn, bool sess, uint32_t verify) {
        TlsFacts facts;
        facts.client_cert_conn = conn;
        facts.client_cert_sess = sess;
        facts.verify_result = verify;
        Bytes header = write_v2(address("10.0.0.1:1000"), address("10.0.0.2:993"), facts, tlv_ssl);
        auto tlvs = header_tlvs(header, 12);
        REQUIRE(tlvs.size() == 1);
        CHECK(tlvs[0].type == 0x20);
        return tlvs[0].value;
    };
    CHECK(ssl_value(false, false, 0) == std::string("\x01\0\0\0\0", 5));
    CHECK(ssl_value(true, false, 0)[0] == 0x03);
    CHECK(ssl_value(false, true, 0)[0] == 0x05);
    CHECK(ssl_value(true, true, 0)[0] == 0x07);
    CHECK(ssl_value(true, false, 0x01020304) == std::string("\x03\x01\x02\x03\x04", 5));
    CHECK(ssl_value(false, false, 20) == std::string("\x01\0\0\0\x14", 5));
}

TEST_CASE("v2 truncates over-long strings to their bounds") {
    std::string long_text(300, 'a');
    TlsFacts facts;
    facts.alpn = facts.sni = facts.unique_id = facts.version = facts.client_cn = facts.cipher = facts.sig_alg =
        facts.key_alg = long_text;
    Bytes header = write_v2(address("10.0.0.1:1000"), address("10.0.0.2:993"), facts, kEveryTlv);
    auto tlvs = header_tlvs(header, 12);
    REQUIRE(tlvs.size() == 4);
    CHECK(tlvs[0].value.size() == kMaxAlpn);
    CHECK(tlvs[1].value == std::string(255, 'a'));
    CHECK(tlvs[2].value.size() == kMaxUniqueId);
    for (const auto& sub : ssl_sub_tlvs(tlvs[3])) CHECK(sub.value.size() == kMaxSslString);
}

TEST_CASE("IPv4-mapped IPv6 addresses are written as TCP4") {
    auto source = address("[::ffff:192.0.2.7]:40000");
    auto destination = address("[::ffff:192.0.2.1]:993");
    CHECK(write_v1(source, destination) == "PROXY TCP4 192.0.2.7 192.0.2.1 40000 993\r\n");
    CHECK(write_v1(source, address("192.0.2.1:993")) == "PROXY TCP4 192.0.2.7 192.0.2.1 40000 993\r\n");
    CHECK(write_v2(source, destination, {}, 0) ==
          from_hex("0d0a0d0a000d0a515549540a 21 11 000c c0000207 c0000201 9c40 03e1"));
}

TEST_CASE("mixed or non-IP families: v1 UNKNOWN, v2 UNSPEC with TLVs") {
    auto v4 = address("192.0.2.7:40000");
    auto v6 = address("[2001:db8::1]:993");
    auto unix_socket = address("unix:/run/tlsfront.sock");
    CHECK(write_v1(v4, v6) == "PROXY UNKNOWN\r\n");
    CHECK(write_v1(address("[::ffff:192.0.2.7]:1"), v6) == "PROXY UNKNOWN\r\n");
    CHECK(write_v1(unix_socket, unix_socket) == "PROXY UNKNOWN\r\n");
    CHECK(write_v1(SocketAddress{}, SocketAddress{}) == "PROXY UNKNOWN\r\n");

    TlsFacts facts;
    facts.version = "TLSv1.3";
    Bytes header = write_v2(v6, v4, facts, tlv_ssl_version);
    CHECK(header == from_hex("0d0a0d0a000d0a515549540a 21 00 0012 20 000f 01 00000000 21 0007 544c5376312e33"));
    CHECK(write_v2(unix_socket, v4, {}, 0) == from_hex("0d0a0d0a000d0a515549540a 21 00 0000"));
}

TEST_CASE("proxy_v2_worst_case_size bounds every selection and is reached with IPv6") {
    std::string huge(1000, 'x');
    TlsFacts facts;
    facts.alpn = facts.sni = facts.unique_id = facts.version = facts.client_cn = facts.cipher = facts.sig_alg =
        facts.key_alg = huge;
    facts.client_cert_conn = facts.client_cert_sess = true;
    facts.verify_result = 0xFFFFFFFF;
    auto v4 = address("255.255.255.255:65535");
    auto v6 = address("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    for (unsigned tlvs = 0; tlvs <= kEveryTlv; ++tlvs) {
        auto selection = static_cast<uint16_t>(tlvs);
        INFO("tlvs: ", tlvs);
        size_t bound = proxy_v2_worst_case_size(selection);
        CHECK(write_v2(v4, v4, facts, selection).size() <= bound);
        CHECK(write_v2(v6, v6, facts, selection).size() == bound);
        CHECK(write_v2(v4, v6, facts, selection).size() <= bound);
        CHECK(bound <= kMaxInboundProxyHeader);
    }
}

TEST_CASE("writers return 0 when the output span is too small") {
    auto source = address("[2001:db8::1]:40000");
    auto destination = address("[2001:db8::2]:993");
    std::string line = write_v1(source, destination);
    Bytes header = write_v2(source, destination, every_fact(), kEveryTlv);
    for (size_t size = 0; size < line.size(); ++size) {
        Bytes out(size);
        CHECK(write_proxy_v1(out, source, destination) == 0);
    }
    for (size_t size = 0; size < header.size(); ++size) {
        Bytes out(size);
        CHECK(write_proxy_v2(out, source, destination, every_fact(), kEveryTlv) == 0);
    }
    Bytes exact_line(line.size());
    CHECK(write_proxy_v1(exact_line, source, destination) == line.size());
    Bytes exact_header(header.size());
    CHECK(write_proxy_v2(exact_header, source, destination, every_fact(), kEveryTlv) == header.size());
    CHECK(exact_header == header);
}

// ---- Parser ----------------------------------------------------------------------------

TEST_CASE("parse v1 TCP4, TCP6 and UNKNOWN") {
    auto tcp4 = parse("PROXY TCP4 192.0.2.7 192.0.2.1 40000 993\r\n");
    REQUIRE(tcp4.status == ProxyParseStatus::complete);
    CHECK(tcp4.consumed == 42);
    REQUIRE(tcp4.source.has_value());
    REQUIRE(tcp4.destination.has_value());
    CHECK(tcp4.source->to_string() == "192.0.2.7:40000");
    CHECK(tcp4.destination->to_string() == "192.0.2.1:993");
    CHECK(tcp4.source->family() == AF_INET);

    auto tcp6 = parse("PROXY TCP6 2001:db8::1 ::1 0 65535\r\n");
    REQUIRE(tcp6.status == ProxyParseStatus::complete);
    CHECK(tcp6.source->family() == AF_INET6);
    CHECK(tcp6.source->host_string() == "2001:db8::1");
    CHECK(tcp6.source->port() == 0);
    CHECK(tcp6.destination->to_string() == "[::1]:65535");

    for (std::string_view unknown :
         {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN 1.2.3.4 whatever \r\n",
          "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"}) {
        auto result = parse(unknown);
        INFO(unknown);
        REQUIRE(result.status == ProxyParseStatus::complete);
        CHECK(result.consumed == unknown.size());
        CHECK_FALSE(result.source.has_value());
        CHECK_FALSE(result.destination.has_value());
    }
    CHECK(std::string_view("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                           "65535 65535\r\n")
              .size() == kProxyV1MaxSize);
}

TEST_CASE("parse v2 PROXY TCP4 and TCP6 with TLVs") {
    Bytes tcp4 = write_v2(address("192.0.2.7:40000"), address("192.0.2.1:993"), every_fact(), kEveryTlv);
    auto result4 = parse(tcp4);
    REQUIRE(result4.status == ProxyParseStatus::complete);
    CHECK(result4.consumed == tcp4.size());
    CHECK(result4.source->to_string() == "192.0.2.7:40000");
    CHECK(result4.destination->to_string() == "192.0.2.1:993");

    auto result6 = parse(haproxy_capture());
    REQUIRE(result6.status == ProxyParseStatus::complete);
    CHECK(result6.source->to_string() == "127.0.0.1:57448");

    Bytes tcp6 = write_v2(address("[2001:db8::1]:40000"), address("[::1]:993"), every_fact(), kEveryTlv);
    auto parsed6 = parse(tcp6);
    REQUIRE(parsed6.status == ProxyParseStatus::complete);
    CHECK(parsed6.consumed == tcp6.size());
    CHECK(parsed6.source->family() == AF_INET6);
    CHECK(parsed6.source->to_string() == "[2001:db8::1]:40000");
    CHECK(parsed6.destination->to_string() == "[::1]:993");

    // A NOOP and an unknown TLV, both empty-valued, are skipped.
    auto with_noop = parse(v2_tcp4_with(from_hex("04 0000 e0 0000")));
    CHECK(with_noop.status == ProxyParseStatus::complete);
}

TEST_CASE("parse v2 LOCAL: complete without addresses, family ignored") {
    auto bare = parse(from_hex("0d0a0d0a000d0a515549540a 20 00 0000"));
    REQUIRE(bare.status == ProxyParseStatus::complete);
    CHECK(bare.consumed == 16);
    CHECK_FALSE(bare.source.has_value());
    // A LOCAL block with a family byte and content: skipped whole.
    auto with_block = parse(from_hex("0d0a0d0a000d0a515549540a 20 ff 0003 010203 1603"));
    REQUIRE(with_block.status == ProxyParseStatus::complete);
    CHECK(with_block.consumed == 19);
    CHECK_FALSE(with_block.destination.has_value());
}

TEST_CASE("parse v2 UNSPEC, UDP and UNIX: accepted without addresses") {
    CHECK(parse(from_hex("0d0a0d0a000d0a515549540a 21 00 0000")).status == ProxyParseStatus::complete);
    auto udp = parse(from_hex("0d0a0d0a000d0a515549540a 21 12 000c 0a000001 0a000002 03e8 03e1"));
    REQUIRE(udp.status == ProxyParseStatus::complete);
    CHECK_FALSE(udp.source.has_value());
    Bytes unix_stream = concat(from_hex("0d0a0d0a000d0a515549540a 21 31 00d8"), Bytes(216, 0));
    auto unix_result = parse(unix_stream);
    REQUIRE(unix_result.status == ProxyParseStatus::complete);
    CHECK(unix_result.consumed == 16 + 216);
    CHECK_FALSE(unix_result.source.has_value());
    check_invalid(concat(from_hex("0d0a0d0a000d0a515549540a 21 31 0024"), Bytes(36, 0)),
                  "PROXY v2 length too short for its addresses");
}

TEST_CASE("every proper prefix of a valid header is incomplete") {
    std::vector<Bytes> headers = {
        to_bytes("PROXY TCP4 192.0.2.7 192.0.2.1 40000 993\r\n"),
        to_bytes("PROXY TCP6 2001:db8::1 ::1 40000 993\r\n"),
        to_bytes("PROXY UNKNOWN\r\n"),
        haproxy_capture(),
        write_v2(address("[2001:db8::1]:40000"), address("[::1]:993"), every_fact(), kEveryTlv),
        from_hex("0d0a0d0a000d0a515549540a 20 00 0000"),
    };
    for (const Bytes& header : headers) {
        for (size_t size = 0; size < header.size(); ++size) {
            INFO("header size ", header.size(), " prefix ", size);
            auto result = parse(Bytes(header.begin(), header.begin() + static_cast<ptrdiff_t>(size)));
            CHECK(result.status == ProxyParseStatus::incomplete);
            CHECK(result.consumed == 0);
        }
        CHECK(parse(header).status == ProxyParseStatus::complete);
    }
}

TEST_CASE("parse v2: malformed headers are invalid") {
    SUBCASE("truncated TLVs") {
        check_invalid(v2_tcp4_with(from_hex("01 0005 696d6170")), "PROXY v2 TLV runs past the header");
        check_invalid(v2_tcp4_with(from_hex("01 00")), "PROXY v2 TLV runs past the header");
        check_invalid(v2_tcp4_with(from_hex("01")), "PROXY v2 TLV runs past the header");
        check_invalid(v2_tcp4_with(from_hex("04 0000 20 ffff 01")), "PROXY v2 TLV runs past the header");
    }
    SUBCASE("oversized length") {
        // 16 + 1520 = kMaxInboundProxyHeader exactly: fine (a NOOP TLV pads it); one more is not.
        Bytes largest = v2_tcp4_with(concat(from_hex("04 05e1"), Bytes(0x5e1, 0)));
        REQUIRE(largest.size() == kMaxInboundProxyHeader);
        CHECK(parse(largest).status == ProxyParseStatus::complete);
        Bytes too_long = v2_tcp4_with(concat(from_hex("04 05e2"), Bytes(0x5e2, 0)));
        check_invalid(too_long, "PROXY header too long");
        // Rejected from the fixed part alone, without waiting for the rest.
        check_invalid(from_hex("0d0a0d0a000d0a515549540a 21 11 ffff"), "PROXY header too long");
        check_invalid(from_hex("0d0a0d0a000d0a515549540a 20 00 ffff"), "PROXY header too long");
    }
    SUBCASE("wrong signature") {
        check_invalid(from_hex("0d0a0d0a000d0a515549540b 21 11 000c"), "bad PROXY v2 signature");
        check_invalid(from_hex("0d0a0d0a01"), "bad PROXY v2 signature");
        check_invalid(from_hex("0d0d"), "bad PROXY v2 signature");
    }
    SUBCASE("wrong version") {
        check_invalid(from_hex("0d0a0d0a000d0a515549540a 11 11 000c"), "unsupported PROXY v2 version");
        check_invalid(from_hex("0d0a0d0a000d0a515549540a 31 11 000c"), "unsupported PROXY v2 version");
    }
    SUBCASE("bad command") {
        check_invalid(from_hex("0d0a0d0a000d0a515549540a 22 11 000c"), "bad PROXY v2 command");
        check_invalid(from_hex("0d0a0d0a000d0a515549540a 2f 11 000c"), "bad PROXY v2 command");
    }
    SUBCASE("bad family") {
        for (uint8_t family : {0x01, 0x10, 0x13, 0x20, 0x30, 0x41, 0xff}) {
            Bytes header = from_hex("0d0a0d0a000d0a515549540a 21 00 000c 0a000001 0a000002 03e8 03e1");
            header[13] = family;
            INFO("family ", int(family));
            check_invalid(header, "bad PROXY v2 address family");
        }
    }
    SUBCASE("length too short for the addresses") {
        check_invalid(from_hex("0d0a0d0a000d0a515549540a 21 11 000b 0a000001 0a000002 03e8 03"),
                      "PROXY v2 length too short for its addresses");
        check_invalid(concat(from_hex("0d0a0d0a000d0a515549540a 21 21 000c"), Bytes(12, 0)),
                      "PROXY v2 length too short for its addresses");
    }
}

TEST_CASE("garbage is not a PROXY header") {
    check_invalid("GET / HTTP/1.1\r\n", "not a PROXY header");
    check_invalid(from_hex("16 03 01 00 f4 01"), "not a PROXY header");
    check_invalid("PROXZ", "not a PROXY header");
    check_invalid("proxy TCP4", "not a PROXY header");
    check_invalid("PROXY\r\n", "not a PROXY header");
    check_invalid(from_hex("00"), "not a PROXY header");
    CHECK(parse("PROX").status == ProxyParseStatus::incomplete);
    CHECK(parse(Bytes{}).status == ProxyParseStatus::incomplete);
}

TEST_CASE("parse v1: malformed lines are invalid") {
    SUBCASE("bad addresses") {
        check_invalid("PROXY TCP4 192.0.2.256 192.0.2.1 1 2\r\n", "bad PROXY v1 address or port");
        check_invalid("PROXY TCP4 192.0.2 192.0.2.1 1 2\r\n", "bad PROXY v1 address or port");
        check_invalid("PROXY TCP4 192.0.02.7 192.0.2.1 1 2\r\n", "bad PROXY v1 address or port");
        check_invalid("PROXY TCP4 ::1 192.0.2.1 1 2\r\n", "bad PROXY v1 address or port");
        check_invalid("PROXY TCP6 192.0.2.7 ::1 1 2\r\n", "bad PROXY v1 address or port");
        check_invalid("PROXY TCP6 [::1] ::1 1 2\r\n", "bad PROXY v1 address or port");
        check_invalid("PROXY TCP4 mail.example.org 192.0.2.1 1 2\r\n", "bad PROXY v1 address or port");
        constexpr char embedded_nul[] = "PROXY TCP4 1.2.3.4\0x 192.0.2.1 1 2\r\n";
        check_invalid(std::string_view(embedded_nul, sizeof embedded_nul - 1), "bad PROXY v1 address or port");
        check_invalid("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::1 1 2\r\n",
                      "bad PROXY v1 address or port");
    }
    SUBCASE("bad ports") {
        for (std::string_view port : {"65536", "+1", "-1", "01", "1a", "0x10", "100000", "99999"}) {
            std::string line = "PROXY TCP4 192.0.2.7 192.0.2.1 " + std::string(port) + " 993\r\n";
            check_invalid(line, "bad PROXY v1 address or port");
            line = "PROXY TCP4 192.0.2.7 192.0.2.1 993 " + std::string(port) + "\r\n";
            check_invalid(line, "bad PROXY v1 address or port");
        }
    }
    SUBCASE("spacing and field count") {
        check_invalid("PROXY  TCP4 192.0.2.7 192.0.2.1 1 2\r\n", "malformed PROXY v1 line");
        check_invalid("PROXY TCP4  192.0.2.7 192.0.2.1 1 2\r\n", "malformed PROXY v1 line");
        check_invalid("PROXY TCP4 192.0.2.7 192.0.2.1 1 2 \r\n", "malformed PROXY v1 line");
        check_invalid("PROXY TCP4 192.0.2.7 192.0.2.1 1\r\n", "malformed PROXY v1 line");
        check_invalid("PROXY TCP4 192.0.2.7 192.0.2.1 1 2 3\r\n", "malformed PROXY v1 line");
        check_invalid("PROXY TCP4\t192.0.2.7 192.0.2.1 1 2\r\n", "malformed PROXY v1 line");
        check_invalid("PROXY \r\n", "malformed PROXY v1 line");
        check_invalid("PROXY UNKNOWNX\r\n", "malformed PROXY v1 line");
        check_invalid("PROXY TCP5 192.0.2.7 192.0.2.1 1 2\r\n", "unknown PROXY v1 protocol");
        check_invalid("PROXY tcp4 192.0.2.7 192.0.2.1 1 2\r\n", "unknown PROXY v1 protocol");
    }
    SUBCASE("line endings") {
        check_invalid("PROXY TCP4 192.0.2.7 192.0.2.1 1 2\n", "PROXY v1 line not ended by CRLF");
        check_invalid("PROXY TCP4 192.0.2.7 192.0.2.1 1 2\rX", "PROXY v1 line not ended by CRLF");
        check_invalid("PROXY UNKNOWN\n\r\n", "PROXY v1 line not ended by CRLF");
        CHECK(parse("PROXY TCP4 192.0.2.7 192.0.2.1 1 2").status == ProxyParseStatus::incomplete);
        CHECK(parse("PROXY TCP4 192.0.2.7 192.0.2.1 1 2\r").status == ProxyParseStatus::incomplete);
    }
    SUBCASE("too long") {
        std::string line = "PROXY UNKNOWN " + std::string(kProxyV1MaxSize - 16, 'x');
        REQUIRE(line.size() == kProxyV1MaxSize - 2);
        CHECK(parse(line + "\r\n").status == ProxyParseStatus::complete);
        CHECK(parse(line).status == ProxyParseStatus::incomplete);
        CHECK(parse(line + "\r").status == ProxyParseStatus::incomplete);
        check_invalid(line + "x\r\n", "PROXY v1 line too long");
        check_invalid(line + "xx", "PROXY v1 line too long");
        check_invalid(line + "\rx", "PROXY v1 line not ended by CRLF");
        check_invalid("PROXY " + std::string(200, 'x'), "PROXY v1 line too long");
    }
}

TEST_CASE("consumed stops exactly at the header end when TLS bytes follow") {
    Bytes client_hello = from_hex("16 03 01 00 f4 01 00 00 f0 03 03 0d 0a 0d 0a");
    std::vector<Bytes> headers = {
        to_bytes("PROXY TCP4 192.0.2.7 192.0.2.1 40000 993\r\n"),
        to_bytes("PROXY UNKNOWN\r\n"),
        haproxy_capture(),
        write_v2(address("[2001:db8::1]:40000"), address("[::1]:993"), every_fact(), kEveryTlv),
        from_hex("0d0a0d0a000d0a515549540a 20 00 0000"),
    };
    for (const Bytes& header : headers) {
        auto result = parse(concat(header, client_hello));
        REQUIRE(result.status == ProxyParseStatus::complete);
        CHECK(result.consumed == header.size());
    }
}

TEST_CASE("round trip: what the writers write, the parser reads back") {
    const std::pair<std::string_view, std::string_view> pairs[] = {
        {"192.0.2.7:40000", "192.0.2.1:993"},
        {"[2001:db8::1]:1", "[2001:db8::2]:65535"},
        {"[::ffff:192.0.2.7]:40000", "[::ffff:192.0.2.1]:993"},
        {"192.0.2.7:40000", "[2001:db8::2]:993"},
        {"unix:/run/a.sock", "unix:/run/b.sock"},
    };
    for (const auto& [source_text, destination_text] : pairs) {
        INFO(source_text, " -> ", destination_text);
        auto source = address(source_text);
        auto destination = address(destination_text);
        bool carried = source.family() == destination.family() && !source.is_unix();
        auto from_v1 = parse(write_v1(source, destination));
        auto from_v2 = parse(write_v2(source, destination, every_fact(), kEveryTlv));
        for (const auto& result : {from_v1, from_v2}) {
            REQUIRE(result.status == ProxyParseStatus::complete);
            REQUIRE(result.source.has_value() == carried);
            if (!carried) continue;
            CHECK(*result.source == source);
            CHECK(*result.destination == destination);
        }
    }
}

TEST_CASE("fuzz: the parser stays within its input") {
    std::mt19937 random(20240611);
    const std::vector<Bytes> seeds = {
        to_bytes("PROXY TCP4 192.0.2.7 192.0.2.1 40000 993\r\n"),
        to_bytes("PROXY TCP6 2001:db8::1 ::1 40000 993\r\n"),
        to_bytes("PROXY UNKNOWN\r\n"),
        haproxy_capture(),
        write_v2(address("[2001:db8::1]:40000"), address("[::1]:993"), every_fact(), kEveryTlv),
        from_hex("0d0a0d0a000d0a515549540a 20 00 0000"),
    };
    auto byte = [&] { return static_cast<uint8_t>(random() & 0xFF); };
    auto below = [&](size_t bound) { return static_cast<size_t>(random() % bound); };
    size_t outcomes[3] = {};
    for (int iteration = 0; iteration < 20000; ++iteration) {
        Bytes input;
        if (iteration % 5 == 0) {
            input.resize(below(300));
            for (auto& b : input) b = byte();
        } else {
            input = seeds[below(seeds.size())];
            for (size_t edits = 1 + below(4); edits > 0 && !input.empty(); --edits) {
                size_t at = below(input.size());
                switch (below(4)) {
                    case 0: input[at] = byte(); break;
                    case 1: input[at] ^= static_cast<uint8_t>(1u << below(8)); break;
                    case 2: input.resize(at); break;
                    default: input.insert(input.begin() + static_cast<ptrdiff_t>(at), byte());
                }
            }
        }
        auto result = parse(input);
        outcomes[static_cast<int>(result.status)]++;
        REQUIRE(result.consumed <= input.size());
        if (result.status == ProxyParseStatus::complete) {
            REQUIRE(result.consumed > 0);
            REQUIRE(result.source.has_value() == result.destination.has_value());
            // The header alone parses the same: the parser never looked past it.
            auto alone = parse(Bytes(input.begin(), input.begin() + static_cast<ptrdiff_t>(result.consumed)));
            REQUIRE(alone.status == ProxyParseStatus::complete);
            REQUIRE(alone.consumed == result.consumed);
        } else {
            REQUIRE(result.consumed == 0);
            REQUIRE((result.status == ProxyParseStatus::invalid) == (result.error != nullptr));
        }
    }
    // The mutations reach all three outcomes, so the loop exercises more than the first byte.
    CHECK(outcomes[0] > 100);
    CHECK(outcomes[1] > 100);
    CHECK(outcomes[2] > 100);
}
