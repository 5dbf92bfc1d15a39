// check_ocsp_response on synthetic DER responses (ocsp_response_fixture.hpp): matching, time rules,
// statuses, and hostile input. One case reads a response made by the real `openssl ocsp` when
// TLSFRONT_OCSP_FIXTURE_DIR is set (tests/integration/ocsp_fixture.sh DIR writes it).
#include "tls/ocsp_response.hpp"

#include <doctest/doctest.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "tests/unit/ocsp_response_fixture.hpp"

using namespace tlsfront;
using namespace ocsp_fixture;

namespace {

const time_t now = 1767322800;  // 2026-01-02 03:00:00 UTC
constexpr time_t day = 86400;

const Pki& pki() {
    static const Pki shared;
    return shared;
}

OcspResponseCheck check(const ResponseSpec& spec, bool with_issuer = true) {
    std::vector<uint8_t> der = build_response(spec);
    return check_ocsp_response(der, pki().leaf.get(), with_issuer ? pki().ca.get() : nullptr, now);
}

ResponseSpec response_with(const SingleSpec& single) {
    ResponseSpec spec;
    spec.singles = {single};
    return spec;
}

SingleSpec good(bool sha256 = false) { return single_for(pki(), sha256, now); }

bool starts_with(const std::string& text, const std::string& prefix) { return text.starts_with(prefix); }

}  // namespace

TEST_CASE("format_utc") {
    CHECK(format_utc(0) == "1970-01-01 00:00:00 UTC");
    CHECK(format_utc(now) == "2026-01-02 03:00:00 UTC");
}

TEST_CASE("OCSP: a good, current response for the certificate is stapleable") {
    for (bool sha256 : {false, true}) {
        CAPTURE(sha256);
        auto result = check(response_with(good(sha256)));
        CHECK(result.stapleable);
        CHECK(result.problem == "");
        CHECK(result.this_update == now - 3600);
        CHECK(result.next_update == now + day);
    }
    SUBCASE("hash parameters absent instead of NULL") {
        SingleSpec single = good();
        single.hash_params_null = false;
        CHECK(check(response_with(single)).stapleable);
    }
    SUBCASE("serial written without the leading zero byte") {
        SingleSpec single = good();
        single.serial = leaf_serial;
        CHECK(check(response_with(single)).stapleable);
    }
    SUBCASE("times round-trip through the GeneralizedTime parser (leap day, far future)") {
        for (time_t t : {time_t{951825600} /* 2000-02-29 12:00 */, time_t{1709208000} /* 2024-02-29 12:00 */,
                         time_t{4102444799} /* 2099-12-31 23:59:59 */}) {
            SingleSpec single = good();
            single.this_update = t;
            single.next_update = t + 1;
            auto der = build_response(response_with(single));
            auto result = check_ocsp_response(der, pki().leaf.get(), pki().ca.get(), t);
            CHECK(result.this_update == t);
            CHECK(result.next_update == t + 1);
            CHECK(result.stapleable);
        }
    }
}

TEST_CASE("OCSP: time rules") {
    SingleSpec single = good();
    SUBCASE("expired") {
        single.next_update = now - 60;
        auto result = check(response_with(single));
        CHECK_FALSE(result.stapleable);
        CHECK(result.problem == "expired (nextUpdate 2026-01-02 02:59:00 UTC)");
        CHECK(result.next_update == now - 60);
    }
    SUBCASE("nextUpdate exactly now is expired") {
        single.next_update = now;
        CHECK(starts_with(check(response_with(single)).problem, "expired"));
    }
    SUBCASE("thisUpdate in the future beyond the clock skew") {
        single.this_update = now + 301;
        auto result = check(response_with(single));
        CHECK_FALSE(result.stapleable);
        CHECK(result.problem == "not yet valid (thisUpdate 2026-01-02 03:05:01 UTC)");
    }
    SUBCASE("thisUpdate in the future within the clock skew") {
        single.this_update = now + 300;
        CHECK(check(response_with(single)).stapleable);
    }
    SUBCASE("no nextUpdate, thisUpdate a day old") {
        single.next_update.reset();
        single.this_update = now - day;
        auto result = check(response_with(single));
        CHECK(result.stapleable);
        CHECK(result.next_update == 0);
    }
    SUBCASE("no nextUpdate, thisUpdate 8 days old") {
        single.next_update.reset();
        single.this_update = now - 8 * day;
        auto result = check(response_with(single));
        CHECK_FALSE(result.stapleable);
        CHECK(result.problem == "no nextUpdate and thisUpdate 2025-12-25 03:00:00 UTC is more than 7 days old");
    }
    SUBCASE("nextUpdate before thisUpdate") {
        single.next_update = single.this_update - 1;
        CHECK(check(response_with(single)).problem.find("before thisUpdate") != std::string::npos);
    }
}

