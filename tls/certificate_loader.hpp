// Loads certificate chains and private keys from PEM files into the form BoringSSL installs per
// handshake (CRYPTO_BUFFER chain + EVP_PKEY), and checks them: key matches, password right, dates.
#pragma once

#include <openssl/base.h>
#include <openssl/pool.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace tlsfront {

// "FILE:LINE:COLUMN: cause" (the place of the config key that named the file).
struct CertificateError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class KeyKind { rsa, ecdsa, ed25519 };

// One certificate chain with its key, ready for SSL_set_chain_and_key.
struct CertifiedKey {
    std::string cert_path;
    KeyKind kind = KeyKind::rsa;
    int key_bits = 0;
    bssl::UniquePtr<EVP_PKEY> key;
    std::vector<bssl::UniquePtr<CRYPTO_BUFFER>> chain;  // leaf first
    std::vector<CRYPTO_BUFFER*> chain_view;              // same, as SSL_set_chain_and_key wants it
    std::vector<uint16_t> signature_algorithms;  // TLS SignatureScheme values this key can make
    std::string subject_cn;
    std::vector<std::string> dns_names;  // subjectAltName dNSName entries, lower-case
    time_t not_after = 0;
    // A good, current OCSP response for this certificate (null when none is configured or the
    // configured one did not pass the checks at load: see the warnings).
    bssl::UniquePtr<CRYPTO_BUFFER> ocsp_response;
    time_t ocsp_next_update = 0;  // 0: the response has no nextUpdate

    // "RSA-2048 CN=mail.example.org", "ECDSA-P256 CN=..."
    std::string describe() const;
};

// A certificate and, optionally, a second one of another key type (Dovecot ssl_alt_cert).
struct CertificateSet {
    CertifiedKey primary;
    std::optional<CertifiedKey> alt;
};

// True when the set's certificates name `host` in subjectAltName (or, lacking any DNS name, in the
// CN); "*.example.net" covers exactly one label. Case-insensitive.
bool certificate_covers(const CertificateSet& set, std::string_view host);

// Loads and checks `source`. Throws CertificateError naming the config place and the cause.
// Expired certificates load, with a line added to `warnings`; so do OCSP responses that are
// expired, for another certificate or otherwise unusable, which are then not stapled.
CertificateSet load_certificate_set(const CertificateSource& source, std::vector<std::string>& warnings);

}  // namespace tlsfront
