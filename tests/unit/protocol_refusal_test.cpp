// The refusal each mail protocol's client understands when the backend is down.
#include <doctest/doctest.h>

#include <string>

#include "proxy/protocol/protocol_refusal.hpp"

using namespace tlsfront;

TEST_CASE("refusal lines are protocol-shaped single CRLF lines") {
    std::string imap(backend_unavailable_line(MailProtocol::imap));
    std::string pop3(backend_unavailable_line(MailProtocol::pop3));
    std::string smtp(backend_unavailable_line(MailProtocol::smtp));
    CHECK(imap.starts_with("* BYE "));
    CHECK(pop3.starts_with("-ERR "));
    CHECK(smtp.starts_with("421 4.3.0 "));
    for (const auto& line : {imap, pop3, smtp}) {
        CHECK(line.ends_with("\r\n"));
        CHECK(line.find('\n') == line.size() - 1);
    }
}
