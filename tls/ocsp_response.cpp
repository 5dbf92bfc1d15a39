// DER OCSP response -> OcspResponseCheck. The parser is strict DER (CBS rejects indefinite and
// non-minimal lengths and does the bounds checks); a parse failure throws Malformed inside this file
// only, and check_ocsp_response turns it into "not a DER OCSP response: <what>".
#include "tls/ocsp_response.hpp"

#include <openssl/bytestring.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

namespace tlsfront {
namespace {

constexpr uint8_t oid_ocsp_basic[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};  // 1.3.6.1.5.5.7.48.1.1
constexpr uint8_t oid_sha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};                                // 1.3.14.3.2.26
constexpr uint8_t oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};      // 2.16.840.1.101.3.4.2.1

constexpr unsigned explicit_tag(unsigned n) { return CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | n; }
constexpr unsigned implicit_primitive_tag(unsigned n) { return CBS_ASN1_CONTEXT_SPECIFIC | n; }

struct Malformed {
    std::string what;
};

void need(bool ok, const char* what) {
    if (!ok) throw Malformed{what};
}

CBS take(CBS* in, unsigned tag, const char* what) {
    CBS out;
    need(CBS_get_asn1(in, &out, tag), what);
    return out;
}

void need_end(const CBS& cbs, const char* what) { need(CBS_len(&cbs) == 0, what); }

// No null output pointers in this file: this BoringSSL's CBS_get_any_asn1 dereferences a null `out`
// despite its header comment.
void skip_optional(CBS* in, unsigned tag, const char* what) {
    CBS ignored;
    int present = 0;
    need(CBS_get_optional_asn1(in, &ignored, &present, tag), what);
}

bool equals(const CBS& cbs, std::span<const uint8_t> bytes) { return CBS_mem_equal(&cbs, bytes.data(), bytes.size()); }

std::string oid_text(const CBS& oid) {
    bssl::UniquePtr<char> text(CBS_asn1_oid_to_text(&oid));
    return text ? text.get() : "(invalid OID)";
}

std::string hex(std::span<const uint8_t> bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0xf];
    }
    return out;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

unsigned days_in_month(unsigned year, unsigned month) {
    static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

// GeneralizedTime as RFC 5280 4.1.2.5.2 requires it: exactly "YYYYMMDDHHMMSSZ", no fractions, UTC.
time_t take_generalized_time(CBS* in, const char* what) {
    CBS time = take(in, CBS_ASN1_GENERALIZEDTIME, what);
    need(CBS_len(&time) == 15 && CBS_data(&time)[14] == 'Z', what);
    unsigned field[7];  // YYYY as two fields of two digits, then MM DD HH MM SS
    for (size_t i = 0; i < 7; ++i) {
        uint8_t hi = CBS_data(&time)[2 * i], lo = CBS_data(&time)[2 * i + 1];
        need(hi >= '0' && hi <= '9' && lo >= '0' && lo <= '9', what);
        field[i] = (hi - '0') * 10u + (lo - '0');
    }
    unsigned year = field[0] * 100 + field[1], month = field[2], day = field[3];
    need(month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month), what);
    need(field[4] <= 23 && field[5] <= 59 && field[6] <= 59, what);
    int64_t seconds = days_from_civil(year, month, day) * 86400 + field[4] * 3600 + field[5] * 60 + field[6];
    return static_cast<time_t>(seconds);
}

enum class HashAlgorithm { sha1, sha256, unsupported };
enum class CertStatus { good, revoked, unknown };

struct CertId {
    HashAlgorithm hash = HashAlgorithm::unsupported;
    std::string hash_oid;  // for the message when unsupported
    CBS issuer_name_hash, issuer_key_hash, serial;
};

struct SingleResponse {
    CertId id;
    CertStatus status = CertStatus::unknown;
    time_t this_update = 0;
    std::optional<time_t> next_update;
};

// AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters NULL or absent }
HashAlgorithm take_hash_algorithm(CBS* in, std::string& oid_out) {
    CBS algorithm = take(in, CBS_ASN1_SEQUENCE, "bad CertID hashAlgorithm");
    CBS oid = take(&algorithm, CBS_ASN1_OBJECT, "bad CertID hashAlgorithm");
    if (CBS_len(&algorithm) != 0) need_end(take(&algorithm, CBS_ASN1_NULL, "CertID hash parameters not NULL"),
                                           "CertID hash parameters not NULL");
    need_end(algorithm, "bad CertID hashAlgorithm");
    oid_out = oid_text(oid);
    if (equals(oid, oid_sha1)) return HashAlgorithm::sha1;
    if (equals(oid, oid_sha256)) return HashAlgorithm::sha256;
    return HashAlgorithm::unsupported;
}