TEST_CASE("OCSP: CertID matching") {
    SingleSpec single = good();
    SUBCASE("wrong serial") {
        single.serial = {0x12, 0x34};
        auto result = check(response_with(single));
        CHECK_FALSE(result.stapleable);
        CHECK(result.problem == "for another certificate (serial 1234)");
        CHECK(result.this_update == 0);
    }
    SUBCASE("wrong issuer name hash") {
        single.name_hash[0] ^= 1;
        CHECK(check(response_with(single)).problem == "for a certificate of another issuer (issuerNameHash differs)");
    }
    SUBCASE("wrong issuer key hash: refused with the issuer, accepted without it") {
        single.key_hash[0] ^= 1;
        CHECK(check(response_with(single)).problem ==
              "for a certificate of another issuer key (issuerKeyHash differs)");
        CHECK(check(response_with(single), false).stapleable);
    }
    SUBCASE("SHA-1 hashes labelled SHA-256") {
        single.hash_oid = oid_sha256;
        CHECK(check(response_with(single)).problem.find("issuerNameHash differs") != std::string::npos);
    }
    SUBCASE("unsupported hash algorithm") {
        single.hash_oid = "1.2.840.113549.2.5";  // MD5
        CHECK(check(response_with(single)).problem == "CertID hash algorithm 1.2.840.113549.2.5 not supported");
    }
    SUBCASE("the second of two SingleResponses matches") {
        SingleSpec other = single;
        other.serial = {0x05};
        other.cert_status = 1;
        ResponseSpec spec;
        spec.singles = {other, single};
        CHECK(check(spec).stapleable);
        spec.singles = {other, other};
        CHECK(check(spec).problem == "for another certificate (serial 05)");
    }
    SUBCASE("a same-serial mismatch is reported over another certificate's") {
        SingleSpec other = single;
        other.serial = {0x05};
        single.name_hash[0] ^= 1;
        ResponseSpec spec;
        spec.singles = {other, single};
        CHECK(check(spec).problem.find("issuerNameHash differs") != std::string::npos);
    }
    SUBCASE("no SingleResponse at all") {
        CHECK(check(ResponseSpec{}).problem == "no SingleResponse in the response");
    }
}

TEST_CASE("OCSP: statuses") {
    SingleSpec single = good();
    SUBCASE("revoked") {
        single.cert_status = 1;
        auto result = check(response_with(single));
        CHECK_FALSE(result.stapleable);
        CHECK(result.problem == "certificate status revoked");
    }
    SUBCASE("unknown") {
        single.cert_status = 2;
        CHECK(check(response_with(single)).problem == "certificate status unknown");
    }
    SUBCASE("response status tryLater, without responseBytes") {
        ResponseSpec spec;
        spec.status = 3;
        spec.with_bytes = false;
        CHECK(check(spec).problem == "response status tryLater");
        spec.status = 4;  // unassigned
        CHECK(check(spec).problem == "response status 4");
    }
    SUBCASE("successful without responseBytes") {
        ResponseSpec spec;
        spec.with_bytes = false;
        CHECK(check(spec).problem == "not a DER OCSP response: status successful without responseBytes");
    }
    SUBCASE("wrong responseType") {
        ResponseSpec spec = response_with(single);
        spec.response_type = "1.3.6.1.5.5.7.48.1.2";
        CHECK(check(spec).problem == "response type 1.3.6.1.5.5.7.48.1.2 is not id-pkix-ocsp-basic");
    }
}

