// Certificate loading: combined files, encrypted keys, alt certificates, and each error naming
// the config place. Certificates are made here with BoringSSL (self-signed, short-lived).
#include <doctest/doctest.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "tls/certificate_loader.hpp"

using namespace tlsfront;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/tlsfront-cert-test-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

bssl::UniquePtr<EVP_PKEY> make_key(bool ecdsa) {
    bssl::UniquePtr<EVP_PKEY> pkey(EVP_PKEY_new());
    if (ecdsa) {
        bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
        REQUIRE(EC_KEY_generate_key(ec.get()));
        EVP_PKEY_assign_EC_KEY(pkey.get(), ec.release());
    } else {
        bssl::UniquePtr<RSA> rsa(RSA_new());
        bssl::UniquePtr<BIGNUM> e(BN_new());
        BN_set_word(e.get(), RSA_F4);
        REQUIRE(RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr));
        EVP_PKEY_assign_RSA(pkey.get(), rsa.release());
    }
    return pkey;
}

bssl::UniquePtr<X509> make_cert(EVP_PKEY* key, const char* cn, long valid_seconds) {
    bssl::UniquePtr<X509> cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -7200);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), valid_seconds);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const uint8_t*>(cn), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key);
    REQUIRE(X509_sign(cert.get(), key, EVP_sha256()));
    return cert;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key, const char* password = nullptr) {
    bssl::UniquePtr<BIO> bio(BIO_new_file(path.c_str(), "w"));
    REQUIRE(bio);
    if (cert) REQUIRE(PEM_write_bio_X509(bio.get(), cert));
    if (key && password)
        REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), const_cast<char*>(password),
                                              static_cast<int>(strlen(password)), nullptr, nullptr));
    else if (key)
        REQUIRE(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr));
}

ConfiguredPath at(const std::string& path, uint32_t line) { return {path, {"tlsfront.toml", line, 7}}; }

std::string load_error(const CertificateSource& source) {
    std::vector<std::string> warnings;
    try {
        load_certificate_set(source, warnings);
    } catch (const CertificateError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("certificate loading") {
    TempDir dir;
    auto rsa = make_key(false);
    auto ec = make_key(true);
    auto rsa_cert = make_cert(rsa.get(), "rsa.example", 86400);
    auto ec_cert = make_cert(ec.get(), "ec.example", 86400);
    write_pem(dir.file("rsa.pem"), rsa_cert.get(), nullptr);
    write_pem(dir.file("rsa.key"), nullptr, rsa.get());
    write_pem(dir.file("combined.pem"), rsa_cert.get(), rsa.get());
    write_pem(dir.file("ec.pem"), ec_cert.get(), ec.get());
    write_pem(dir.file("enc.key"), nullptr, rsa.get(), "s3cret");
    std::ofstream(dir.file("pw")) << "s3cret\n";
    std::ofstream(dir.file("badpw")) << "wrong\n";
    std::ofstream(dir.file("garbage.pem")) << "not a pem file\n";
    std::vector<std::string> warnings;

    SUBCASE("separate cert and key") {
        CertificateSource source{at(dir.file("rsa.pem"), 3), at(dir.file("rsa.key"), 4), {}, {}, {}, {}, {}};
        auto set = load_certificate_set(source, warnings);
        CHECK(set.primary.kind == KeyKind::rsa);
        CHECK(set.primary.key_bits == 2048);
        CHECK(set.primary.subject_cn == "rsa.example");
        CHECK(set.primary.chain_view.size() == 1);
        CHECK(set.primary.describe() == "RSA-2048 CN=rsa.example");
        CHECK_FALSE(set.alt);
        CHECK(warnings.empty());
    }
    SUBCASE("cert and key in one file (key omitted)") {
        CertificateSource source{at(dir.file("combined.pem"), 3), {}, {}, {}, {}, {}, {}};
        CHECK(load_certificate_set(source, warnings).primary.kind == KeyKind::rsa);
    }
    SUBCASE("encrypted key with the right password") {
        CertificateSource source{at(dir.file("rsa.pem"), 3), at(dir.file("enc.key"), 4), at(dir.file("pw"), 5), {}, {}, {}, {}};
        CHECK(load_certificate_set(source, warnings).primary.key);
    }
    SUBCASE("encrypted key with a wrong password names the key's place") {
        CertificateSource source{at(dir.file("rsa.pem"), 3), at(dir.file("enc.key"), 4), at(dir.file("badpw"), 5), {}, {}, {}, {}};
        std::string error = load_error(source);
        CHECK(error.starts_with("tlsfront.toml:4:7: "));
        CHECK(error.find("wrong key password") != std::string::npos);
    }
    SUBCASE("encrypted key without a password file") {
        CertificateSource source{at(dir.file("rsa.pem"), 3), at(dir.file("enc.key"), 4), {}, {}, {}, {}, {}};
        CHECK(load_error(source).find("set key_password_file") != std::string::npos);
    }
    SUBCASE("a key that does not match its certificate") {
        CertificateSource source{at(dir.file("rsa.pem"), 3), at(dir.file("ec.pem"), 4), {}, {}, {}, {}, {}};
        std::string error = load_error(source);
        CHECK(error.starts_with("tlsfront.toml:4:7: "));
        CHECK(error.find("does not match") != std::string::npos);
    }
    SUBCASE("a file without a certificate, and a missing file") {
        CertificateSource garbage{at(dir.file("garbage.pem"), 3), at(dir.file("rsa.key"), 4), {}, {}, {}, {}, {}};
        CHECK(load_error(garbage).find("no certificate found") != std::string::npos);
        CertificateSource missing{at(dir.file("nope.pem"), 9), {}, {}, {}, {}, {}, {}};
        std::string error = load_error(missing);
        CHECK(error.starts_with("tlsfront.toml:9:7: "));
        CHECK(error.find("No such file") != std::string::npos);
    }
    SUBCASE("alt_cert of another key type") {
        CertificateSource source{at(dir.file("rsa.pem"), 3), at(dir.file("rsa.key"), 4), {}, at(dir.file("ec.pem"), 5), {}, {}, {}};
        auto set = load_certificate_set(source, warnings);
        REQUIRE(set.alt);
        CHECK(set.alt->kind == KeyKind::ecdsa);
        CHECK(set.alt->signature_algorithms == std::vector<uint16_t>{0x0403});
    }
    SUBCASE("alt_cert of the same key type is refused") {
        CertificateSource source{at(dir.file("rsa.pem"), 3), at(dir.file("rsa.key"), 4), {}, at(dir.file("combined.pem"), 5), {}, {}, {}};
        CHECK(load_error(source).find("same key type") != std::string::npos);
    }
    SUBCASE("an expired certificate loads with a warning") {
        auto old = make_cert(rsa.get(), "old.example", -3600);
        write_pem(dir.file("old.pem"), old.get(), rsa.get());
        CertificateSource source{at(dir.file("old.pem"), 3), {}, {}, {}, {}, {}, {}};
        load_certificate_set(source, warnings);
        REQUIRE(warnings.size() == 1);
        CHECK(warnings[0].find("expired") != std::string::npos);
    }
}
