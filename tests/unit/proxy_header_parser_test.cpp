// PROXY header parser: v1 and v2, incomplete prefixes, malformed input, round trips and a bounded fuzz.
#include "proxy_header_fixture.hpp"

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
    for (const Bytes& header : valid_headers()) {
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
    for (const Bytes& header : valid_headers()) {
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
    const std::vector<Bytes> seeds = valid_headers();
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
