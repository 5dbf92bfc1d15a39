// SniCertificateMap: which certificate serves a handshake, by SNI name (exact, then one-label
// wildcard) and then by the connection's local address. It maps to indexes so that the rule can be
// tested without certificates; the caller falls back to the listener's and the global certificate.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/socket_address.hpp"

namespace tlsfront {

class SniCertificateMap {
public:
    // `name` is "host.example" or "*.example"; matching ignores ASCII case. Returns false when the
    // name is already mapped (the first mapping wins).
    bool add_name(std::string_view name, size_t index);
    // Port 0 matches any local port.
    void add_local_address(const SocketAddress& address, size_t index);

    bool has_local_addresses() const { return !locals_.empty(); }
    bool empty() const { return exact_.empty() && wildcard_.empty() && locals_.empty(); }

    // SNI exact > SNI wildcard (exactly one label) > local address. `local` may be null.
    std::optional<size_t> find(std::string_view sni, const SocketAddress* local) const;

private:
    std::optional<size_t> find_by_name(std::string_view sni) const;

    std::unordered_map<std::string, size_t> exact_;
    std::unordered_map<std::string, size_t> wildcard_;  // key: the part after "*."
    std::vector<std::pair<SocketAddress, size_t>> locals_;
};

}  // namespace tlsfront
