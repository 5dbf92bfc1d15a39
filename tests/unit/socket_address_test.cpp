// SocketAddress: parsing the config's address syntax, printing and comparing addresses.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "config/socket_address.hpp"

using tlsfront::parse_socket_address;
using tlsfront::SocketAddress;

namespace {

SocketAddress parsed(std::string_view text, bool allow_unix = true, bool require_port = true) {
    auto result = parse_socket_address(text, allow_unix, require_port);
    INFO("error: ", result.error);
    REQUIRE(result.address.has_value());
    return *result.address;
}

std::string parse_error(std::string_view text, bool allow_unix = true, bool require_port = true) {
    auto result = parse_socket_address(text, allow_unix, require_port);
    CHECK_FALSE(result.address.has_value());
    return result.error;
}

}  // namespace

TEST_CASE("IPv4 host:port") {
    SocketAddress address = parsed("127.0.0.1:143");
    CHECK(address.family() == AF_INET);
    CHECK(address.length == sizeof(sockaddr_in));
    CHECK(address.port() == 143);
    CHECK(address.host_string() == "127.0.0.1");
    CHECK(address.to_string() == "127.0.0.1:143");
    CHECK_FALSE(address.is_unix());
}

TEST_CASE("IPv6 [host]:port") {
    SocketAddress address = parsed("[::1]:993");
    CHECK(address.family() == AF_INET6);
    CHECK(address.length == sizeof(sockaddr_in6));
    CHECK(address.port() == 993);
    CHECK(address.host_string() == "::1");
    CHECK(address.to_string() == "[::1]:993");
    CHECK(parsed("[::]:65535").to_string() == "[::]:65535");
    CHECK(parsed("[2001:DB8::1]:1").to_string() == "[2001:db8::1]:1");
}

TEST_CASE("unix:/path") {
    SocketAddress address = parsed("unix:/run/dovecot/imap");
    CHECK(address.is_unix());
    CHECK(address.port() == 0);
    CHECK(address.host_string() == "/run/dovecot/imap");
    CHECK(address.to_string() == "unix:/run/dovecot/imap");
    CHECK(std::strcmp(reinterpret_cast<const sockaddr_un*>(address.get())->sun_path, "/run/dovecot/imap") == 0);
}

TEST_CASE("unix socket path limits") {
    std::string longest = "/" + std::string(sizeof(sockaddr_un::sun_path) - 2, 'a');
    CHECK(parsed("unix:" + longest).host_string() == longest);
    CHECK(parse_error("unix:" + longest + "a") == "unix socket path too long");
    CHECK(parse_error("unix:run/imap") == "unix socket path must be absolute in 'unix:run/imap'");
    CHECK(parse_error("unix:") == "unix socket path must be absolute in 'unix:'");
    CHECK(parse_error("unix:/run/imap", false) == "a unix socket is not allowed here: 'unix:/run/imap'");
}

TEST_CASE("port errors") {
    CHECK(parse_error("1.2.3.4:70000") == "port out of range in '1.2.3.4:70000'");
    CHECK(parse_error("1.2.3.4:0") == "port out of range in '1.2.3.4:0'");
    CHECK(parse_error("1.2.3.4:99999999999") == "port out of range in '1.2.3.4:99999999999'");
    CHECK(parse_error("1.2.3.4:imap") == "bad port in '1.2.3.4:imap'");
    CHECK(parse_error("1.2.3.4:-1") == "bad port in '1.2.3.4:-1'");
    CHECK(parse_error("1.2.3.4:") == "missing port in '1.2.3.4:'");
    CHECK(parse_error("127.0.0.1") == "missing port in '127.0.0.1'");
    CHECK(parse_error("[::1]") == "missing port in '[::1]'");
    CHECK(parse_error("::1") == "missing port in '::1' (write IPv6 as [addr]:port)");
}

TEST_CASE("hosts must be numeric") {
    CHECK(parse_error("foo:25") == "'foo:25' is not a numeric IPv4/IPv6 address");
    CHECK(parse_error("localhost:25") == "'localhost:25' is not a numeric IPv4/IPv6 address");
    CHECK(parse_error("1.2.3:25") == "'1.2.3:25' is not a numeric IPv4/IPv6 address");
    CHECK(parse_error("[1.2.3.4]:25") == "'[1.2.3.4]:25' is not a numeric IPv4/IPv6 address");
    CHECK(parse_error("[fe80::1%eth0]:25") == "'[fe80::1%eth0]:25' is not a numeric IPv4/IPv6 address");
    CHECK(parse_error(":25") == "':25' is not a numeric IPv4/IPv6 address");
}

TEST_CASE("malformed syntax") {
    CHECK(parse_error("") == "empty address");
    CHECK(parse_error("[::1:993") == "bad address syntax in '[::1:993' (use e.g. 127.0.0.1:143 or [::1]:143)");
    CHECK(parse_error("[::1]993") == "bad address syntax in '[::1]993' (use e.g. 127.0.0.1:143 or [::1]:143)");
}

