// PEM -> CertifiedKey. Errors name the config key (FILE:LINE:COLUMN) that pointed at the file.
#include "tls/certificate_loader.hpp"

#include "config/config_checks.hpp"
#include "tls/ocsp_response.hpp"
#include "tls/pem_file.hpp"

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

namespace tlsfront {
namespace {

[[noreturn]] void fail(const ConfiguredPath& where, const std::string& cause) {
    throw CertificateError(where.place.describe() + ": " + cause);
}

std::string last_ssl_error() {
    uint32_t code = ERR_peek_last_error();
    ERR_clear_error();
    if (code == 0) return "unknown error";
    const char* reason = ERR_reason_error_string(code);
    return reason ? reason : "unknown error";
}

bssl::UniquePtr<BIO> open_pem(const ConfiguredPath& path, const char* what) { return read_pem_file(path, what); }

std::string read_password(const ConfiguredPath& file) {
    std::string cause;
    auto text = config_checks::read_text_file(file.path, cause);
    if (!text) fail(file, "cannot read key password file '" + file.path + "': " + cause);
    std::string line = text->substr(0, text->find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    return line;
}

struct PasswordRequest {
    const std::string* password;  // null when no key_password_file was configured
    bool asked = false;
};

int supply_password(char* buf, int size, int /*rwflag*/, void* userdata) {
    auto* request = static_cast<PasswordRequest*>(userdata);
    request->asked = true;
    if (!request->password || request->password->size() > static_cast<size_t>(size)) return -1;
    std::memcpy(buf, request->password->data(), request->password->size());
    return static_cast<int>(request->password->size());
}

bssl::UniquePtr<EVP_PKEY> load_key(const ConfiguredPath& key_path, const std::string* password) {
    auto bio = open_pem(key_path, "key file");
    PasswordRequest request{password};
    ERR_clear_error();
    bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, supply_password, &request));
    if (key) return key;
    if (request.asked && !password)
        fail(key_path, "key '" + key_path.path + "' is encrypted: set key_password_file");
    if (request.asked) fail(key_path, "wrong key password for '" + key_path.path + "' (" + last_ssl_error() + ")");
    fail(key_path, "no private key found in '" + key_path.path + "' (" + last_ssl_error() + ")");
}

std::vector<bssl::UniquePtr<X509>> load_chain(const ConfiguredPath& cert_path) {
    auto bio = open_pem(cert_path, "certificate file");
    std::vector<bssl::UniquePtr<X509>> chain;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) chain.emplace_back(cert);
    ERR_clear_error();  // the loop ends on "no start line"
    if (chain.empty()) fail(cert_path, "no certificate found in '" + cert_path.path + "'");
    return chain;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

void read_names(X509* leaf, CertifiedKey& out) {
    X509_NAME* subject = X509_get_subject_name(leaf);
    char cn[256];
    if (subject && X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn) > 0) out.subject_cn = cn;
    bssl::UniquePtr<GENERAL_NAMES> names(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
    for (size_t i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type != GEN_DNS) continue;
        const ASN1_STRING* s = name->d.dNSName;
        out.dns_names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                  static_cast<size_t>(ASN1_STRING_length(s)))));
    }
}

// TLS SignatureScheme code points (RFC 8446 section 4.2.3) each key type can produce.
void classify_key(const ConfiguredPath& key_path, CertifiedKey& out) {
    EVP_PKEY* key = out.key.get();
    out.key_bits = EVP_PKEY_bits(key);
    switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_RSA:
        out.kind = KeyKind::rsa;
        out.signature_algorithms = {0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601};
        return;
    case EVP_PKEY_EC: {
        out.kind = KeyKind::ecdsa;
        const EC_GROUP* group = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key));
        switch (EC_GROUP_get_curve_name(group)) {
        case NID_X9_62_prime256v1: out.signature_algorithms = {0x0403}; return;
        case NID_secp384r1: out.signature_algorithms = {0x0503}; return;
        case NID_secp521r1: out.signature_algorithms = {0x0603}; return;
        default: fail(key_path, "unsupported EC curve in '" + key_path.path + "' (use P-256, P-384 or P-521)");
        }
    }
    case EVP_PKEY_ED25519:
        out.kind = KeyKind::ed25519;
        out.signature_algorithms = {0x0807};
        return;
    default:
        fail(key_path, "unsupported key type in '" + key_path.path + "' (use RSA, ECDSA or Ed25519)");
    }
}

bssl::UniquePtr<CRYPTO_BUFFER> to_buffer(X509* cert) {
    uint8_t* der = nullptr;
    int len = i2d_X509(cert, &der);
    if (len <= 0) return nullptr;
    bssl::UniquePtr<uint8_t> owned(der);
    return bssl::UniquePtr<CRYPTO_BUFFER>(CRYPTO_BUFFER_new(der, static_cast<size_t>(len), nullptr));
}

