// The line a mail client understands when tlsfront cannot reach the backend after the TLS
// handshake: IMAP untagged BYE (RFC 9051 7.1.5), POP3 -ERR (RFC 1939), SMTP 421 (RFC 5321 3.8).
#pragma once

#include <string_view>

#include "config/config.hpp"

namespace tlsfront {

std::string_view backend_unavailable_line(MailProtocol protocol);

}  // namespace tlsfront
