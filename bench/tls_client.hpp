// TlsClientContext: the BoringSSL client side of the load generator. One SSL_CTX per load thread
// (nothing shared between threads), SNI/ALPN/version/verification from the command line, and the
// session handling that tells the two handshake scenarios apart: `handshake` never offers a
// session (every handshake is a full one), `resume` offers each slot the session its previous
// connection received and stores the new one (no shared cache: one session per client slot).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tls/tls_transport.hpp"

namespace tlsfront::bench {

struct TlsClientSettings {
    std::string sni;
    std::string alpn;
    std::string cafile;         // empty: no verification
    uint16_t version = 0;       // 0: TLS 1.2 or 1.3
    bool resumption = false;
};

class TlsClientContext {
public:
    // Throws std::runtime_error when the CA file cannot be loaded.
    explicit TlsClientContext(const TlsClientSettings& settings);

    // A client SSL whose records go through `transport`. With resumption on, `saved_session`
    // (owned by the caller, outliving the SSL) is offered when set and replaced by every session
    // the server issues. Null when BoringSSL is out of memory.
    bssl::UniquePtr<SSL> new_connection(TlsTransport* transport, bssl::UniquePtr<SSL_SESSION>* saved_session) const;

private:
    static int store_new_session(SSL* ssl, SSL_SESSION* session);

    TlsClientSettings settings_;
    bssl::UniquePtr<SSL_CTX> ctx_;
    std::vector<uint8_t> alpn_wire_;  // length-prefixed, as SSL_set_alpn_protos wants it
};

// "handshake: TLSV1_ALERT_NO_APPLICATION_PROTOCOL" and the like, for a failed SSL call. Clears
// the thread's error queue.
std::string ssl_failure_text(const SSL* ssl, int ret, const char* during);

}  // namespace tlsfront::bench
