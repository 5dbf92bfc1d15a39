// Test-side OCSP builders: a CA and a leaf it signed (made with BoringSSL), and synthetic DER OCSP
// responses (CBB) with a knob for each field check_ocsp_response looks at. The signature is filler:
// the check does not verify it.
#pragma once

#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace ocsp_fixture {

inline constexpr const char* oid_ocsp_basic = "1.3.6.1.5.5.7.48.1.1";
inline constexpr const char* oid_sha1 = "1.3.14.3.2.26";
inline constexpr const char* oid_sha256 = "2.16.840.1.101.3.4.2.1";

// High bit set, so the DER INTEGER carries a leading zero byte.
inline const std::vector<uint8_t> leaf_serial = {0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99};

inline bssl::UniquePtr<EVP_PKEY> make_ec_key() {
    bssl::UniquePtr<EVP_PKEY> pkey(EVP_PKEY_new());
    bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    REQUIRE(EC_KEY_generate_key(ec.get()));
    REQUIRE(EVP_PKEY_assign_EC_KEY(pkey.get(), ec.release()));
    return pkey;
}

inline bssl::UniquePtr<X509> make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
                                       const std::vector<uint8_t>& serial) {
    bssl::UniquePtr<X509> cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    bssl::UniquePtr<BIGNUM> bn(BN_bin2bn(serial.data(), serial.size(), nullptr));
    REQUIRE(BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())));
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -7200);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const uint8_t*>(cn), -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(cert.get(), key);
    REQUIRE(X509_sign(cert.get(), issuer_key, EVP_sha256()));
    return cert;
}

struct Pki {
    bssl::UniquePtr<EVP_PKEY> ca_key = make_ec_key();
    bssl::UniquePtr<EVP_PKEY> leaf_key = make_ec_key();
    bssl::UniquePtr<X509> ca = make_cert(ca_key.get(), "tlsfront test CA", nullptr, ca_key.get(), {0x01});
    bssl::UniquePtr<X509> leaf = make_cert(leaf_key.get(), "mail.example.test", ca.get(), ca_key.get(), leaf_serial);
};

struct SingleSpec {
    std::string hash_oid = oid_sha1;
    bool hash_params_null = true;  // false: parameters absent
    std::vector<uint8_t> serial;   // INTEGER contents
    std::vector<uint8_t> name_hash, key_hash;
    int cert_status = 0;  // 0 good, 1 revoked, 2 unknown
    time_t this_update = 0;
    std::string this_update_text;  // when set, written instead of this_update
    std::optional<time_t> next_update;
};

struct ResponseSpec {
    int status = 0;  // 0 successful, 3 tryLater, ...
    bool with_bytes = true;
    std::string response_type = oid_ocsp_basic;
    std::vector<SingleSpec> singles;
    std::vector<uint8_t> trailing;  // appended after the OCSPResponse
};

inline std::vector<uint8_t> digest(bool sha256, const uint8_t* data, size_t len) {
    std::vector<uint8_t> out(sha256 ? SHA256_DIGEST_LENGTH : SHA_DIGEST_LENGTH);
    sha256 ? SHA256(data, len, out.data()) : SHA1(data, len, out.data());
    return out;
}

// A SingleResponse that names `pki.leaf` correctly: good, thisUpdate an hour ago, nextUpdate in a day.
inline SingleSpec single_for(const Pki& pki, bool sha256, time_t now) {
    SingleSpec spec;
    spec.hash_oid = sha256 ? oid_sha256 : oid_sha1;
    spec.serial = {0x00};
    spec.serial.insert(spec.serial.end(), leaf_serial.begin(), leaf_serial.end());
    uint8_t* name_der = nullptr;
    int name_len = i2d_X509_NAME(X509_get_issuer_name(pki.leaf.get()), &name_der);
    REQUIRE(name_len > 0);
    bssl::UniquePtr<uint8_t> name_owner(name_der);
    spec.name_hash = digest(sha256, name_der, static_cast<size_t>(name_len));
    const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(pki.ca.get());
    spec.key_hash = digest(sha256, ASN1_STRING_get0_data(key), static_cast<size_t>(ASN1_STRING_length(key)));
    spec.this_update = now - 3600;
    spec.next_update = now + 86400;
    return spec;
}

inline void ok(int result) { REQUIRE(result == 1); }

