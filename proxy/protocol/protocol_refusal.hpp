// The lines a mail client understands when tlsfront ends its session: the backend cannot be reached
// (or greets with an error) after the TLS handshake, tlsfront is draining for a shutdown, or a
// STARTTLS client took too long. IMAP untagged BYE (RFC 9051
// 7.1.5), POP3 -ERR (RFC 1939), SMTP 421 (RFC 5321 3.8).
#pragma once

#include <string_view>

#include "config/config.hpp"

namespace tlsfront {

std::string_view backend_unavailable_line(MailProtocol protocol);
// Sent to an idle session during a drain, so the client reconnects (to the next instance) at once.
std::string_view shutdown_goodbye_line(MailProtocol protocol);
// Sent before closing a STARTTLS listener's client that has not reached TLS within handshake_timeout.
std::string_view starttls_timeout_line(MailProtocol protocol);

}  // namespace tlsfront
