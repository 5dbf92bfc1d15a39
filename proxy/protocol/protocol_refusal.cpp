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

}  // namespace tlsfront
