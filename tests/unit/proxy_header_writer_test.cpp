// PROXY header writers: v1 lines, v2 layouts and TLVs byte for byte, bounds and worst-case sizes.
#include "proxy_header_fixture.hpp"

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
