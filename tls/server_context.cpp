// SSL_CTX set-up with secure defaults, and certificate choice in the early ClientHello callback.
#include "tls/server_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "config/config_checks.hpp"
#include "tls/client_hello.hpp"
#include "tls/pem_file.hpp"
#include "tls/session_facts.hpp"
#include "tls/ticket_keys.hpp"

namespace tlsfront {
namespace {

// Forward-secret AEAD suites only (TLS 1.2); TLS 1.3 suites are fixed in BoringSSL.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

int context_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int client_fd_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

std::string ssl_error_text() {
    uint32_t code = ERR_get_error();
    ERR_clear_error();
    const char* reason = code ? ERR_reason_error_string(code) : nullptr;
    return reason ? reason : "rejected";
}

std::span<const uint8_t> extension(const SSL_CLIENT_HELLO* hello, uint16_t type) {
    const uint8_t* data = nullptr;
    size_t len = 0;
    if (!SSL_early_callback_ctx_extension_get(hello, type, &data, &len)) return {};
    return {data, len};
}

bool client_accepts(const SSL_CLIENT_HELLO* hello, const CertifiedKey& key) {
    auto sigalgs = parse_signature_algorithms(extension(hello, TLSEXT_TYPE_signature_algorithms));
    if (!sigalgs) return key.kind == KeyKind::rsa;  // pre-1.2 default: RSA is the safe assumption
    bool sigalg_ok = std::any_of(sigalgs->begin(), sigalgs->end(), [&](uint16_t scheme) {
        return std::find(key.signature_algorithms.begin(), key.signature_algorithms.end(), scheme) !=
               key.signature_algorithms.end();
    });
    if (!sigalg_ok || key.kind != KeyKind::ecdsa) return sigalg_ok;
    // A TLS 1.2-only client also needs an ECDHE_ECDSA cipher suite.
    return offers_tls13(extension(hello, TLSEXT_TYPE_supported_versions)) ||
           offers_ecdsa_suite({hello->cipher_suites, hello->cipher_suites_len});
}

// With an alt_cert, prefer the non-RSA key (cheaper to sign) when the client can use it.
const CertifiedKey& pick_key(const SSL_CLIENT_HELLO* hello, const CertificateSet& set) {
    if (!set.alt) return set.primary;
    const CertifiedKey& fast = set.primary.kind == KeyKind::rsa ? *set.alt : set.primary;
    const CertifiedKey& rsa = set.primary.kind == KeyKind::rsa ? set.primary : *set.alt;
    return client_accepts(hello, fast) ? fast : rsa;
}

// Only for a client that asked (status_request), and only while the response is current: one
// that expires while tlsfront runs is no longer sent (the next reload warns about it).
bool staple_ocsp_response(const SSL_CLIENT_HELLO* hello, const CertifiedKey& key) {
    if (!key.ocsp_response || extension(hello, TLSEXT_TYPE_status_request).empty()) return true;
    if (key.ocsp_next_update != 0 && time(nullptr) >= key.ocsp_next_update) return true;
    return SSL_set_ocsp_response(hello->ssl, CRYPTO_BUFFER_data(key.ocsp_response.get()),
                                 CRYPTO_BUFFER_len(key.ocsp_response.get()));
}

ssl_select_cert_result_t select_certificate(const SSL_CLIENT_HELLO* hello) {
    SSL* ssl = hello->ssl;
    auto* context = static_cast<const ServerContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    int fd = static_cast<int>(reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, client_fd_index()))) - 1;
    const CertificateSet* set = context ? context->choose(sni ? sni : "", fd) : nullptr;
    if (!set) return ssl_select_cert_error;
    const CertifiedKey& key = pick_key(hello, *set);
    if (!SSL_set_chain_and_key(ssl, key.chain_view.data(), key.chain_view.size(), key.key.get(), nullptr))
        return ssl_select_cert_error;
    if (!staple_ocsp_response(hello, key)) return ssl_select_cert_error;
    return ssl_select_cert_success;
}

