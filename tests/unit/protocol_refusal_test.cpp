// The refusal each mail protocol's client understands when the backend is down.
#include <doctest/doctest.h>

#include <string>

#include "proxy/protocol/protocol_refusal.hpp"

using namespace tlsfront;

TEST_CASE("refusal and goodbye lines are protocol-shaped single CRLF lines") {
    for (auto line_of : {backend_unavailable_line, shutdown_goodbye_line}) {
        std::string imap(line_of(MailProtocol::imap));
        std::string pop3(line_of(MailProtocol::pop3));
        std::string smtp(line_of(MailProtocol::smtp));
        CHECK(imap.starts_with("* BYE "));
        CHECK(pop3.starts_with("-ERR "));
        CHECK(smtp.starts_with("421 4.3."));
        for (const auto& line : {imap, pop3, smtp}) {
            CHECK(line.ends_with("\r\n"));
            CHECK(line.find('\n') == line.size() - 1);
        }
    }
    CHECK(std::string(backend_unavailable_line(MailProtocol::smtp)).starts_with("421 4.3.0 "));
    CHECK(std::string(shutdown_goodbye_line(MailProtocol::smtp)).starts_with("421 4.3.2 "));
}
