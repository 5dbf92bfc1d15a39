// SocketAddress: parsing the config's address syntax, printing it back, and comparing addresses.
#include "config/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

namespace tlsfront {

namespace {

constexpr std::string_view unix_prefix = "unix:";

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

AddressParseResult failure(std::string cause) { return {std::nullopt, std::move(cause)}; }

const sockaddr_in& as_v4(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr_in&>(s); }
const sockaddr_in6& as_v6(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr_in6&>(s); }
const sockaddr_un& as_unix(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr_un&>(s); }

// An abstract socket (from the kernel, never from the config) starts with a NUL byte; show it as '@'.
std::string unix_path(const SocketAddress& address) {
    constexpr size_t path_offset = offsetof(sockaddr_un, sun_path);
    if (address.length <= path_offset) return {};
    const char* path = as_unix(address.storage).sun_path;
    size_t size = std::min<size_t>(address.length - path_offset, sizeof(sockaddr_un::sun_path));
    if (size > 0 && path[0] == '\0') return "@" + std::string(path + 1, size - 1);
    return std::string(path, strnlen(path, size));
}

// IPv4 and IPv6 addresses both as 16 bytes, IPv4 in its mapped form (::ffff:a.b.c.d).
std::array<unsigned char, 16> as_mapped_v6(const SocketAddress& address) {
    std::array<unsigned char, 16> bytes{};
    if (address.family() == AF_INET6) {
        std::memcpy(bytes.data(), &as_v6(address.storage).sin6_addr, 16);
    } else {
        bytes[10] = 0xff;
        bytes[11] = 0xff;
        std::memcpy(bytes.data() + 12, &as_v4(address.storage).sin_addr, 4);
    }
    return bytes;
}

bool is_ip(int family) { return family == AF_INET || family == AF_INET6; }

AddressParseResult parse_unix(std::string_view text, std::string_view path) {
    if (path.empty() || path.front() != '/') return failure("unix socket path must be absolute in " + quoted(text));
    if (path.size() >= sizeof(sockaddr_un::sun_path)) return failure("unix socket path too long");
    if (path.find('\0') != std::string_view::npos) return failure("unix socket path contains a NUL byte");
    SocketAddress address;
    auto& un = reinterpret_cast<sockaddr_un&>(address.storage);
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), path.size());
    address.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return {address, {}};
}

// Digits only, 1..65535. `port_text` is what follows the last ':'.
std::optional<uint16_t> parse_port(std::string_view port_text) {
    if (port_text.empty() || port_text.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : port_text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    return static_cast<uint16_t>(value);
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<SocketAddress> make_ip(std::string_view host, bool ipv6, uint16_t port) {
    std::string host_text(host);  // inet_pton needs a NUL-terminated string
    SocketAddress address;
    if (ipv6) {
        auto& v6 = reinterpret_cast<sockaddr_in6&>(address.storage);
        if (inet_pton(AF_INET6, host_text.c_str(), &v6.sin6_addr) != 1) return std::nullopt;
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        address.length = sizeof(sockaddr_in6);
    } else {
        auto& v4 = reinterpret_cast<sockaddr_in&>(address.storage);
        if (inet_pton(AF_INET, host_text.c_str(), &v4.sin_addr) != 1) return std::nullopt;
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        address.length = sizeof(sockaddr_in);
    }
    return address;
}

// The text split into host and optional port; `ipv6` when the host was bracketed or has colons.
struct HostPort {
    std::string_view host;
    std::optional<std::string_view> port;
    bool ipv6 = false;
};

std::optional<HostPort> split_host_port(std::string_view text) {
    if (text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        HostPort parts{text.substr(1, close - 1), std::nullopt, true};
        std::string_view rest = text.substr(close + 1);
        if (rest.empty()) return parts;
        if (rest.front() != ':') return std::nullopt;
        parts.port = rest.substr(1);
        return parts;
    }
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) return HostPort{text, std::nullopt, false};
    if (text.find(':', colon + 1) != std::string_view::npos) return HostPort{text, std::nullopt, true};
    return HostPort{text.substr(0, colon), text.substr(colon + 1), false};
}

}  // namespace

uint16_t SocketAddress::port() const {
    if (family() == AF_INET) return ntohs(as_v4(storage).sin_port);
    if (family() == AF_INET6) return ntohs(as_v6(storage).sin6_port);
    return 0;
}

