// The validated, immutable configuration: what config_loader.cpp produces from the TOML file and
// what tls/ and proxy/ consume. Plain data only; no TOML types leak out of config/.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/proxy_tlv.hpp"
#include "config/socket_address.hpp"

namespace tlsfront {

// Where a value came from, so that errors found after parsing (a certificate that does not load,
// a key that does not match) can still name FILE:LINE:COLUMN.
struct SourcePlace {
    std::string file;
    uint32_t line = 0;
    uint32_t column = 0;

    std::string describe() const;  // "FILE:LINE:COLUMN"
};

// A path named in the config, with the place that named it.
struct ConfiguredPath {
    std::string path;
    SourcePlace place;

    bool empty() const { return path.empty(); }
};

// A certificate chain and its private key (PEM; both may be the same file).
struct CertificateSource {
    ConfiguredPath cert;
    ConfiguredPath key;
    ConfiguredPath key_password_file;  // first line of the file is the passphrase
    ConfiguredPath alt_cert;           // second certificate of another key type
    ConfiguredPath alt_key;
    ConfiguredPath ocsp_response;      // DER OCSP response to staple with cert
    ConfiguredPath alt_ocsp_response;  // ... with alt_cert

    bool has_cert() const { return !cert.empty(); }
};

enum class TlsVersion : uint16_t { tls1_2 = 0x0303, tls1_3 = 0x0304 };
enum class VerifyClient { off, optional, required };

// [tls] and [listener.tls]: the listener's block is the global one with its own keys laid over.
struct TlsSettings {
    CertificateSource certificate;
    TlsVersion min_version = TlsVersion::tls1_2;
    std::string ciphers;  // TLS 1.2 cipher list; empty = the secure default in tls/
    SourcePlace ciphers_place;
    std::vector<std::string> groups{"X25519", "P-256"};
    SourcePlace groups_place;
    bool session_tickets = true;
    // Session-ticket keys shared by a fleet (format in tls/ticket_keys.hpp); empty = keys derived
    // in memory, rotated every 12 hours.
    ConfiguredPath ticket_key_file;
    // Client certificates (Dovecot ssl_ca / ssl_verify_client_cert).
    ConfiguredPath client_ca;
    ConfiguredPath client_crl;
    VerifyClient verify_client = VerifyClient::off;
    SourcePlace verify_client_place;
    // Refuse a handshake whose SNI names a host no certificate covers (ALPACA).
    bool strict_sni = false;
};

enum class MailProtocol { imap, pop3, smtp };
// off: implicit TLS (993, 995, 465). required: the client connects in plaintext and must upgrade
// with STARTTLS/STLS before anything else (143, 110, 587). optional: SMTP only (25), where an MTA
// that never says STARTTLS still delivers, over a plaintext session to the backend.
enum class StartTlsMode : uint8_t { off, required, optional };
enum class ProxyProtocolVersion { off, v1, v2 };
enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };
enum class LogFormat { text, json };

struct ListenerConfig {
    std::string name;
    std::vector<SocketAddress> listen;  // IPv4 and/or IPv6
    MailProtocol protocol = MailProtocol::imap;
    StartTlsMode starttls = StartTlsMode::off;
    std::string greeting_name;  // the host name in tlsfront's own greetings before TLS
    SocketAddress backend;  // host:port or unix:/path
    ProxyProtocolVersion proxy_protocol = ProxyProtocolVersion::off;
    // ProxyTlv bits; without proxy_protocol_tlvs, default_proxy_tlvs(protocol).
    uint16_t proxy_tlvs = tlv_ssl | tlv_ssl_version | tlv_unique_id;
    uint32_t proxy_header_limit = kDefaultProxyHeaderLimit;  // bytes the backend accepts
    SourcePlace proxy_protocol_place;
    std::vector<CidrRange> accept_proxy_from;  // balancers whose inbound PROXY header is trusted
    TlsSettings tls;  // effective settings: [tls] merged with [listener.tls]
    SourcePlace place;  // the [[listener]] table
};

// [[local_name]]: certificate chosen by SNI. Names are lower-case; "*.example.net" matches exactly
// one label in front of example.net.
struct LocalNameConfig {
    std::vector<std::string> names;
    CertificateSource certificate;
    SourcePlace place;
};

// [[local]]: certificate chosen by the local (destination) address of the connection.
struct LocalAddressConfig {
    SocketAddress address;  // port 0: any port
    CertificateSource certificate;
    SourcePlace place;
};

struct ServerSettings {
    unsigned workers = 0;  // 0 = one per online CPU
    uint64_t max_connections = 100000;
    std::chrono::milliseconds handshake_timeout{10'000};
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds idle_timeout{35 * 60'000};
    std::chrono::milliseconds shutdown_grace{30'000};
    LogLevel log_level = LogLevel::info;
    LogFormat log_format = LogFormat::text;
    // Dropped to after binding the listeners and loading the keys; empty = stay as started.
    std::string user;
    std::string group;  // empty = the user's primary group
    // GET /metrics and /healthz on this address; none = no admin endpoint.
    std::optional<SocketAddress> admin;
};

struct Config {
    std::string path;
    ServerSettings server;
    TlsSettings tls;  // the global [tls] block
    std::vector<LocalNameConfig> local_names;
    std::vector<LocalAddressConfig> locals;
    std::vector<ListenerConfig> listeners;
};

// Every file the config names (certificates, keys, password files, CAs, CRLs, ticket keys), each once.
std::vector<std::string> named_files(const Config& config);

const char* to_string(MailProtocol p);
const char* to_string(StartTlsMode m);
const char* to_string(ProxyProtocolVersion v);
const char* to_string(TlsVersion v);
const char* to_string(VerifyClient v);

}  // namespace tlsfront