CertId take_cert_id(CBS* in) {
    CBS seq = take(in, CBS_ASN1_SEQUENCE, "bad CertID");
    CertId id;
    id.hash = take_hash_algorithm(&seq, id.hash_oid);
    id.issuer_name_hash = take(&seq, CBS_ASN1_OCTETSTRING, "bad CertID issuerNameHash");
    id.issuer_key_hash = take(&seq, CBS_ASN1_OCTETSTRING, "bad CertID issuerKeyHash");
    id.serial = take(&seq, CBS_ASN1_INTEGER, "bad CertID serialNumber");
    need(CBS_len(&id.serial) > 0, "bad CertID serialNumber");
    need_end(seq, "trailing bytes in CertID");
    return id;
}

// certStatus CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT NULL }
CertStatus take_cert_status(CBS* in) {
    CBS contents;
    unsigned tag = 0;
    need(CBS_get_any_asn1(in, &contents, &tag), "bad certStatus");
    if (tag == implicit_primitive_tag(0) && CBS_len(&contents) == 0) return CertStatus::good;
    if (tag == explicit_tag(1)) return CertStatus::revoked;  // RevokedInfo's contents do not matter here
    if (tag == implicit_primitive_tag(2) && CBS_len(&contents) == 0) return CertStatus::unknown;
    throw Malformed{"bad certStatus"};
}

SingleResponse take_single_response(CBS* in) {
    CBS seq = take(in, CBS_ASN1_SEQUENCE, "bad SingleResponse");
    SingleResponse single;
    single.id = take_cert_id(&seq);
    single.status = take_cert_status(&seq);
    single.this_update = take_generalized_time(&seq, "bad thisUpdate");
    if (CBS_peek_asn1_tag(&seq, explicit_tag(0))) {
        CBS next = take(&seq, explicit_tag(0), "bad nextUpdate");
        single.next_update = take_generalized_time(&next, "bad nextUpdate");
        need_end(next, "bad nextUpdate");
    }
    skip_optional(&seq, explicit_tag(1), "bad singleExtensions");
    need_end(seq, "trailing bytes in SingleResponse");
    return single;
}

// ResponseData ::= SEQUENCE { version [0] DEFAULT v1, responderID, producedAt, responses, [1] extensions }
std::vector<SingleResponse> take_response_data(CBS* in) {
    CBS seq = take(in, CBS_ASN1_SEQUENCE, "bad ResponseData");
    uint64_t version = 0;
    need(CBS_get_optional_asn1_uint64(&seq, &version, explicit_tag(0), 0), "bad ResponseData version");
    need(version == 0, "ResponseData version is not v1");
    CBS responder;  // not checked: the signature, which it names the key of, is the client's business
    unsigned responder_tag = 0;
    need(CBS_get_any_asn1(&seq, &responder, &responder_tag), "bad responderID");
    need(responder_tag == explicit_tag(1) || responder_tag == explicit_tag(2), "bad responderID");
    take_generalized_time(&seq, "bad producedAt");
    CBS responses = take(&seq, CBS_ASN1_SEQUENCE, "bad responses");
    skip_optional(&seq, explicit_tag(1), "bad responseExtensions");
    need_end(seq, "trailing bytes in ResponseData");
    std::vector<SingleResponse> singles;
    while (CBS_len(&responses) > 0) singles.push_back(take_single_response(&responses));
    return singles;
}

// BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature BIT STRING, [0] certs }
std::vector<SingleResponse> parse_basic_response(CBS der) {
    CBS seq = take(&der, CBS_ASN1_SEQUENCE, "bad BasicOCSPResponse");
    need_end(der, "trailing bytes after BasicOCSPResponse");
    std::vector<SingleResponse> singles = take_response_data(&seq);
    take(&seq, CBS_ASN1_SEQUENCE, "bad signatureAlgorithm");
    take(&seq, CBS_ASN1_BITSTRING, "bad signature");
    skip_optional(&seq, explicit_tag(0), "bad certs");
    need_end(seq, "trailing bytes in BasicOCSPResponse");
    return singles;
}