std::string SocketAddress::host_string() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) return inet_ntop(AF_INET, &as_v4(storage).sin_addr, buffer, sizeof buffer);
    if (family() == AF_INET6) return inet_ntop(AF_INET6, &as_v6(storage).sin6_addr, buffer, sizeof buffer);
    if (family() == AF_UNIX) return unix_path(*this);
    return {};
}

std::string SocketAddress::to_string() const {
    if (is_unix()) return std::string(unix_prefix) + host_string();
    if (!is_ip(family())) return "unspecified";
    // Port 0 is "any port" (a [[local]] address): print the host as the config would write it.
    if (port() == 0) return host_string();
    std::string host = family() == AF_INET6 ? "[" + host_string() + "]" : host_string();
    return host + ":" + std::to_string(port());
}

bool SocketAddress::same_host(const SocketAddress& other) const {
    if (is_ip(family()) && is_ip(other.family())) return as_mapped_v6(*this) == as_mapped_v6(other);
    if (family() != other.family()) return false;
    if (is_unix()) return unix_path(*this) == unix_path(other);
    return length == other.length && std::memcmp(&storage, &other.storage, length) == 0;
}

bool SocketAddress::operator==(const SocketAddress& other) const { return same_host(other) && port() == other.port(); }

SocketAddress SocketAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
    SocketAddress address;
    if (sa == nullptr) return address;
    address.length = std::min<socklen_t>(len, sizeof(sockaddr_storage));
    std::memcpy(&address.storage, sa, address.length);
    return address;
}

AddressParseResult parse_socket_address(std::string_view text, bool allow_unix, bool require_port) {
    if (text.empty()) return failure("empty address");
    if (text.starts_with(unix_prefix)) {
        if (!allow_unix) return failure("a unix socket is not allowed here: " + quoted(text));
        return parse_unix(text, text.substr(unix_prefix.size()));
    }
    auto parts = split_host_port(text);
    if (!parts) return failure("bad address syntax in " + quoted(text) + " (use e.g. 127.0.0.1:143 or [::1]:143)");
    if (!parts->port && require_port) {
        if (parts->ipv6 && text.front() != '[')
            return failure("missing port in " + quoted(text) + " (write IPv6 as [addr]:port)");
        return failure("missing port in " + quoted(text));
    }
    uint16_t port = 0;
    if (parts->port) {
        if (parts->port->empty()) return failure("missing port in " + quoted(text));
        auto parsed = parse_port(*parts->port);
        if (!parsed && all_digits(*parts->port)) return failure("port out of range in " + quoted(text));
        if (!parsed) return failure("bad port in " + quoted(text));
        port = *parsed;
    }
    auto address = make_ip(parts->host, parts->ipv6, port);
    if (!address) return failure(quoted(text) + " is not a numeric IPv4/IPv6 address");
    return {address, {}};
}

// IPv4 ranges are compared in the mapped IPv6 space (prefix + 96), so "127.0.0.0/8" also
// matches a peer the kernel reports as ::ffff:127.0.0.1 on a dual-stack socket.
bool CidrRange::contains(const SocketAddress& address) const {
    if (!is_ip(address.family())) return false;
    auto want = as_mapped_v6(network);
    auto have = as_mapped_v6(address);
    unsigned bits = network.family() == AF_INET ? prefix_length + 96u : prefix_length;
    for (unsigned i = 0; i < 16 && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
        unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((want[i] & mask) != (have[i] & mask)) return false;
    }
    return true;
}

std::string CidrRange::to_string() const { return network.host_string() + "/" + std::to_string(prefix_length); }

CidrParseResult parse_cidr(std::string_view text) {
    size_t slash = text.find('/');
    auto host = parse_socket_address(text.substr(0, slash), false, false);
    if (!host.address || host.address->port() != 0)
        return {std::nullopt, quoted(text) + " is not an address range such as 10.0.0.0/8 or 2001:db8::/32"};
    unsigned max = host.address->family() == AF_INET ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
        std::string_view digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), ::isdigit))
            return {std::nullopt, "bad prefix length in " + quoted(text)};
        prefix = static_cast<unsigned>(std::stoul(std::string(digits)));
        if (prefix > max) return {std::nullopt, "prefix length over " + std::to_string(max) + " in " + quoted(text)};
    }
    return {CidrRange{*host.address, static_cast<uint8_t>(prefix)}, {}};
}

}  // namespace tlsfront
