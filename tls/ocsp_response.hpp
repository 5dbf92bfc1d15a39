// Decides whether a DER OCSP response (RFC 6960, as `openssl ocsp -respout` writes it) may be stapled
// for a certificate: well-formed, status successful, a basic response, a SingleResponse whose CertID
// names this certificate, certificate status good, and current. Debian's BoringSSL has no OCSP module,
// so the DER is parsed here with CBS.
//
// The response's signature is NOT verified: the client verifies it against the issuer, and a response
// that fails there costs that client nothing more than no staple would. This check only keeps tlsfront
// from stapling something that is stale, for another certificate, or not OCSP at all.
#pragma once

#include <openssl/base.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>
#include <string>

namespace tlsfront {

// Larger inputs are refused before parsing ("too large"); real responses are a few KiB at most.
inline constexpr size_t max_ocsp_response_bytes = 64 * 1024;
// thisUpdate may lie this far in the future (responder clock ahead of ours).
inline constexpr time_t ocsp_clock_skew_seconds = 5 * 60;
// A response without nextUpdate ("newer information is always available") is stapled while its
// thisUpdate is at most this old.
inline constexpr time_t ocsp_max_age_without_next_update = 7 * 24 * 3600;

// What the loader needs to decide whether to staple.
struct OcspResponseCheck {
    bool stapleable = false;  // status successful, basic response, a SingleResponse for this certificate, good, current
    std::string problem;      // when not stapleable: the cause, e.g. "expired (nextUpdate 2026-01-02 03:04:05 UTC)",
                              // "for another certificate (serial 1A2B)", "certificate status revoked",
                              // "response status tryLater", "not a DER OCSP response: <what>"
    time_t this_update = 0;   // of the SingleResponse for this certificate (0 when none was found)
    time_t next_update = 0;   // 0 when the response has none
};

// `leaf` is the certificate the response is for; `issuer` its issuer from the chain file, or null when
// the chain holds only the leaf (then issuerKeyHash cannot be checked: the match is on serial and
// issuerNameHash only). CertIDs may use SHA-1 or SHA-256. Of several SingleResponses the one whose
// CertID matches is used. Time rules: thisUpdate at most ocsp_clock_skew_seconds after `now`;
// nextUpdate, when present, after `now`; without nextUpdate, thisUpdate at most
// ocsp_max_age_without_next_update before `now`. Never throws; hostile input gives a problem.
OcspResponseCheck check_ocsp_response(std::span<const uint8_t> der, X509* leaf, X509* issuer, time_t now);

// "2026-01-02 03:04:05 UTC".
std::string format_utc(time_t t);

}  // namespace tlsfront
