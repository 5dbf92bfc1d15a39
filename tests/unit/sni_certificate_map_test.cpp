// Certificate precedence: SNI exact > SNI wildcard (one label) > local address > (caller's) default.
#include <doctest/doctest.h>

#include "tls/sni_certificate_map.hpp"

using namespace tlsfront;

namespace {

SocketAddress address(const char* text) {
    auto parsed = parse_socket_address(text, false, false);
    REQUIRE(parsed.address);
    return *parsed.address;
}

enum : size_t { kExact = 1, kWildcard = 2, kLocal = 3, kLocalPort = 4, kOtherExact = 5 };

SniCertificateMap sample_map() {
    SniCertificateMap map;
    CHECK(map.add_name("imap.example.org", kExact));
    CHECK(map.add_name("*.example.net", kWildcard));
    CHECK(map.add_name("mail.example.net", kOtherExact));
    map.add_local_address(address("127.0.0.2"), kLocal);
    map.add_local_address(address("127.0.0.3:993"), kLocalPort);
    return map;
}

}  // namespace

TEST_CASE("exact SNI name wins, case-insensitively, with or without the trailing dot") {
    auto map = sample_map();
    CHECK(map.find("imap.example.org", nullptr) == kExact);
    CHECK(map.find("IMAP.Example.ORG", nullptr) == kExact);
    CHECK(map.find("imap.example.org.", nullptr) == kExact);
}

TEST_CASE("an exact name beats a wildcard that also covers it") {
    auto map = sample_map();
    CHECK(map.find("mail.example.net", nullptr) == kOtherExact);
    CHECK(map.find("pop.example.net", nullptr) == kWildcard);
}

TEST_CASE("a wildcard covers exactly one label") {
    auto map = sample_map();
    CHECK(map.find("a.example.net", nullptr) == kWildcard);
    CHECK_FALSE(map.find("a.b.example.net", nullptr).has_value());
    CHECK_FALSE(map.find("example.net", nullptr).has_value());
    CHECK_FALSE(map.find(".example.net", nullptr).has_value());
}

TEST_CASE("SNI beats the local address; the local address serves when SNI does not match") {
    auto map = sample_map();
    auto local = address("127.0.0.2:993");
    CHECK(map.find("imap.example.org", &local) == kExact);
    CHECK(map.find("a.example.net", &local) == kWildcard);
    CHECK(map.find("unknown.example.com", &local) == kLocal);
    CHECK(map.find("", &local) == kLocal);
}

TEST_CASE("a local address with a port matches only that port") {
    auto map = sample_map();
    auto right = address("127.0.0.3:993");
    auto wrong = address("127.0.0.3:995");
    CHECK(map.find("", &right) == kLocalPort);
    CHECK_FALSE(map.find("", &wrong).has_value());
}

TEST_CASE("no match leaves the choice to the listener or global default") {
    auto map = sample_map();
    auto other = address("127.0.0.9:993");
    CHECK_FALSE(map.find("unknown.example.com", &other).has_value());
    CHECK_FALSE(map.find("", nullptr).has_value());
}

TEST_CASE("the first mapping of a name wins") {
    SniCertificateMap map;
    CHECK(map.add_name("a.example", 1));
    CHECK_FALSE(map.add_name("A.example", 2));
    CHECK(map.find("a.example", nullptr) == 1);
}
