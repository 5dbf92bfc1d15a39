// The backend's greeting that tlsfront swallows on a STARTTLS session, and the SMTP reply to the
// EHLO/HELO it replays: complete, accepted, or refused with a reason.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "proxy/protocol/backend_greeting.hpp"

using namespace tlsfront;

namespace {

std::span<const uint8_t> bytes(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace

TEST_CASE("IMAP and POP3 greetings: one line, OK accepted, anything else refused") {
    auto x = scan_backend_greeting(MailProtocol::imap, bytes("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\na"));
    CHECK(x.status == BackendReplyStatus::accepted);
    CHECK(x.consumed == std::string_view("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n").size());
    CHECK(scan_backend_greeting(MailProtocol::imap, bytes("* OK Dovecot")).status == BackendReplyStatus::incomplete);
    x = scan_backend_greeting(MailProtocol::imap, bytes("* BYE Too many connections\r\n"));
    CHECK(x.status == BackendReplyStatus::refused);
    CHECK(std::string_view(x.error) == "greeting is not * OK");
    CHECK(scan_backend_greeting(MailProtocol::imap, bytes("* OKAY\r\n")).status == BackendReplyStatus::refused);
    CHECK(scan_backend_greeting(MailProtocol::imap, bytes("* PREAUTH hi\r\n")).status == BackendReplyStatus::refused);

    CHECK(scan_backend_greeting(MailProtocol::pop3, bytes("+OK Dovecot ready.\r\n")).status ==
          BackendReplyStatus::accepted);
    CHECK(scan_backend_greeting(MailProtocol::pop3, bytes("+OK\r\n")).consumed == 5);
    x = scan_backend_greeting(MailProtocol::pop3, bytes("-ERR [SYS/TEMP] busy\r\n"));
    CHECK(x.status == BackendReplyStatus::refused);
    CHECK(std::string_view(x.error) == "greeting is not +OK");
}

TEST_CASE("SMTP greeting: multi-line 220 accepted whole; 421/554 and mixed codes refused") {
    std::string_view greeting = "220-mx.example.test ESMTP\r\n220-more text\r\n220 ready\r\nleft";
    auto x = scan_backend_greeting(MailProtocol::smtp, bytes(greeting));
    CHECK(x.status == BackendReplyStatus::accepted);
    CHECK(greeting.substr(x.consumed) == "left");
    CHECK(scan_backend_greeting(MailProtocol::smtp, bytes("220-first\r\n220 sec")).status ==
          BackendReplyStatus::incomplete);
    CHECK(scan_backend_greeting(MailProtocol::smtp, bytes("220\r\n")).status == BackendReplyStatus::accepted);
    x = scan_backend_greeting(MailProtocol::smtp, bytes("554 5.3.2 go away\r\n"));
    CHECK(x.status == BackendReplyStatus::refused);
    CHECK(std::string_view(x.error) == "greeting is not 220");
    CHECK(scan_backend_greeting(MailProtocol::smtp, bytes("421 busy\r\n")).status == BackendReplyStatus::refused);
    x = scan_backend_greeting(MailProtocol::smtp, bytes("220-a\r\n250 b\r\n"));
    CHECK(std::string_view(x.error) == "malformed reply");
    CHECK(scan_backend_greeting(MailProtocol::smtp, bytes("hello\r\n")).status == BackendReplyStatus::refused);
    CHECK(scan_backend_greeting(MailProtocol::smtp, bytes("22\r\n")).status == BackendReplyStatus::refused);
}

TEST_CASE("SMTP EHLO reply: any 2xx accepted, errors refused") {
    auto x = scan_smtp_reply(bytes("250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n"));
    CHECK(x.status == BackendReplyStatus::accepted);
    CHECK(x.consumed == std::string_view("250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n").size());
    x = scan_smtp_reply(bytes("501 5.5.4 bad hostname\r\n"));
    CHECK(x.status == BackendReplyStatus::refused);
    CHECK(std::string_view(x.error) == "reply to HELO/EHLO is not 2xx");
}

TEST_CASE("a reply that never ends within the bound is refused") {
    std::string endless(kMaxBackendReply, 'x');
    CHECK(scan_backend_greeting(MailProtocol::imap, bytes(endless)).status == BackendReplyStatus::refused);
    CHECK(scan_backend_greeting(MailProtocol::imap, bytes(endless.substr(1))).status ==
          BackendReplyStatus::incomplete);
    std::string many_lines;
    while (many_lines.size() < kMaxBackendReply) many_lines += "220-filler line\r\n";
    auto x = scan_backend_greeting(MailProtocol::smtp, bytes(many_lines));
    CHECK(x.status == BackendReplyStatus::refused);
    CHECK(std::string_view(x.error) == "reply too long");
}