const char* response_status_name(unsigned status) {
    switch (status) {
        case 0: return "successful";
        case 1: return "malformedRequest";
        case 2: return "internalError";
        case 3: return "tryLater";
        case 5: return "sigRequired";
        case 6: return "unauthorized";
        default: return nullptr;
    }
}

// OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ResponseBytes OPTIONAL }
struct Envelope {
    unsigned status = 0;
    bool has_bytes = false;
    CBS response_type{};
    CBS response{};
};

Envelope parse_envelope(std::span<const uint8_t> der) {
    CBS in;
    CBS_init(&in, der.data(), der.size());
    need(CBS_len(&in) > 0, "empty");
    CBS seq = take(&in, CBS_ASN1_SEQUENCE, "no OCSPResponse SEQUENCE");
    need_end(in, "trailing bytes after OCSPResponse");
    CBS status = take(&seq, CBS_ASN1_ENUMERATED, "bad responseStatus");
    need(CBS_len(&status) == 1 && CBS_data(&status)[0] < 0x80, "bad responseStatus");
    Envelope envelope;
    envelope.status = CBS_data(&status)[0];
    CBS bytes;
    int present = 0;
    need(CBS_get_optional_asn1(&seq, &bytes, &present, explicit_tag(0)), "bad responseBytes");
    need_end(seq, "trailing bytes in OCSPResponse");
    envelope.has_bytes = present != 0;
    if (envelope.has_bytes) {
        CBS response_bytes = take(&bytes, CBS_ASN1_SEQUENCE, "bad responseBytes");
        need_end(bytes, "bad responseBytes");
        envelope.response_type = take(&response_bytes, CBS_ASN1_OBJECT, "bad responseType");
        envelope.response = take(&response_bytes, CBS_ASN1_OCTETSTRING, "bad response");
        need_end(response_bytes, "trailing bytes in responseBytes");
    }
    return envelope;
}

// The leaf as a CertID names it, for both supported hash algorithms.
struct CertificateIdentity {
    std::vector<uint8_t> serial;  // INTEGER contents without leading zero bytes
    std::array<uint8_t, SHA_DIGEST_LENGTH> name_sha1{}, key_sha1{};
    std::array<uint8_t, SHA256_DIGEST_LENGTH> name_sha256{}, key_sha256{};
    bool issuer_known = false;
};

std::span<const uint8_t> without_leading_zeros(std::span<const uint8_t> integer) {
    while (integer.size() > 1 && integer[0] == 0) integer = integer.subspan(1);
    return integer;
}

std::span<const uint8_t> bytes_of(const CBS& cbs) { return {CBS_data(&cbs), CBS_len(&cbs)}; }

std::optional<CertificateIdentity> identify(X509* leaf, X509* issuer) {
    CertificateIdentity identity;
    uint8_t* serial_der = nullptr;
    int serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(leaf), &serial_der);
    bssl::UniquePtr<uint8_t> serial_owner(serial_der);
    CBS serial_cbs, serial;
    CBS_init(&serial_cbs, serial_der, serial_len > 0 ? static_cast<size_t>(serial_len) : 0);
    if (serial_len <= 0 || !CBS_get_asn1(&serial_cbs, &serial, CBS_ASN1_INTEGER)) return std::nullopt;
    auto serial_bytes = without_leading_zeros(bytes_of(serial));
    identity.serial.assign(serial_bytes.begin(), serial_bytes.end());

    uint8_t* name_der = nullptr;
    int name_len = i2d_X509_NAME(X509_get_issuer_name(leaf), &name_der);
    bssl::UniquePtr<uint8_t> name_owner(name_der);
    if (name_len <= 0) return std::nullopt;
    SHA1(name_der, static_cast<size_t>(name_len), identity.name_sha1.data());
    SHA256(name_der, static_cast<size_t>(name_len), identity.name_sha256.data());

    if (issuer) {
        const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(issuer);
        if (!key) return std::nullopt;
        const uint8_t* key_data = ASN1_STRING_get0_data(key);
        size_t key_len = static_cast<size_t>(ASN1_STRING_length(key));
        SHA1(key_data, key_len, identity.key_sha1.data());
        SHA256(key_data, key_len, identity.key_sha256.data());
        identity.issuer_known = true;
    }
    return identity;
}

