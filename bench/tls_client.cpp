// Client SSL_CTX set-up, per-connection SSL objects and per-slot session storage.
#include "bench/tls_client.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace tlsfront::bench {
namespace {

// Where an SSL finds its slot's saved-session pointer from inside the new-session callback.
int saved_session_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

}  // namespace

TlsClientContext::TlsClientContext(const TlsClientSettings& settings)
    : settings_(settings), ctx_(SSL_CTX_new(TLS_method())) {
    if (!ctx_) throw std::runtime_error("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx_.get(), settings.version ? settings.version : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx_.get(), settings.version ? settings.version : TLS1_3_VERSION);
    if (settings.cafile.empty()) {
        SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
    } else {
        if (!SSL_CTX_load_verify_locations(ctx_.get(), settings.cafile.c_str(), nullptr)) {
            ERR_clear_error();
            throw std::runtime_error("cannot load CA file " + settings.cafile);
        }
        SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
        if (!settings.sni.empty())
            X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx_.get()), settings.sni.data(), settings.sni.size());
    }
    if (settings.resumption) {
        // No internal cache: the callback hands each session to its slot, and only the slot offers it.
        SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(ctx_.get(), store_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_OFF);
    }
    if (!settings.alpn.empty()) {
        alpn_wire_.push_back(static_cast<uint8_t>(settings.alpn.size()));
        alpn_wire_.insert(alpn_wire_.end(), settings.alpn.begin(), settings.alpn.end());
    }
}

int TlsClientContext::store_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* saved = static_cast<bssl::UniquePtr<SSL_SESSION>*>(SSL_get_ex_data(ssl, saved_session_index()));
    if (!saved) return 0;  // not ours to keep: BoringSSL frees it
    saved->reset(session);  // TLS 1.3 sends several tickets: the last one wins
    return 1;
}

bssl::UniquePtr<SSL> TlsClientContext::new_connection(TlsTransport* transport,
                                                      bssl::UniquePtr<SSL_SESSION>* saved_session) const {
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    if (!ssl || !attach_transport(ssl.get(), transport)) return nullptr;
    SSL_set_connect_state(ssl.get());
    if (!settings_.sni.empty() && !SSL_set_tlsext_host_name(ssl.get(), settings_.sni.c_str())) return nullptr;
    if (!alpn_wire_.empty() && SSL_set_alpn_protos(ssl.get(), alpn_wire_.data(), alpn_wire_.size()) != 0)
        return nullptr;
    if (settings_.resumption && saved_session) {
        SSL_set_ex_data(ssl.get(), saved_session_index(), saved_session);
        if (*saved_session && !SSL_set_session(ssl.get(), saved_session->get())) return nullptr;
    }
    return ssl;
}

std::string ssl_failure_text(const SSL* ssl, int ret, const char* during) {
    int error = SSL_get_error(ssl, ret);
    uint32_t code = ERR_peek_error();
    std::string text = during;
    text += ": ";
    if (const char* reason = code ? ERR_reason_error_string(code) : nullptr) {
        text += reason;
    } else if (error == SSL_ERROR_SYSCALL) {
        text += "transport error";
    } else {
        text += "SSL error " + std::to_string(error);
    }
    if (ssl && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE && SSL_get_verify_result(ssl) != X509_V_OK)
        text += std::string(" (") + X509_verify_cert_error_string(SSL_get_verify_result(ssl)) + ")";
    ERR_clear_error();
    return text;
}

}  // namespace tlsfront::bench
