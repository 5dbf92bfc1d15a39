// The PROXY protocol v2 TLVs a listener may send to its backend (haproxy proxy-protocol.txt
// section 2.2), as a bit set, and the named sets ("profiles") that fit common mail daemons.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tlsfront {

enum ProxyTlv : uint16_t {
    tlv_alpn = 1 << 0,         // PP2_TYPE_ALPN 0x01 (only when ALPN was negotiated)
    tlv_authority = 1 << 1,    // PP2_TYPE_AUTHORITY 0x02: the SNI (only when the client sent one)
    tlv_unique_id = 1 << 2,    // PP2_TYPE_UNIQUE_ID 0x05: the connection id of the log line
    tlv_ssl = 1 << 3,          // PP2_TYPE_SSL 0x20: client flags + verify result
    tlv_ssl_version = 1 << 4,  // sub-TLV PP2_SUBTYPE_SSL_VERSION 0x21 ("TLSv1.3")
    tlv_ssl_cn = 1 << 5,       // sub-TLV PP2_SUBTYPE_SSL_CN 0x22 (client certificate subject CN)
    tlv_ssl_cipher = 1 << 6,   // sub-TLV PP2_SUBTYPE_SSL_CIPHER 0x23
    tlv_ssl_sig_alg = 1 << 7,  // sub-TLV PP2_SUBTYPE_SSL_SIG_ALG 0x24
    tlv_ssl_key_alg = 1 << 8,  // sub-TLV PP2_SUBTYPE_SSL_KEY_ALG 0x25
};
// The ssl_* sub-TLVs are only written inside tlv_ssl; a set with a sub-TLV implies tlv_ssl.

// A TLV name as the config writes it ("alpn", "authority", "unique_id", "ssl", "ssl_version",
// "ssl_cn", "ssl_cipher", "ssl_sig_alg", "ssl_key_alg").
std::optional<ProxyTlv> proxy_tlv_from_name(std::string_view name);

// Named TLV sets, each with the header size limit of the daemon it is named after:
//   "minimal" (the SMTP default): SSL + VERSION + UNIQUE_ID; fits Exim's 232 bytes.
//   "dovecot": ALPN, AUTHORITY (Dovecot's local_name), UNIQUE_ID, SSL + every sub-TLV; 1500 bytes.
//   "postfix": none (Postfix 3.7 skips every TLV); 536 bytes.
//   "none": none; 232 bytes.
struct ProxyTlvProfile {
    uint16_t tlvs;
    uint32_t header_limit;
};
std::optional<ProxyTlvProfile> proxy_tlv_profile(std::string_view name);
// The set a listener sends without proxy_protocol_tlvs (protocol: 0 imap, 1 pop3, 2 smtp, as
// MailProtocol). IMAP and POP3 backends are mostly Dovecot, which reads SSL + VERSION (a
// "secured" login), AUTHORITY (local_name) and ALPN within its 1500 bytes; SMTP backends include
// Exim (232 bytes), so SMTP keeps "minimal".
ProxyTlvProfile default_proxy_tlvs(int protocol);
constexpr uint32_t kDefaultProxyHeaderLimit = 232;  // Exim's, the smallest of the common daemons

}  // namespace tlsfront