// Why `id` does not name the certificate; empty when it does.
std::string mismatch(const CertId& id, const CertificateIdentity& identity) {
    auto serial = without_leading_zeros(bytes_of(id.serial));
    if (!std::ranges::equal(serial, identity.serial)) return "for another certificate (serial " + hex(serial) + ")";
    if (id.hash == HashAlgorithm::unsupported) return "CertID hash algorithm " + id.hash_oid + " not supported";
    bool sha1 = id.hash == HashAlgorithm::sha1;
    std::span<const uint8_t> name = sha1 ? std::span<const uint8_t>(identity.name_sha1) : identity.name_sha256;
    std::span<const uint8_t> key = sha1 ? std::span<const uint8_t>(identity.key_sha1) : identity.key_sha256;
    if (!equals(id.issuer_name_hash, name)) return "for a certificate of another issuer (issuerNameHash differs)";
    if (identity.issuer_known && !equals(id.issuer_key_hash, key))
        return "for a certificate of another issuer key (issuerKeyHash differs)";
    return "";
}

// The SingleResponse for the certificate, or why there is none: a same-serial mismatch says more
// than "another certificate", so it wins.
const SingleResponse* find_match(const std::vector<SingleResponse>& singles, const CertificateIdentity& identity,
                                 std::string& problem) {
    if (singles.empty()) problem = "no SingleResponse in the response";
    for (const SingleResponse& single : singles) {
        std::string why = mismatch(single.id, identity);
        if (why.empty()) return &single;
        if (problem.empty() || !why.starts_with("for another certificate")) problem = why;
    }
    return nullptr;
}

std::string freshness_problem(const SingleResponse& single, time_t now) {
    if (single.status == CertStatus::revoked) return "certificate status revoked";
    if (single.status == CertStatus::unknown) return "certificate status unknown";
    if (single.this_update > now + ocsp_clock_skew_seconds)
        return "not yet valid (thisUpdate " + format_utc(single.this_update) + ")";
    if (single.next_update && *single.next_update < single.this_update)
        return "nextUpdate " + format_utc(*single.next_update) + " before thisUpdate";
    if (single.next_update && *single.next_update <= now)
        return "expired (nextUpdate " + format_utc(*single.next_update) + ")";
    if (!single.next_update && now - single.this_update > ocsp_max_age_without_next_update)
        return "no nextUpdate and thisUpdate " + format_utc(single.this_update) + " is more than 7 days old";
    return "";
}

OcspResponseCheck check_parsed(std::span<const uint8_t> der, X509* leaf, X509* issuer, time_t now) {
    OcspResponseCheck check;
    Envelope envelope = parse_envelope(der);
    if (envelope.status != 0) {
        const char* name = response_status_name(envelope.status);
        check.problem = std::string("response status ") + (name ? name : std::to_string(envelope.status));
        return check;
    }
    need(envelope.has_bytes, "status successful without responseBytes");
    if (!equals(envelope.response_type, oid_ocsp_basic)) {
        check.problem = "response type " + oid_text(envelope.response_type) + " is not id-pkix-ocsp-basic";
        return check;
    }
    std::vector<SingleResponse> singles = parse_basic_response(envelope.response);
    std::optional<CertificateIdentity> identity = identify(leaf, issuer);
    if (!identity) {
        check.problem = "cannot read the certificate's serial, issuer name or issuer key";
        return check;
    }
    const SingleResponse* single = find_match(singles, *identity, check.problem);
    if (!single) return check;
    check.this_update = single->this_update;
    check.next_update = single->next_update.value_or(0);
    check.problem = freshness_problem(*single, now);
    check.stapleable = check.problem.empty();
    return check;
}

}  // namespace

OcspResponseCheck check_ocsp_response(std::span<const uint8_t> der, X509* leaf, X509* issuer, time_t now) {
    if (der.size() > max_ocsp_response_bytes) {
        OcspResponseCheck check;
        check.problem = "too large (" + std::to_string(der.size()) + " bytes, at most " +
                        std::to_string(max_ocsp_response_bytes) + ")";
        return check;
    }
    if (!leaf) return {false, "no certificate to check the response against", 0, 0};
    try {
        return check_parsed(der, leaf, issuer, now);
    } catch (const Malformed& e) {
        return {false, "not a DER OCSP response: " + e.what, 0, 0};
    }
}

std::string format_utc(time_t t) {
    tm utc{};
    if (!gmtime_r(&t, &utc)) return "(time out of range)";
    char buf[40];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &utc);
    return buf;
}

}  // namespace tlsfront
