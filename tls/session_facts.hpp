// SessionFacts: what a finished handshake tells the backend and the log: protocol version,
// cipher, SNI, ALPN, and the client certificate (subject CN, algorithms, verify result); and
// the alert a failed one sent.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace tlsfront {

struct SessionFacts {
    std::string_view version;  // "TLSv1.3"
    std::string_view cipher;   // IETF name, "TLS_AES_128_GCM_SHA256"
    std::string_view sni;
    std::string_view alpn;
    bool certificate_in_session = false;     // the session carries a client certificate
    bool certificate_on_connection = false;  // ... presented in this handshake (not resumed)
    long verify_result = X509_V_OK;
    std::string client_cn;
    std::string client_sig_alg;  // "RSA-SHA256", as haproxy's ssl_c_sig_alg
    std::string client_key_alg;  // "RSA2048", "EC256", as haproxy's ssl_c_key_alg
};

// Valid while `ssl` lives (the string_views point into it). Call after the handshake.
SessionFacts describe_session(const SSL* ssl);

// What the close log line says of a session: static text and owned copies, so it can outlive
// the SSL object (freed early once tlsfront's own record layer holds the keys).
struct SessionLogFacts {
    const char* version = nullptr;  // once the handshake finished: "TLSv1.3"
    const char* cipher = nullptr;   // once the handshake finished: "TLS_AES_128_GCM_SHA256"
    std::string sni;
    std::string client_cn;  // the client certificate's subject CN, if it sent one
};
SessionLogFacts log_facts(const SSL* ssl);

// Some refusals (an SNI BoringSSL finds malformed, say) send an alert but queue no error code:
// the context records every alert a session sends, so the log can name it ("unrecognized name").
void record_sent_alerts(SSL_CTX* ctx);
// The description of the last alert `ssl` sent, or nullptr. Static text.
const char* last_sent_alert(const SSL* ssl);

}  // namespace tlsfront