// The client's ALPN list must contain the listener's protocol: a client that offers only other
// protocols (say http/1.1 from a browser tricked into talking to the mail port, the ALPACA
// attack) gets no_application_protocol. A client that offers no ALPN never gets here.
int select_alpn(SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len, void* arg) {
    auto* wanted = static_cast<const std::string*>(arg);  // wire form: length byte + name
    for (unsigned i = 0; i < in_len;) {
        unsigned len = in[i];
        if (i + 1 + len > in_len) break;
        if (len + 1 == wanted->size() && std::memcmp(in + i, wanted->data(), wanted->size()) == 0) {
            *out = in + i + 1;
            *out_len = static_cast<uint8_t>(len);
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// strict_sni: a name no certificate covers ends the handshake with unrecognized_name.
int check_server_name(SSL* ssl, int* alert, void*) {
    auto* context = static_cast<const ServerContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!context || !sni || context->covers_name(sni)) return SSL_TLSEXT_ERR_OK;
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }  // optional: the result is reported, not enforced

void load_crls(X509_STORE* store, const ConfiguredPath& crl_path) {
    auto bio = read_pem_file(crl_path, "client CRL file");
    int loaded = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
        X509_STORE_add_crl(store, crl);
        X509_CRL_free(crl);
        ++loaded;
    }
    ERR_clear_error();
    if (loaded == 0) throw CertificateError(crl_path.place.describe() + ": no CRL found in '" + crl_path.path + "'");
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
}

// The bundle client certificates must chain to. The CertificateRequest names these CAs, so clients
// with several certificates pick the right one.
void load_client_cas(SSL_CTX* ctx, const ConfiguredPath& ca_path) {
    auto bio = read_pem_file(ca_path, "client CA file");
    bssl::UniquePtr<STACK_OF(X509_NAME)> names(sk_X509_NAME_new_null());
    int loaded = 0;
    while (bssl::UniquePtr<X509> cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert.get());
        if (X509_NAME* name = X509_NAME_dup(X509_get_subject_name(cert.get())); name && names)
            sk_X509_NAME_push(names.get(), name);
        ++loaded;
    }
    ERR_clear_error();
    if (loaded == 0)
        throw CertificateError(ca_path.place.describe() + ": no certificate found in client CA file '" + ca_path.path + "'");
    if (names) SSL_CTX_set_client_CA_list(ctx, names.release());
}

constexpr size_t kMaxClientChainBytes = 16 * 1024;

void configure_client_verification(SSL_CTX* ctx, const TlsSettings& tls) {
    if (tls.verify_client == VerifyClient::off) return;
    load_client_cas(ctx, tls.client_ca);
    if (!tls.client_crl.empty()) load_crls(SSL_CTX_get_cert_store(ctx), tls.client_crl);
    bool required = tls.verify_client == VerifyClient::required;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       required ? nullptr : accept_any_certificate);
    // A TLS 1.3 session ticket carries the client's chain, and BoringSSL writes both tickets ahead
    // of the first record it seals: a chain past ~32 KiB made that write fail after the handshake.
    // Real client chains are one to three certificates; longer ones are refused in the handshake
    // (alert decode_error/excessive message size) instead.
    SSL_CTX_set_max_cert_list(ctx, kMaxClientChainBytes);
}

void configure_protocol(SSL_CTX* ctx, const TlsSettings& tls) {
    SSL_CTX_set_min_proto_version(ctx, static_cast<uint16_t>(tls.min_version));
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    const char* ciphers = tls.ciphers.empty() ? kDefaultCiphers : tls.ciphers.c_str();
    if (!SSL_CTX_set_strict_cipher_list(ctx, ciphers))
        throw CertificateError(tls.ciphers_place.describe() + ": ciphers '" + tls.ciphers +
                               "' not accepted by BoringSSL: " + ssl_error_text());
    std::string groups;
    for (const auto& group : tls.groups) groups += (groups.empty() ? "" : ":") + group;
    if (!SSL_CTX_set1_curves_list(ctx, groups.c_str()))
        throw CertificateError(tls.groups_place.describe() + ": groups '" + groups +
                               "' not accepted by BoringSSL: " + ssl_error_text());
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Resumption by ticket only: a server-side session cache is memory per client.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

// Our own ticket keys, never BoringSSL's per-SSL_CTX random ones: a reload builds new contexts,
// and tickets issued before it must still resume (and, with a key file, on every process of a fleet).
void configure_tickets(SSL_CTX* ctx, const TlsSettings& tls) {
    if (!tls.session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        return;
    }
    std::shared_ptr<const TicketKeyRing> ring;
    if (tls.ticket_key_file.empty()) {
        ring = TicketKeyRing::in_memory();
    } else {
        const ConfiguredPath& file = tls.ticket_key_file;
        std::string cause;
        auto text = config_checks::read_text_file(file.path, cause);
        if (!text) throw CertificateError(file.place.describe() + ": cannot read ticket key file '" + file.path + "': " + cause);
        TicketKeyFileResult parsed = parse_ticket_key_file(*text);
        if (!parsed.error.empty())
            throw CertificateError(file.place.describe() + ": ticket key file '" + file.path + "': " + parsed.error);
        ring = TicketKeyRing::from_keys(std::move(parsed.keys));
    }
    if (!ring || !install_ticket_keys(ctx, std::move(ring)))
        throw CertificateError("cannot install session-ticket keys: " + ssl_error_text());
    // One TLS 1.3 ticket per handshake, as Postfix issues, not BoringSSL's two: a resumed session
    // gets a fresh ticket of its own, so a client's next connection always has one to offer, and
    // the second ticket's sealing and send cost ~2% of a full ECDSA handshake's proxy CPU.
    SSL_CTX_set_num_tickets(ctx, 1);
}

}  // namespace

