// The small behaviours of the plain config types: place descriptions and enum names.
#include "config/config.hpp"

#include <algorithm>

namespace tlsfront {
namespace {

void add_certificate_files(const CertificateSource& source, std::vector<const ConfiguredPath*>& out) {
    for (const ConfiguredPath* path :
         {&source.cert, &source.key, &source.key_password_file, &source.alt_cert, &source.alt_key,
          &source.ocsp_response, &source.alt_ocsp_response})
        out.push_back(path);
}

void add_tls_files(const TlsSettings& tls, std::vector<const ConfiguredPath*>& out) {
    add_certificate_files(tls.certificate, out);
    for (const ConfiguredPath* path : {&tls.client_ca, &tls.client_crl, &tls.ticket_key_file}) out.push_back(path);
}

}  // namespace

std::vector<std::string> named_files(const Config& config) {
    std::vector<const ConfiguredPath*> paths;
    add_tls_files(config.tls, paths);
    for (const auto& listener : config.listeners) add_tls_files(listener.tls, paths);
    for (const auto& entry : config.local_names) add_certificate_files(entry.certificate, paths);
    for (const auto& entry : config.locals) add_certificate_files(entry.certificate, paths);
    std::vector<std::string> files;
    for (const ConfiguredPath* path : paths)
        if (!path->empty() && std::find(files.begin(), files.end(), path->path) == files.end())
            files.push_back(path->path);
    return files;
}

std::string SourcePlace::describe() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column); }

const char* to_string(MailProtocol p) {
    switch (p) {
        case MailProtocol::imap: return "imap";
        case MailProtocol::pop3: return "pop3";
        case MailProtocol::smtp: return "smtp";
    }
    return "unknown";
}

const char* to_string(ProxyProtocolVersion v) {
    switch (v) {
        case ProxyProtocolVersion::off: return "off";
        case ProxyProtocolVersion::v1: return "v1";
        case ProxyProtocolVersion::v2: return "v2";
    }
    return "unknown";
}

const char* to_string(TlsVersion v) {
    switch (v) {
        case TlsVersion::tls1_2: return "1.2";
        case TlsVersion::tls1_3: return "1.3";
    }
    return "unknown";
}

const char* to_string(StartTlsMode m) {
    switch (m) {
        case StartTlsMode::off: return "off";
        case StartTlsMode::required: return "required";
        case StartTlsMode::optional: return "optional";
    }
    return "unknown";
}

const char* to_string(VerifyClient v) {
    switch (v) {
        case VerifyClient::off: return "off";
        case VerifyClient::optional: return "optional";
        case VerifyClient::required: return "required";
    }
    return "unknown";
}

std::optional<ProxyTlv> proxy_tlv_from_name(std::string_view name) {
    static constexpr std::pair<std::string_view, ProxyTlv> names[] = {
        {"alpn", tlv_alpn},       {"authority", tlv_authority},   {"unique_id", tlv_unique_id},
        {"ssl", tlv_ssl},         {"ssl_version", tlv_ssl_version}, {"ssl_cn", tlv_ssl_cn},
        {"ssl_cipher", tlv_ssl_cipher}, {"ssl_sig_alg", tlv_ssl_sig_alg}, {"ssl_key_alg", tlv_ssl_key_alg}};
    for (const auto& [text, tlv] : names)
        if (text == name) return tlv;
    return std::nullopt;
}

ProxyTlvProfile default_proxy_tlvs(int protocol) {
    if (protocol == static_cast<int>(MailProtocol::smtp)) return *proxy_tlv_profile("minimal");
    return {tlv_alpn | tlv_authority | tlv_unique_id | tlv_ssl | tlv_ssl_version, 1500};
}

std::optional<ProxyTlvProfile> proxy_tlv_profile(std::string_view name) {
    constexpr uint16_t all_ssl = tlv_ssl | tlv_ssl_version | tlv_ssl_cn | tlv_ssl_cipher | tlv_ssl_sig_alg | tlv_ssl_key_alg;
    if (name == "minimal") return ProxyTlvProfile{tlv_ssl | tlv_ssl_version | tlv_unique_id, kDefaultProxyHeaderLimit};
    if (name == "dovecot") return ProxyTlvProfile{tlv_alpn | tlv_authority | tlv_unique_id | all_ssl, 1500};
    if (name == "postfix") return ProxyTlvProfile{0, 536};
    if (name == "none") return ProxyTlvProfile{0, kDefaultProxyHeaderLimit};
    return std::nullopt;
}

}  // namespace tlsfront
