// A self-signed ECDSA P-256 server certificate made once per test run, for in-memory handshakes
// (unit tests and fuzz targets: no test framework here).
#pragma once

#include <openssl/ec_key.h>
#include <openssl/evp.h>
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

}  // namespace tlsfront::test
