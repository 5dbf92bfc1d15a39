// SocketAddress: an IPv4, IPv6 or unix-socket address as the config writes it ("127.0.0.1:143",
// "[::1]:993", "unix:/run/dovecot/imap") and as the kernel wants it (sockaddr_storage).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tlsfront {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    bool is_unix() const { return family() == AF_UNIX; }
    uint16_t port() const;  // 0 for unix sockets

    // "127.0.0.1:993", "[::1]:993", "unix:/path"
    std::string to_string() const;
    // The address without the port: "127.0.0.1", "::1", "/path"
    std::string host_string() const;

    // Same address, port ignored (same path for unix sockets). IPv4-mapped IPv6 compares equal
    // to IPv4.
    bool same_host(const SocketAddress& other) const;
    // same_host() and the same port.
    bool operator==(const SocketAddress& other) const;

    static SocketAddress from_sockaddr(const sockaddr* sa, socklen_t len);
};

// An address range such as "10.0.0.0/8" or "2001:db8::/32" ("127.0.0.1" alone = /32).
struct CidrRange {
    SocketAddress network;  // port 0
    uint8_t prefix_length = 0;

    // True when `address` (IPv4, IPv6 or IPv4-mapped IPv6) lies in the range.
    bool contains(const SocketAddress& address) const;
    std::string to_string() const;
};

struct CidrParseResult {
    std::optional<CidrRange> range;
    std::string error;
};
CidrParseResult parse_cidr(std::string_view text);

// Parses "host:port", "[v6]:port" or "unix:/path". `host` must be a numeric address (no DNS
// lookups at load time: a mail proxy must start even when the resolver is down). Returns the
// cause on failure.
struct AddressParseResult {
    std::optional<SocketAddress> address;
    std::string error;
};
AddressParseResult parse_socket_address(std::string_view text, bool allow_unix, bool require_port);

}  // namespace tlsfront
