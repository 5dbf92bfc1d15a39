// Reads the ClientHello facts that choose between a certificate and its alt_cert: the signature
// algorithms the client accepts and whether it could use an ECDSA certificate at all. Pure
// parsing of extension bodies (RFC 8446), hostile input in mind: every length checked. (The SNI
// name comes from SSL_get_servername, which BoringSSL has validated by then.)
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace tlsfront {

// signature_algorithms extension body -> the SignatureScheme list, or nullopt when malformed.
std::optional<std::vector<uint16_t>> parse_signature_algorithms(std::span<const uint8_t> body);

// supported_versions extension body (client form) -> true when it lists TLS 1.3.
bool offers_tls13(std::span<const uint8_t> body);

// cipher_suites from the ClientHello -> true when some suite authenticates with ECDSA (TLS 1.2).
bool offers_ecdsa_suite(std::span<const uint8_t> cipher_suites);

}  // namespace tlsfront
