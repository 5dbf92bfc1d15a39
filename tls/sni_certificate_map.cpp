// Certificate precedence: SNI exact > SNI wildcard (one label) > local address.
#include "tls/sni_certificate_map.hpp"

#include <algorithm>
#include <cctype>

namespace tlsfront {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

}  // namespace

bool SniCertificateMap::add_name(std::string_view name, size_t index) {
    std::string key = lower(name);
    if (key.starts_with("*.")) return wildcard_.emplace(key.substr(2), index).second;
    return exact_.emplace(std::move(key), index).second;
}

void SniCertificateMap::add_local_address(const SocketAddress& address, size_t index) {
    locals_.emplace_back(address, index);
}

std::optional<size_t> SniCertificateMap::find_by_name(std::string_view sni) const {
    if (sni.empty() || sni.size() > 253) return std::nullopt;
    std::string name = lower(sni);
    if (name.back() == '.') name.pop_back();  // an absolute name is the same name
    if (auto it = exact_.find(name); it != exact_.end()) return it->second;
    // "*.example.net" covers "a.example.net" but neither "example.net" nor "a.b.example.net".
    size_t dot = name.find('.');
    if (dot == std::string::npos || dot == 0) return std::nullopt;
    if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
    return std::nullopt;
}

std::optional<size_t> SniCertificateMap::find(std::string_view sni, const SocketAddress* local) const {
    if (auto by_name = find_by_name(sni)) return by_name;
    if (!local) return std::nullopt;
    for (const auto& [address, index] : locals_) {
        if (!address.same_host(*local)) continue;
        if (address.port() == 0 || address.port() == local->port()) return index;
    }
    return std::nullopt;
}

}  // namespace tlsfront
