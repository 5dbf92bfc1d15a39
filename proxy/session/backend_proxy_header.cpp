// SessionFacts -> TlsFacts -> PROXY v1/v2 bytes, and the config-time size check.
#include "proxy/session/backend_proxy_header.hpp"

#include <charconv>
#include <string>

#include "config/config_loader.hpp"
#include "proxy/protocol/proxy_header.hpp"
#include "tls/session_facts.hpp"

namespace tlsfront {

size_t write_backend_proxy_header(std::span<uint8_t> out, const ListenerConfig& listener, const SSL* ssl,
                                  const SocketAddress& client, const SocketAddress& local, uint64_t connection_id) {
    if (listener.proxy_protocol == ProxyProtocolVersion::v1) return write_proxy_v1(out, client, local);
    char id[24];
    auto id_end = std::to_chars(id, id + sizeof id, connection_id, 16).ptr;  // as in the log line
    if (!ssl) {  // an SMTP session without TLS: no TLS facts to tell
        TlsFacts facts;
        facts.unique_id = std::string_view(id, static_cast<size_t>(id_end - id));
        return write_proxy_v2(out, client, local, facts, listener.proxy_tlvs & tlv_unique_id);
    }
    SessionFacts session = describe_session(ssl);
    TlsFacts facts;
    facts.alpn = session.alpn;
    facts.sni = session.sni;
    facts.unique_id = std::string_view(id, static_cast<size_t>(id_end - id));
    facts.version = session.version;
    facts.cipher = session.cipher;
    facts.sig_alg = session.client_sig_alg;
    facts.key_alg = session.client_key_alg;
    facts.client_cn = session.client_cn;
    facts.client_cert_conn = session.certificate_on_connection;
    facts.client_cert_sess = session.certificate_in_session;
    facts.verify_result = static_cast<uint32_t>(session.verify_result);
    return write_proxy_v2(out, client, local, facts, listener.proxy_tlvs);
}

void check_proxy_header_fits(const ListenerConfig& listener) {
    size_t worst = 0;
    switch (listener.proxy_protocol) {
    case ProxyProtocolVersion::off: return;
    case ProxyProtocolVersion::v1: worst = kProxyV1MaxSize; break;
    case ProxyProtocolVersion::v2: worst = proxy_v2_worst_case_size(listener.proxy_tlvs); break;
    }
    if (worst <= listener.proxy_header_limit) return;
    throw ConfigError(listener.proxy_protocol_place.describe() + ": listener '" + listener.name +
                      "': the PROXY header can reach " + std::to_string(worst) + " bytes, over proxy_header_limit " +
                      std::to_string(listener.proxy_header_limit) +
                      " (the backend would refuse it): send fewer TLVs (proxy_protocol_tlvs) or raise the limit");
}

}  // namespace tlsfront
