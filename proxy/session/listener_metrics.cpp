// Handshake failure causes: BoringSSL's reason strings folded into a few label values.
#include "proxy/session/listener_metrics.hpp"

#include <cstring>

namespace tlsfront {

const char* to_string(HandshakeFailure failure) {
    switch (failure) {
    case HandshakeFailure::timeout: return "timeout";
    case HandshakeFailure::client_closed: return "client_closed";
    case HandshakeFailure::protocol_version: return "protocol_version";
    case HandshakeFailure::no_shared_cipher: return "no_shared_cipher";
    case HandshakeFailure::alpn: return "alpn";
    case HandshakeFailure::sni: return "sni";
    case HandshakeFailure::client_certificate: return "client_certificate";
    case HandshakeFailure::not_tls: return "not_tls";
    case HandshakeFailure::proxy_header: return "proxy_header";
    case HandshakeFailure::other: return "other";
    }
    return "other";
}

HandshakeFailure classify_handshake_failure(bool timed_out, bool client_closed, bool proxy_header, const char* error) {
    if (proxy_header) return HandshakeFailure::proxy_header;
    if (timed_out) return HandshakeFailure::timeout;
    if (client_closed) return HandshakeFailure::client_closed;
    struct Rule {
        const char* fragment;
        HandshakeFailure failure;
    };
    static constexpr Rule rules[] = {
        {"UNSUPPORTED_PROTOCOL", HandshakeFailure::protocol_version},
        {"PROTOCOL_VERSION", HandshakeFailure::protocol_version},
        {"NO_SHARED_CIPHER", HandshakeFailure::no_shared_cipher},
        {"NO_SHARED_GROUP", HandshakeFailure::no_shared_cipher},
        {"NO_APPLICATION_PROTOCOL", HandshakeFailure::alpn},
        {"ALPN", HandshakeFailure::alpn},
        {"UNRECOGNIZED_NAME", HandshakeFailure::sni},
        {"SERVERNAME", HandshakeFailure::sni},
        {"PEER_DID_NOT_RETURN_A_CERTIFICATE", HandshakeFailure::client_certificate},
        {"CERTIFICATE", HandshakeFailure::client_certificate},
        {"WRONG_VERSION_NUMBER", HandshakeFailure::not_tls},
        {"HTTP_REQUEST", HandshakeFailure::not_tls},
        {"HTTPS_PROXY_REQUEST", HandshakeFailure::not_tls},
        {"RECORD", HandshakeFailure::not_tls},
        {"DECODE_ERROR", HandshakeFailure::not_tls},
    };
    if (error)
        for (const Rule& rule : rules)
            if (std::strstr(error, rule.fragment)) return rule.failure;
    return HandshakeFailure::other;
}

}  // namespace tlsfront
