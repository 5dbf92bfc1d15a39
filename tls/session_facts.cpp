// SessionFacts from a BoringSSL session.
#include "tls/session_facts.hpp"

#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/x509.h>

namespace tlsfront {
namespace {

std::string common_name(X509* cert) {
    char cn[256];
    X509_NAME* subject = cert ? X509_get_subject_name(cert) : nullptr;
    int len = subject ? X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn) : -1;
    return len > 0 ? std::string(cn, static_cast<size_t>(len)) : std::string();
}

std::string key_algorithm(X509* cert) {
    bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(cert));
    if (!key) return {};
    const char* kind = EVP_PKEY_id(key.get()) == EVP_PKEY_RSA ? "RSA"
                       : EVP_PKEY_id(key.get()) == EVP_PKEY_EC ? "EC"
                                                                : OBJ_nid2sn(EVP_PKEY_id(key.get()));
    return std::string(kind ? kind : "?") + std::to_string(EVP_PKEY_bits(key.get()));
}

}  // namespace

SessionLogFacts log_facts(const SSL* ssl) {
    SessionLogFacts facts;
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) facts.sni = sni;
    if (!SSL_is_init_finished(ssl)) return facts;
    facts.version = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) facts.cipher = SSL_CIPHER_standard_name(cipher);
    bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl));
    facts.client_cn = common_name(cert.get());
    return facts;
}

SessionFacts describe_session(const SSL* ssl) {
    SessionFacts facts;
    facts.version = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) facts.cipher = SSL_CIPHER_standard_name(cipher);
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) facts.sni = sni;
    const uint8_t* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn) facts.alpn = std::string_view(reinterpret_cast<const char*>(alpn), alpn_len);
    facts.verify_result = SSL_get_verify_result(ssl);
    bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl));
    if (!cert) return facts;
    facts.certificate_in_session = true;
    facts.certificate_on_connection = !SSL_session_reused(const_cast<SSL*>(ssl));
    facts.client_cn = common_name(cert.get());
    const char* sig = OBJ_nid2sn(X509_get_signature_nid(cert.get()));
    facts.client_sig_alg = sig ? sig : "";
    facts.client_key_alg = key_algorithm(cert.get());
    return facts;
}

namespace {

int sent_alert_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

void remember_sent_alert(const SSL* ssl, int type, int value) {
    if (type != SSL_CB_WRITE_ALERT) return;
    // ex_data of a const SSL: the slot is this callback's own, written only here.
    SSL_set_ex_data(const_cast<SSL*>(ssl), sent_alert_index(), reinterpret_cast<void*>(intptr_t{(value & 0xff) + 1}));
}

}  // namespace

void record_sent_alerts(SSL_CTX* ctx) { SSL_CTX_set_info_callback(ctx, remember_sent_alert); }

const char* last_sent_alert(const SSL* ssl) {
    auto stored = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, sent_alert_index()));
    return stored ? SSL_alert_desc_string_long(static_cast<int>(stored - 1)) : nullptr;
}

}  // namespace tlsfront