TEST_CASE("OCSP: hostile input") {
    const std::vector<uint8_t> valid = build_response(response_with(good()));
    X509* leaf = pki().leaf.get();
    X509* ca = pki().ca.get();
    REQUIRE(check_ocsp_response(valid, leaf, ca, now).stapleable);

    SUBCASE("garbage and empty input") {
        const std::vector<uint8_t> garbage = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', '2', '0', '0'};
        CHECK(check_ocsp_response(garbage, leaf, ca, now).problem ==
              "not a DER OCSP response: no OCSPResponse SEQUENCE");
        CHECK(check_ocsp_response({}, leaf, ca, now).problem == "not a DER OCSP response: empty");
    }
    SUBCASE("trailing bytes") {
        ResponseSpec spec = response_with(good());
        spec.trailing = {0x00};
        CHECK(check(spec).problem == "not a DER OCSP response: trailing bytes after OCSPResponse");
    }
    SUBCASE("too large") {
        std::vector<uint8_t> huge(max_ocsp_response_bytes + 1, 0x30);
        CHECK(check_ocsp_response(huge, leaf, ca, now).problem == "too large (65537 bytes, at most 65536)");
    }
    SUBCASE("no certificate") {
        CHECK_FALSE(check_ocsp_response(valid, nullptr, nullptr, now).stapleable);
    }
    SUBCASE("truncated at every length") {
        for (size_t len = 0; len < valid.size(); ++len) {
            auto result = check_ocsp_response(std::span(valid).first(len), leaf, ca, now);
            CAPTURE(len);
            CHECK_FALSE(result.stapleable);
            CHECK(starts_with(result.problem, "not a DER OCSP response: "));
        }
    }
    SUBCASE("every byte flipped: never a crash, and a problem exactly when not stapleable") {
        for (size_t i = 0; i < valid.size(); ++i) {
            std::vector<uint8_t> flipped = valid;
            flipped[i] ^= 0xff;
            auto result = check_ocsp_response(flipped, leaf, ca, now);
            CHECK(result.stapleable == result.problem.empty());
        }
    }
    SUBCASE("GeneralizedTime is strict") {
        for (const char* text : {"20260230000000Z", "20260101000000.5Z", "202601010000Z", "20260101000000+0100",
                                 "20261301000000Z", "20260101240000Z", "20260101000060Z", "2026010100000aZ"}) {
            CAPTURE(text);
            SingleSpec single = good();
            single.this_update_text = text;
            CHECK(check(response_with(single)).problem == "not a DER OCSP response: bad thisUpdate");
        }
    }
}

TEST_CASE("OCSP: a response made by openssl ocsp (TLSFRONT_OCSP_FIXTURE_DIR)") {
    const char* dir = getenv("TLSFRONT_OCSP_FIXTURE_DIR");
    if (!dir) {
        MESSAGE("skipped: set TLSFRONT_OCSP_FIXTURE_DIR (tests/integration/ocsp_fixture.sh DIR)");
        return;
    }
    auto read_pem = [&](const char* name) {
        bssl::UniquePtr<BIO> bio(BIO_new_file((std::string(dir) + "/" + name).c_str(), "r"));
        REQUIRE(bio);
        bssl::UniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        REQUIRE(cert);
        return cert;
    };
    auto leaf = read_pem("leaf.pem");
    auto ca = read_pem("ca.pem");
    for (std::string name : {"resp.der", "resp-sha256.der"}) {
        CAPTURE(name);
        std::ifstream in(dir + ("/" + name), std::ios::binary);
        REQUIRE(in);
        std::vector<uint8_t> der{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        time_t t = time(nullptr);
        auto result = check_ocsp_response(der, leaf.get(), ca.get(), t);
        CHECK(result.problem == "");
        CHECK(result.stapleable);
        CHECK(result.next_update > t);
        CHECK(check_ocsp_response(der, leaf.get(), nullptr, t).stapleable);
        CHECK(starts_with(check_ocsp_response(der, leaf.get(), ca.get(), t + 8 * day).problem, "expired"));
        CHECK(starts_with(check_ocsp_response(der, ca.get(), ca.get(), t).problem, "for another certificate"));
    }
}
