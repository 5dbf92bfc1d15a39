// A self-signed ECDSA P-256 server certificate made once per test run, and an in-memory handshake
// with it over a BIO pair (unit tests and fuzz targets: no test framework here).
#pragma once

#include <openssl/ec_key.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdlib>

namespace tlsfront::test {

struct ServerIdentity {
    bssl::UniquePtr<EVP_PKEY> key{EVP_PKEY_new()};
    bssl::UniquePtr<X509> cert{X509_new()};
    ServerIdentity() {
        bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
        if (!EC_KEY_generate_key(ec.get())) std::abort();
        EVP_PKEY_assign_EC_KEY(key.get(), ec.release());
        X509_set_version(cert.get(), X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
        X509_NAME* name = X509_get_subject_name(cert.get());
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const uint8_t*>("mail.test"), -1, -1, 0);
        X509_set_issuer_name(cert.get(), name);
        X509_set_pubkey(cert.get(), key.get());
        if (!X509_sign(cert.get(), key.get(), EVP_sha256())) std::abort();
    }
};

inline const ServerIdentity& identity() {
    static const ServerIdentity made;
    return made;
}

// A BoringSSL client and server, handshaken in memory (the client up to `max_version`); the
// server's BIO reads what the client wrote. `established()` says whether the handshake finished.
struct HandshakePair {
    bssl::UniquePtr<SSL_CTX> server_ctx{SSL_CTX_new(TLS_method())};
    bssl::UniquePtr<SSL_CTX> client_ctx{SSL_CTX_new(TLS_method())};
    bssl::UniquePtr<SSL> server;
    bssl::UniquePtr<SSL> client;
    BIO* server_bio = nullptr;  // owned by `server`

    explicit HandshakePair(uint16_t max_version = TLS1_3_VERSION) {
        if (!SSL_CTX_use_certificate(server_ctx.get(), identity().cert.get()) ||
            !SSL_CTX_use_PrivateKey(server_ctx.get(), identity().key.get()))
            std::abort();
        SSL_CTX_set_max_proto_version(client_ctx.get(), max_version);
        server.reset(SSL_new(server_ctx.get()));
        client.reset(SSL_new(client_ctx.get()));
        BIO* client_bio = nullptr;
        if (!BIO_new_bio_pair(&client_bio, 1 << 20, &server_bio, 1 << 20)) std::abort();
        SSL_set_bio(client.get(), client_bio, client_bio);
        SSL_set_bio(server.get(), server_bio, server_bio);
        SSL_set_connect_state(client.get());
        SSL_set_accept_state(server.get());
        for (int round = 0; round < 10; ++round) {
            int client_step = SSL_do_handshake(client.get());
            int server_step = SSL_do_handshake(server.get());
            if (client_step == 1 && server_step == 1) break;
        }
    }
    bool established() const { return SSL_is_init_finished(server.get()) && SSL_is_init_finished(client.get()); }
};

}  // namespace tlsfront::test