CertificateCatalog::SourceKey CertificateCatalog::key_of(const CertificateSource& s) {
    return {s.cert.path,    s.key.path,           s.key_password_file.path,     s.alt_cert.path,
            s.alt_key.path, s.ocsp_response.path, s.alt_ocsp_response.path};
}

const CertificateSet* CertificateCatalog::load(const CertificateSource& source) {
    auto& slot = loaded_[key_of(source)];
    if (!slot) slot = std::make_unique<CertificateSet>(load_certificate_set(source, warnings_));
    return slot.get();
}

CertificateCatalog::CertificateCatalog(const Config& config) {
    if (config.tls.certificate.has_cert()) load(config.tls.certificate);
    for (const auto& entry : config.local_names) {
        mapped_.push_back(load(entry.certificate));
        for (const auto& name : entry.names) map_.add_name(name, mapped_.size() - 1);
    }
    for (const auto& entry : config.locals) {
        mapped_.push_back(load(entry.certificate));
        map_.add_local_address(entry.address, mapped_.size() - 1);
    }
    for (const auto& listener : config.listeners)
        if (listener.tls.certificate.has_cert()) load(listener.tls.certificate);
}

const CertificateSet* CertificateCatalog::find(std::string_view sni, const SocketAddress* local) const {
    auto index = map_.find(sni, local);
    return index ? mapped_[*index] : nullptr;
}

const CertificateSet* CertificateCatalog::for_source(const CertificateSource& source) const {
    auto it = loaded_.find(key_of(source));
    return it == loaded_.end() ? nullptr : it->second.get();
}

ServerContext::ServerContext(const ListenerConfig& listener, std::shared_ptr<const CertificateCatalog> catalog)
    : ctx_(SSL_CTX_new(TLS_method())), catalog_(std::move(catalog)),
      listener_default_(catalog_->for_source(listener.tls.certificate)) {
    if (!ctx_) throw CertificateError("cannot create SSL_CTX: " + ssl_error_text());
    configure_protocol(ctx_.get(), listener.tls);
    configure_tickets(ctx_.get(), listener.tls);
    configure_client_verification(ctx_.get(), listener.tls);
    // Sessions (tickets) of one listener do not resume on another with other settings.
    SSL_CTX_set_session_id_context(ctx_.get(), reinterpret_cast<const uint8_t*>(listener.name.data()),
                                   std::min<size_t>(listener.name.size(), SSL_MAX_SID_CTX_LENGTH));
    SSL_CTX_set_ex_data(ctx_.get(), context_index(), this);
    SSL_CTX_set_select_certificate_cb(ctx_.get(), select_certificate);
    record_sent_alerts(ctx_.get());
    alpn_wire_ = std::string(1, static_cast<char>(std::strlen(to_string(listener.protocol)))) + to_string(listener.protocol);
    SSL_CTX_set_alpn_select_cb(ctx_.get(), select_alpn, &alpn_wire_);
    if (listener.tls.strict_sni) SSL_CTX_set_tlsext_servername_callback(ctx_.get(), check_server_name);
}

bool ServerContext::covers_name(std::string_view sni) const {
    if (catalog_->find(sni, nullptr)) return true;
    return listener_default_ && certificate_covers(*listener_default_, sni);
}

const CertificateSet* ServerContext::choose(std::string_view sni, int client_fd) const {
    SocketAddress local;
    const SocketAddress* local_ptr = nullptr;
    if (catalog_->uses_local_addresses() && client_fd >= 0) {
        local.length = sizeof local.storage;
        if (getsockname(client_fd, reinterpret_cast<sockaddr*>(&local.storage), &local.length) == 0) local_ptr = &local;
    }
    if (const CertificateSet* found = catalog_->find(sni, local_ptr)) return found;
    return listener_default_;
}

bssl::UniquePtr<SSL> ServerContext::new_session(int client_fd) const {
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    if (!ssl) return nullptr;
    SSL_set_accept_state(ssl.get());
    // Frees certificate and handshake configuration once the handshake is done: an idle
    // IMAP connection then costs only its record state.
    SSL_set_shed_handshake_config(ssl.get(), 1);
    SSL_set_ex_data(ssl.get(), client_fd_index(), reinterpret_cast<void*>(static_cast<intptr_t>(client_fd) + 1));
    return ssl;
}

}  // namespace tlsfront
