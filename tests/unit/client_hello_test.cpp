// ClientHello extension parsing on well-formed, truncated and hostile bodies.
#include <doctest/doctest.h>

#include <vector>

#include "tls/client_hello.hpp"

using namespace tlsfront;
using Bytes = std::vector<uint8_t>;

TEST_CASE("signature_algorithms: well formed list") {
    Bytes body{0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01};
    auto parsed = parse_signature_algorithms(body);
    REQUIRE(parsed);
    CHECK(*parsed == std::vector<uint16_t>{0x0403, 0x0804, 0x0401});
}

TEST_CASE("signature_algorithms: malformed bodies are rejected") {
    CHECK_FALSE(parse_signature_algorithms(Bytes{}));
    CHECK_FALSE(parse_signature_algorithms(Bytes{0x00}));
    CHECK_FALSE(parse_signature_algorithms(Bytes{0x00, 0x04, 0x04, 0x03}));        // length beyond body
    CHECK_FALSE(parse_signature_algorithms(Bytes{0x00, 0x03, 0x04, 0x03, 0x08}));  // odd length
    CHECK_FALSE(parse_signature_algorithms(Bytes{0x00, 0x02, 0x04, 0x03, 0xff}));  // trailing byte
    CHECK_FALSE(parse_signature_algorithms(Bytes{0xff, 0xff}));
}

TEST_CASE("supported_versions: TLS 1.3 detection") {
    CHECK(offers_tls13(Bytes{0x04, 0x03, 0x04, 0x03, 0x03}));
    CHECK_FALSE(offers_tls13(Bytes{0x02, 0x03, 0x03}));
    CHECK_FALSE(offers_tls13(Bytes{}));
    CHECK_FALSE(offers_tls13(Bytes{0x08, 0x03, 0x04}));  // truncated
}

TEST_CASE("cipher suites: ECDSA suites found, RSA-only lists not") {
    CHECK(offers_ecdsa_suite(Bytes{0xc0, 0x2f, 0xc0, 0x2b}));
    CHECK_FALSE(offers_ecdsa_suite(Bytes{0xc0, 0x2f, 0xc0, 0x30, 0x00, 0x9c}));
    CHECK_FALSE(offers_ecdsa_suite(Bytes{0xc0}));
}
