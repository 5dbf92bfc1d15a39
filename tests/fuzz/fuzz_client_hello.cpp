// The real BoringSSL server as tlsfront configures it (ServerContext: the early ClientHello
// callback that picks the certificate from SNI and signature algorithms, ALPN and strict SNI),
// driven through tlsfront's own TlsTransport BIO with fuzzed client records. Start-up generates an
// RSA-2048 certificate with an ECDSA P-256 alt_cert and two [[local_name]] entries in a temporary
// directory. The first input byte picks one of four listener variants (strict_sni, min_version
// 1.3, verify_client); the rest is the client's byte stream, fed in one piece or record by record.
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "config/config_loader.hpp"
#include "tls/server_context.hpp"
#include "tls/tls_transport.hpp"

using namespace tlsfront;

namespace {

bssl::UniquePtr<EVP_PKEY> rsa_key() {
    bssl::UniquePtr<RSA> rsa(RSA_new());
    bssl::UniquePtr<BIGNUM> e(BN_new());
    if (!rsa || !e || !BN_set_word(e.get(), RSA_F4) || !RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr))
        abort();
    bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
    if (!key || !EVP_PKEY_assign_RSA(key.get(), rsa.release())) abort();
    return key;
}

bssl::UniquePtr<EVP_PKEY> ecdsa_key() {
    bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    if (!ec || !EC_KEY_generate_key(ec.get())) abort();
    bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
    if (!key || !EVP_PKEY_assign_EC_KEY(key.get(), ec.release())) abort();
    return key;
}

// A self-signed certificate for `name` (CN and DNS SAN), PEM files `stem`.pem and `stem`.key.
void write_certificate(const std::string& stem, const char* name, EVP_PKEY* key) {
    bssl::UniquePtr<X509> x509(X509_new());
    X509_set_version(x509.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x509.get()), 86400L * 365);
    X509_NAME* subject = X509_get_subject_name(x509.get());
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const uint8_t*>(name), -1, -1, 0);
    X509_set_issuer_name(x509.get(), subject);
    std::string san = std::string("DNS:") + name;
    bssl::UniquePtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    if (!ext || !X509_add_ext(x509.get(), ext.get(), -1)) abort();
    X509_set_pubkey(x509.get(), key);
    if (!X509_sign(x509.get(), key, EVP_sha256())) abort();
    FILE* cert = fopen((stem + ".pem").c_str(), "w");
    FILE* pkey = fopen((stem + ".key").c_str(), "w");
    if (!cert || !pkey) abort();
    fchmod(fileno(pkey), 0600);
    PEM_write_X509(cert, x509.get());
    PEM_write_PrivateKey(pkey, key, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(cert);
    fclose(pkey);
}

struct Server {
    std::unique_ptr<Config> config;
    std::shared_ptr<const CertificateCatalog> catalog;
    std::vector<std::unique_ptr<ServerContext>> contexts;  // one per listener variant
};

Server* make_server() {
    char dir_template[] = "/tmp/tlsfront-fuzz-XXXXXX";
    std::string dir = mkdtemp(dir_template);
    auto rsa = rsa_key();
    auto ecdsa = ecdsa_key();
    write_certificate(dir + "/rsa", "mail.example.test", rsa.get());
    write_certificate(dir + "/ecdsa", "mail.example.test", ecdsa.get());
    write_certificate(dir + "/other", "other.example.test", ecdsa.get());
    std::string toml = "[tls]\ncert = '" + dir + "/rsa.pem'\nkey = '" + dir + "/rsa.key'\n" +
                       "alt_cert = '" + dir + "/ecdsa.pem'\nalt_key = '" + dir + "/ecdsa.key'\n" +
                       "[[local_name]]\nnames = ['other.example.test', '*.wild.example.test']\n" +
                       "cert = '" + dir + "/other.pem'\nkey = '" + dir + "/other.key'\n";
    std::string listeners;
    const std::string extra[] = {"", "strict_sni = true\n", "min_version = '1.3'\n",
                                 "verify_client = 'optional'\nclient_ca = '" + dir + "/rsa.pem'\n"};
    for (int i = 0; i < 4; ++i)
        listeners += "[[listener]]\nname = 'l" + std::to_string(i) + "'\nlisten = '127.0.0.1:" +
                     std::to_string(10993 + i) + "'\nprotocol = 'imap'\nbackend = '127.0.0.1:143'\n" +
                     (extra[i].empty() ? "" : "[listener.tls]\n" + extra[i]);
    auto* server = new Server;
    server->config = std::make_unique<Config>(load_config_string(toml + listeners, "fuzz.toml"));
    server->catalog = std::make_shared<CertificateCatalog>(*server->config);
    for (const auto& listener : server->config->listeners)
        server->contexts.push_back(std::make_unique<ServerContext>(listener, server->catalog));
    return server;
}

Server* server = nullptr;

// TLS record boundaries in `bytes` (5-byte header + length), for feeding record by record.
size_t next_record_end(const uint8_t* bytes, size_t size) {
    if (size < 5) return size;
    size_t end = 5 + ((size_t{bytes[3]} << 8) | bytes[4]);
    return end < size ? end : size;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    server = make_server();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const ServerContext& context = *server->contexts[data[0] & 3];
    bool by_record = data[0] & 4;
    bssl::UniquePtr<SSL> ssl = context.new_session(-1);
    static std::vector<uint8_t> out(256 * 1024);
    TlsTransport io;
    io.out = out.data();
    io.out_cap = static_cast<uint32_t>(out.size());
    if (!ssl || !attach_transport(ssl.get(), &io)) abort();
    const uint8_t* rest = data + 1;
    size_t left = size - 1;
    for (int round = 0; round < 4096; ++round) {  // each round consumes input or ends
        size_t piece = by_record ? next_record_end(rest, left) : left;
        io.in = rest;
        io.in_len = static_cast<uint32_t>(piece);
        int ret = SSL_is_init_finished(ssl.get()) ? SSL_read(ssl.get(), out.data(), 16384) : SSL_do_handshake(ssl.get());
        io.out_len = 0;  // what the server sends is not looked at
        size_t used = piece - io.in_len;
        rest += used;
        left -= used;
        if (ret > 0) {
            if (left == 0 && used == 0) break;
            continue;
        }
        int error = SSL_get_error(ssl.get(), ret);
        if ((error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) || used == 0) break;
    }
    ERR_clear_error();
    return 0;
}