time_t not_after(X509* leaf) {
    int64_t posix = 0;
    const ASN1_TIME* t = X509_get0_notAfter(leaf);
    // ASN1_TIME_diff from the epoch keeps this independent of the local time zone.
    bssl::UniquePtr<ASN1_TIME> epoch(ASN1_TIME_set(nullptr, 0));
    int days = 0, seconds = 0;
    if (t && epoch && ASN1_TIME_diff(&days, &seconds, epoch.get(), t)) posix = int64_t{days} * 86400 + seconds;
    return static_cast<time_t>(posix);
}

// The response is checked against the leaf and, when the chain holds it, the leaf's issuer.
void load_ocsp_response(const ConfiguredPath& path, const std::vector<bssl::UniquePtr<X509>>& chain, CertifiedKey& out,
                        std::vector<std::string>& warnings) {
    std::string cause;
    auto der = config_checks::read_text_file(path.path, cause);
    if (!der) fail(path, "cannot read OCSP response file '" + path.path + "': " + cause);
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(der->data()), der->size());
    X509* issuer = chain.size() > 1 ? chain[1].get() : nullptr;
    OcspResponseCheck check = check_ocsp_response(bytes, chain.front().get(), issuer, time(nullptr));
    if (!check.stapleable) {
        warnings.push_back(path.place.describe() + ": OCSP response '" + path.path + "' not stapled: " + check.problem);
        return;
    }
    out.ocsp_response.reset(CRYPTO_BUFFER_new(bytes.data(), bytes.size(), nullptr));
    out.ocsp_next_update = check.next_update;
}

CertifiedKey load_certified_key(const ConfiguredPath& cert_path, const ConfiguredPath& key_path,
                                const std::string* password, const ConfiguredPath& ocsp_path,
                                std::vector<std::string>& warnings) {
    CertifiedKey out;
    out.cert_path = cert_path.path;
    auto chain = load_chain(cert_path);
    out.key = load_key(key_path, password);
    if (!X509_check_private_key(chain.front().get(), out.key.get())) {
        ERR_clear_error();
        fail(key_path, "key '" + key_path.path + "' does not match certificate '" + cert_path.path + "'");
    }
    classify_key(key_path, out);
    read_names(chain.front().get(), out);
    out.not_after = not_after(chain.front().get());
    if (X509_cmp_current_time(X509_get0_notAfter(chain.front().get())) < 0)
        warnings.push_back(cert_path.place.describe() + ": certificate '" + cert_path.path + "' has expired");
    if (!ocsp_path.empty()) load_ocsp_response(ocsp_path, chain, out, warnings);
    for (auto& cert : chain) {
        auto buffer = to_buffer(cert.get());
        if (!buffer) fail(cert_path, "cannot encode certificate from '" + cert_path.path + "'");
        out.chain_view.push_back(buffer.get());
        out.chain.push_back(std::move(buffer));
    }
    return out;
}

const char* kind_name(KeyKind kind) {
    switch (kind) {
    case KeyKind::rsa: return "RSA";
    case KeyKind::ecdsa: return "ECDSA";
    case KeyKind::ed25519: return "Ed25519";
    }
    return "?";
}

bool name_matches(std::string_view pattern, std::string_view host) {
    if (pattern.starts_with("*.")) {
        size_t dot = host.find('.');
        return dot != std::string_view::npos && dot > 0 && host.substr(dot + 1) == pattern.substr(2);
    }
    return pattern == host;
}

bool key_covers(const CertifiedKey& key, std::string_view host) {
    if (key.dns_names.empty()) return name_matches(lower(key.subject_cn), host);
    return std::any_of(key.dns_names.begin(), key.dns_names.end(),
                       [&](const std::string& pattern) { return name_matches(pattern, host); });
}

}  // namespace

bool certificate_covers(const CertificateSet& set, std::string_view host) {
    std::string name = lower(std::string(host));
    if (!name.empty() && name.back() == '.') name.pop_back();
    return key_covers(set.primary, name) || (set.alt && key_covers(*set.alt, name));
}

std::string CertifiedKey::describe() const {
    std::ostringstream out;
    out << kind_name(kind);
    if (kind == KeyKind::rsa) out << '-' << key_bits;
    if (kind == KeyKind::ecdsa) out << "-P" << key_bits;
    if (!subject_cn.empty()) out << " CN=" << subject_cn;
    return out.str();
}

CertificateSet load_certificate_set(const CertificateSource& source, std::vector<std::string>& warnings) {
    std::optional<std::string> password;
    if (!source.key_password_file.empty()) password = read_password(source.key_password_file);
    const std::string* pw = password ? &*password : nullptr;
    const ConfiguredPath& key = source.key.empty() ? source.cert : source.key;

    CertificateSet set{load_certified_key(source.cert, key, pw, source.ocsp_response, warnings), std::nullopt};
    if (!source.alt_cert.empty()) {
        const ConfiguredPath& alt_key = source.alt_key.empty() ? source.alt_cert : source.alt_key;
        set.alt = load_certified_key(source.alt_cert, alt_key, pw, source.alt_ocsp_response, warnings);
        if (set.alt->kind == set.primary.kind)
            fail(source.alt_cert, "alt_cert '" + source.alt_cert.path + "' has the same key type as cert '" +
                                      source.cert.path + "': use another key type (e.g. ECDSA next to RSA)");
    }
    return set;
}

}  // namespace tlsfront
