// The server side of BoringSSL: every certificate of the config loaded once (CertificateCatalog),
// and one SSL_CTX per listener (ServerContext) with the listener's versions, ciphers, groups and
// tickets, which picks the certificate for each handshake in the early ClientHello callback.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.hpp"
#include "tls/certificate_loader.hpp"
#include "tls/sni_certificate_map.hpp"

namespace tlsfront {

class CertificateCatalog {
public:
    // Loads the [tls], [[local_name]], [[local]] and [listener.tls] certificates (each file once).
    // Throws CertificateError.
    explicit CertificateCatalog(const Config& config);

    // SNI exact > SNI wildcard > local address; null when none of those matches.
    const CertificateSet* find(std::string_view sni, const SocketAddress* local) const;
    bool uses_local_addresses() const { return map_.has_local_addresses(); }
    // The certificate a [tls] or [listener.tls] block names (loaded by the constructor).
    const CertificateSet* for_source(const CertificateSource& source) const;

    const std::vector<std::string>& warnings() const { return warnings_; }
    // Every certificate loaded (primary and alt), each once: for the expiry metrics.
    template <typename Visit>
    void for_each_certificate(Visit visit) const {
        for (const auto& [source, set] : loaded_) {
            visit(set->primary);
            if (set->alt) visit(*set->alt);
        }
    }

private:
    using SourceKey = std::tuple<std::string, std::string, std::string, std::string, std::string, std::string, std::string>;
    const CertificateSet* load(const CertificateSource& source);
    static SourceKey key_of(const CertificateSource& source);

    std::map<SourceKey, std::unique_ptr<CertificateSet>> loaded_;
    std::vector<const CertificateSet*> mapped_;  // indexes of map_
    SniCertificateMap map_;
    std::vector<std::string> warnings_;
};

class ServerContext {
public:
    // Throws CertificateError (e.g. a cipher list BoringSSL rejects, named at its config place).
    ServerContext(const ListenerConfig& listener, std::shared_ptr<const CertificateCatalog> catalog);

    // A server-side session for one accepted connection. `client_fd` is consulted only when a
    // [[local]] certificate needs the connection's local address.
    bssl::UniquePtr<SSL> new_session(int client_fd) const;

    SSL_CTX* get() const { return ctx_.get(); }
    const CertificateSet* choose(std::string_view sni, int client_fd) const;
    // A local_name entry, or the listener's own certificate, covers this SNI name.
    bool covers_name(std::string_view sni) const;

private:
    bssl::UniquePtr<SSL_CTX> ctx_;
    std::string alpn_wire_;  // the listener protocol's ALPN id, with its length byte
    std::shared_ptr<const CertificateCatalog> catalog_;
    const CertificateSet* listener_default_;
};

}  // namespace tlsfront
