// Protocol-shaped refusals; each is one CRLF-terminated line.
#include "proxy/protocol/protocol_refusal.hpp"

namespace tlsfront {

std::string_view backend_unavailable_line(MailProtocol protocol) {
    switch (protocol) {
    case MailProtocol::imap: return "* BYE [UNAVAILABLE] Mail service temporarily unavailable\r\n";
    case MailProtocol::pop3: return "-ERR [SYS/TEMP] Mail service temporarily unavailable\r\n";
    case MailProtocol::smtp: return "421 4.3.0 Mail service temporarily unavailable\r\n";
    }
    return "";
}

std::string_view shutdown_goodbye_line(MailProtocol protocol) {
    switch (protocol) {
    case MailProtocol::imap: return "* BYE [UNAVAILABLE] Server shutting down, please reconnect\r\n";
    case MailProtocol::pop3: return "-ERR [SYS/TEMP] Server shutting down, please reconnect\r\n";
    case MailProtocol::smtp: return "421 4.3.2 Server shutting down, please try again\r\n";
    }
    return "";
}

std::string_view starttls_timeout_line(MailProtocol protocol) {
    switch (protocol) {
    case MailProtocol::imap: return "* BYE Timed out waiting for STARTTLS\r\n";
    case MailProtocol::pop3: return "-ERR Timed out waiting for STLS\r\n";
    case MailProtocol::smtp: return "421 4.4.2 Timed out waiting for STARTTLS\r\n";
    }
    return "";
}

}  // namespace tlsfront