TEST_CASE("without require_port a bare host means port 0") {
    SocketAddress v4 = parsed("192.0.2.10", false, false);
    CHECK(v4.family() == AF_INET);
    CHECK(v4.port() == 0);
    CHECK(v4.to_string() == "192.0.2.10");
    SocketAddress v6 = parsed("2001:db8::1", false, false);
    CHECK(v6.family() == AF_INET6);
    CHECK(v6.port() == 0);
    CHECK(v6.to_string() == "2001:db8::1");
    CHECK(parsed("[2001:db8::1]", false, false) == v6);
    CHECK(parsed("192.0.2.10:993", false, false).port() == 993);
    CHECK(parsed("[2001:db8::1]:993", false, false).port() == 993);
    CHECK(parse_error("foo", false, false) == "'foo' is not a numeric IPv4/IPv6 address");
}

TEST_CASE("same_host ignores the port and treats IPv4-mapped IPv6 as IPv4") {
    SocketAddress v4 = parsed("192.0.2.10:993");
    CHECK(v4.same_host(parsed("192.0.2.10:143")));
    CHECK(v4.same_host(parsed("[::ffff:192.0.2.10]:1")));
    CHECK(parsed("[::ffff:192.0.2.10]:1").same_host(v4));
    CHECK_FALSE(v4.same_host(parsed("192.0.2.11:993")));
    CHECK_FALSE(v4.same_host(parsed("[::1]:993")));
    CHECK_FALSE(v4.same_host(parsed("unix:/x")));
    CHECK(parsed("unix:/x").same_host(parsed("unix:/x")));
    CHECK_FALSE(parsed("unix:/x").same_host(parsed("unix:/y")));
}

TEST_CASE("operator== compares host and port") {
    CHECK(parsed("192.0.2.10:993") == parsed("192.0.2.10:993"));
    CHECK(parsed("192.0.2.10:993") == parsed("[::ffff:192.0.2.10]:993"));
    CHECK_FALSE(parsed("192.0.2.10:993") == parsed("192.0.2.10:995"));
    CHECK(parsed("[::1]:993") == parsed("[0:0::1]:993"));
    CHECK_FALSE(parsed("0.0.0.0:993") == parsed("[::]:993"));
    CHECK(parsed("unix:/run/x") == parsed("unix:/run/x"));
}

TEST_CASE("from_sockaddr copies a kernel address") {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(4242);
    v6.sin6_addr = in6addr_loopback;
    SocketAddress address = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
    CHECK(address.to_string() == "[::1]:4242");
    CHECK(address == parsed("[::1]:4242"));

    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, "\0abstract", 9);
    SocketAddress abstract = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&un),
                                                          static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 9));
    CHECK(abstract.to_string() == "unix:@abstract");

    SocketAddress unnamed = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&un), sizeof(sa_family_t));
    CHECK(unnamed.to_string() == "unix:");
    CHECK(SocketAddress{}.to_string() == "unspecified");
}

TEST_CASE("CIDR ranges: parsing and membership, IPv4 also as mapped IPv6") {
    auto addr = [](const char* text) {
        auto parsed = tlsfront::parse_socket_address(text, false, false);
        REQUIRE(parsed.address);
        return *parsed.address;
    };
    auto range = tlsfront::parse_cidr("10.1.0.0/16");
    REQUIRE(range.range);
    CHECK(range.range->contains(addr("10.1.200.3:5000")));
    CHECK(range.range->contains(addr("[::ffff:10.1.0.1]:1")));
    CHECK_FALSE(range.range->contains(addr("10.2.0.1")));
    auto v6 = tlsfront::parse_cidr("2001:db8::/33");
    REQUIRE(v6.range);
    CHECK(v6.range->contains(addr("[2001:db8:7fff::1]:993")));
    CHECK_FALSE(v6.range->contains(addr("[2001:db8:8000::1]:993")));
    CHECK_FALSE(v6.range->contains(addr("10.1.0.1")));
    auto host = tlsfront::parse_cidr("127.0.0.2");
    REQUIRE(host.range);
    CHECK(host.range->prefix_length == 32);
    CHECK(host.range->contains(addr("127.0.0.2:1")));
    CHECK_FALSE(host.range->contains(addr("127.0.0.3:1")));
    auto all = tlsfront::parse_cidr("0.0.0.0/0");
    REQUIRE(all.range);
    CHECK(all.range->contains(addr("192.0.2.1")));
    for (const char* bad : {"10.0.0.0/", "10.0.0.0/x", "10.0.0.0/33", "::/129", "host/8", "10.0.0.1:80/8", "/8"})
        CHECK_MESSAGE(!tlsfront::parse_cidr(bad).range, bad);
}