inline void add_time(CBB* out, time_t t, const std::string& text_override = "") {
    std::string text = text_override;
    if (text.empty()) {
        tm utc{};
        gmtime_r(&t, &utc);
        char buf[32];
        strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &utc);
        text = buf;
    }
    CBB time;
    ok(CBB_add_asn1(out, &time, CBS_ASN1_GENERALIZEDTIME));
    ok(CBB_add_bytes(&time, reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    ok(CBB_flush(out));
}

inline void add_oid(CBB* out, const std::string& oid) {
    CBB child;
    ok(CBB_add_asn1(out, &child, CBS_ASN1_OBJECT));
    ok(CBB_add_asn1_oid_from_text(&child, oid.data(), oid.size()));
    ok(CBB_flush(out));
}

inline void add_single(CBB* out, const SingleSpec& spec) {
    CBB single, cert_id, algorithm, serial, status, next;
    ok(CBB_add_asn1(out, &single, CBS_ASN1_SEQUENCE));
    ok(CBB_add_asn1(&single, &cert_id, CBS_ASN1_SEQUENCE));
    ok(CBB_add_asn1(&cert_id, &algorithm, CBS_ASN1_SEQUENCE));
    add_oid(&algorithm, spec.hash_oid);
    if (spec.hash_params_null) ok(CBB_add_asn1(&algorithm, &next, CBS_ASN1_NULL));
    ok(CBB_add_asn1_octet_string(&cert_id, spec.name_hash.data(), spec.name_hash.size()));
    ok(CBB_add_asn1_octet_string(&cert_id, spec.key_hash.data(), spec.key_hash.size()));
    ok(CBB_add_asn1(&cert_id, &serial, CBS_ASN1_INTEGER));
    ok(CBB_add_bytes(&serial, spec.serial.data(), spec.serial.size()));
    const unsigned context = CBS_ASN1_CONTEXT_SPECIFIC;
    unsigned status_tag = spec.cert_status == 1 ? (context | CBS_ASN1_CONSTRUCTED | 1) : (context | spec.cert_status);
    ok(CBB_add_asn1(&single, &status, status_tag));
    if (spec.cert_status == 1) add_time(&status, spec.this_update - 86400);  // RevokedInfo.revocationTime
    ok(CBB_flush(&single));
    add_time(&single, spec.this_update, spec.this_update_text);
    if (spec.next_update) {
        ok(CBB_add_asn1(&single, &next, context | CBS_ASN1_CONSTRUCTED | 0));
        add_time(&next, *spec.next_update);
    }
    ok(CBB_flush(out));
}

inline std::vector<uint8_t> finish(CBB* cbb) {
    uint8_t* data = nullptr;
    size_t len = 0;
    ok(CBB_finish(cbb, &data, &len));
    bssl::UniquePtr<uint8_t> owner(data);
    return {data, data + len};
}

// BasicOCSPResponse with a KeyHash responderID and a filler signature.
inline std::vector<uint8_t> build_basic(const ResponseSpec& spec) {
    bssl::ScopedCBB cbb;
    ok(CBB_init(cbb.get(), 512));
    CBB basic, data, responder, responses, signature_algorithm, signature;
    ok(CBB_add_asn1(cbb.get(), &basic, CBS_ASN1_SEQUENCE));
    ok(CBB_add_asn1(&basic, &data, CBS_ASN1_SEQUENCE));
    ok(CBB_add_asn1(&data, &responder, CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 2));
    const uint8_t key_hash[20] = {1, 2, 3};
    ok(CBB_add_asn1_octet_string(&responder, key_hash, sizeof key_hash));
    add_time(&data, time(nullptr));
    ok(CBB_add_asn1(&data, &responses, CBS_ASN1_SEQUENCE));
    for (const SingleSpec& single : spec.singles) add_single(&responses, single);
    ok(CBB_add_asn1(&basic, &signature_algorithm, CBS_ASN1_SEQUENCE));
    add_oid(&signature_algorithm, "1.2.840.10045.4.3.2");  // ecdsa-with-SHA256
    ok(CBB_add_asn1(&basic, &signature, CBS_ASN1_BITSTRING));
    const uint8_t filler[9] = {0x00, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
    ok(CBB_add_bytes(&signature, filler, sizeof filler));
    return finish(cbb.get());
}

inline std::vector<uint8_t> build_response(const ResponseSpec& spec) {
    bssl::ScopedCBB cbb;
    ok(CBB_init(cbb.get(), 512));
    CBB response, status, explicit_bytes, bytes;
    ok(CBB_add_asn1(cbb.get(), &response, CBS_ASN1_SEQUENCE));
    ok(CBB_add_asn1(&response, &status, CBS_ASN1_ENUMERATED));
    ok(CBB_add_u8(&status, static_cast<uint8_t>(spec.status)));
    if (spec.with_bytes) {
        ok(CBB_add_asn1(&response, &explicit_bytes, CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 0));
        ok(CBB_add_asn1(&explicit_bytes, &bytes, CBS_ASN1_SEQUENCE));
        add_oid(&bytes, spec.response_type);
        std::vector<uint8_t> basic = build_basic(spec);
        ok(CBB_add_asn1_octet_string(&bytes, basic.data(), basic.size()));
    }
    std::vector<uint8_t> der = finish(cbb.get());
    der.insert(der.end(), spec.trailing.begin(), spec.trailing.end());
    return der;
}

}  // namespace ocsp_fixture
