// tlsfront's own dialogue before STARTTLS, line by line: what each protocol's client is told, when
// the handshake starts, and what happens to bytes that arrive too early or too many.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "proxy/protocol/pre_tls_dialogue.hpp"

using namespace tlsfront;

namespace {

struct Exchange {
    PreTlsStep step;
    std::string reply;
};

Exchange feed(PreTlsDialogue& dialogue, std::string_view input) {
    Exchange out;
    out.step = dialogue.read({reinterpret_cast<const uint8_t*>(input.data()), input.size()}, out.reply);
    return out;
}

PreTlsDialogue imap() { return {MailProtocol::imap, StartTlsMode::required, "mail.example.test"}; }
PreTlsDialogue pop3() { return {MailProtocol::pop3, StartTlsMode::required, "mail.example.test"}; }
PreTlsDialogue smtp(StartTlsMode mode = StartTlsMode::required) {
    return {MailProtocol::smtp, mode, "mx.example.test"};
}

}  // namespace

TEST_CASE("greetings name the host and advertise the upgrade") {
    CHECK(imap().greeting() == "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] mail.example.test ready\r\n");
    CHECK(pop3().greeting() == "+OK mail.example.test ready\r\n");
    CHECK(smtp().greeting() == "220 mx.example.test ESMTP\r\n");
}

TEST_CASE("IMAP: CAPABILITY, NOOP, refused LOGIN, BAD for the rest, then STARTTLS") {
    PreTlsDialogue d = imap();
    auto x = feed(d, "a1 CAPABILITY\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::need_more);
    CHECK(x.reply == "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK CAPABILITY completed\r\n");
    CHECK(feed(d, "a2 noop\r\n").reply == "a2 OK NOOP completed\r\n");
    CHECK(feed(d, "a3 LOGIN user secret\r\n").reply == "a3 NO [PRIVACYREQUIRED] Use STARTTLS first\r\n");
    CHECK(feed(d, "a4 AUTHENTICATE PLAIN\r\n").reply == "a4 NO [PRIVACYREQUIRED] Use STARTTLS first\r\n");
    CHECK(feed(d, "a5 SELECT INBOX\r\n").reply == "a5 BAD Command not permitted before STARTTLS\r\n");
    CHECK(feed(d, "a6 CAPABILITY extra\r\n").reply == "a6 BAD Command not permitted before STARTTLS\r\n");
    CHECK(feed(d, "\r\n").reply == "* BAD Invalid tag or command\r\n");
    CHECK(feed(d, "* NOOP\r\n").reply == "* BAD Invalid tag or command\r\n");
    CHECK(feed(d, "lonely\r\n").reply == "* BAD Invalid tag or command\r\n");
    x = feed(d, "a7 StartTLS\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::start_tls);
    CHECK(x.reply == "a7 OK Begin TLS negotiation now\r\n");
    CHECK(d.commands() == 10);
}

TEST_CASE("IMAP LOGOUT says BYE and closes") {
    PreTlsDialogue d = imap();
    auto x = feed(d, "z LOGOUT\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::close);
    CHECK(x.step.end == PreTlsEnd::quit);
    CHECK(x.reply == "* BYE mail.example.test logging out\r\nz OK LOGOUT completed\r\n");
}

TEST_CASE("bytes after the STARTTLS line are not read: consumed stops at its line end") {
    PreTlsDialogue d = imap();
    std::string_view input = "a STARTTLS\r\nb LOGIN x y\r\n";
    auto x = feed(d, input);
    CHECK(x.step.outcome == PreTlsOutcome::start_tls);
    CHECK(x.step.consumed == std::string_view("a STARTTLS\r\n").size());
    CHECK(x.reply == "a OK Begin TLS negotiation now\r\n");  // nothing for b

    PreTlsDialogue p = pop3();
    x = feed(p, "STLS\r\nUSER bob\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::start_tls);
    CHECK(x.step.consumed == 6);
    CHECK(x.reply == "+OK Begin TLS negotiation\r\n");

    PreTlsDialogue s = smtp();
    x = feed(s, "EHLO client\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::start_tls);
    CHECK(x.step.consumed == std::string_view("EHLO client\r\nSTARTTLS\r\n").size());
    CHECK(x.reply == "250-mx.example.test\r\n250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n");
}

TEST_CASE("a command split across reads is assembled; bare LF ends a line too") {
    PreTlsDialogue d = imap();
    auto x = feed(d, "a1 CAPA");
    CHECK(x.step.outcome == PreTlsOutcome::need_more);
    CHECK(x.reply.empty());
    CHECK(x.step.consumed == 7);
    x = feed(d, "BILITY\r");
    CHECK(x.reply.empty());
    x = feed(d, "\na2 STARTTLS\n");
    CHECK(x.reply == "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK CAPABILITY completed\r\n"
                     "a2 OK Begin TLS negotiation now\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::start_tls);
    CHECK(x.step.consumed == std::string_view("\na2 STARTTLS\n").size());
}

TEST_CASE("POP3: CAPA lists only STLS; authentication is refused; QUIT closes") {
    PreTlsDialogue d = pop3();
    CHECK(feed(d, "CAPA\r\n").reply == "+OK Capability list follows\r\nSTLS\r\n.\r\n");
    CHECK(feed(d, "USER bob\r\n").reply == "-ERR Authentication requires STLS first\r\n");
    CHECK(feed(d, "pass secret\r\n").reply == "-ERR Authentication requires STLS first\r\n");
    CHECK(feed(d, "APOP bob 0123456789abcdef\r\n").reply == "-ERR Authentication requires STLS first\r\n");
    CHECK(feed(d, "AUTH PLAIN\r\n").reply == "-ERR Authentication requires STLS first\r\n");
    CHECK(feed(d, "STAT\r\n").reply == "-ERR Command not permitted before STLS\r\n");
    CHECK(feed(d, "STLS now\r\n").reply == "-ERR Command not permitted before STLS\r\n");
    auto x = feed(d, "QUIT\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::close);
    CHECK(x.step.end == PreTlsEnd::quit);
    CHECK(x.reply == "+OK mail.example.test signing off\r\n");
}

TEST_CASE("SMTP required: EHLO offers STARTTLS without PIPELINING; mail commands get 530") {
    PreTlsDialogue d = smtp();
    auto x = feed(d, "EHLO client.example\r\n");
    CHECK(x.reply == "250-mx.example.test\r\n250 STARTTLS\r\n");
    CHECK(x.reply.find("PIPELINING") == std::string::npos);
    CHECK(feed(d, "HELO client.example\r\n").reply == "250 mx.example.test\r\n");
    CHECK(feed(d, "EHLO\r\n").reply == "501 5.5.4 Syntax: EHLO hostname\r\n");
    CHECK(feed(d, "NOOP\r\n").reply == "250 2.0.0 OK\r\n");
    CHECK(feed(d, "RSET\r\n").reply == "250 2.0.0 OK\r\n");
    for (std::string_view command : {"MAIL FROM:<a@example.test>\r\n", "RCPT TO:<b@example.test>\r\n", "DATA\r\n",
                                     "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", "VRFY root\r\n"})
        CHECK(feed(d, command).reply == "530 5.7.0 Must issue a STARTTLS command first\r\n");
    CHECK(feed(d, "STARTTLS please\r\n").reply == "501 5.5.4 Syntax: STARTTLS\r\n");
    CHECK(feed(d, "\r\n").reply == "500 5.5.2 Error: bad syntax\r\n");
    x = feed(d, "QUIT\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::close);
    CHECK(x.reply == "221 2.0.0 Bye\r\n");
}

TEST_CASE("SMTP optional: the first command after HELO that is not STARTTLS hands over in plaintext") {
    PreTlsDialogue d = smtp(StartTlsMode::optional);
    CHECK(feed(d, "MAIL FROM:<a@example.test>\r\n").reply == "503 5.5.1 Error: send HELO/EHLO first\r\n");
    std::string_view input = "EHLO relay.example\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n";
    auto x = feed(d, input);
    CHECK(x.step.outcome == PreTlsOutcome::plaintext);
    CHECK(x.reply == "250-mx.example.test\r\n250 STARTTLS\r\n");
    CHECK(d.helo_line() == "EHLO relay.example\r\n");
    CHECK(d.first_command() == "MAIL FROM:<a@example.test>\r\n");
    CHECK(input.substr(x.step.consumed) == "RCPT TO:<b@example.test>\r\n");
}

TEST_CASE("SMTP optional: STARTTLS still upgrades, and the replayed HELO is the last one accepted") {
    PreTlsDialogue d = smtp(StartTlsMode::optional);
    feed(d, "HELO first\r\n");
    feed(d, "EHLO second\r\n");
    CHECK(d.helo_line() == "EHLO second\r\n");
    auto x = feed(d, "STARTTLS\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::start_tls);
}

TEST_CASE("a line over the limit is refused and closed, whether or not it ever ends") {
    struct Case {
        PreTlsDialogue dialogue;
        std::string_view reply;
    };
    for (Case c : {Case{imap(), "* BYE Line too long\r\n"}, Case{pop3(), "-ERR Line too long\r\n"},
                   Case{smtp(), "500 5.5.0 Line too long\r\n"}}) {
        size_t limit = c.dialogue.line_limit();
        std::string fits(limit - 2, 'x');
        CHECK(feed(c.dialogue, fits).step.outcome == PreTlsOutcome::need_more);
        CHECK(feed(c.dialogue, "\r\n").step.outcome == PreTlsOutcome::need_more);  // exactly the limit
        auto x = feed(c.dialogue, std::string(limit, 'y'));
        CHECK(x.step.outcome == PreTlsOutcome::close);
        CHECK(x.step.end == PreTlsEnd::line_too_long);
        CHECK(x.reply == c.reply);
    }
    CHECK(imap().line_limit() == 8192);
    CHECK(pop3().line_limit() == 8192);
    CHECK(smtp().line_limit() == 1024);
}

TEST_CASE("the command after the twentieth is refused and closed, even STARTTLS") {
    PreTlsDialogue d = smtp();
    std::string twenty;
    for (unsigned i = 0; i < PreTlsDialogue::kMaxCommands; ++i) twenty += "NOOP\r\n";
    auto x = feed(d, twenty);
    CHECK(x.step.outcome == PreTlsOutcome::need_more);
    x = feed(d, "STARTTLS\r\n");
    CHECK(x.step.outcome == PreTlsOutcome::close);
    CHECK(x.step.end == PreTlsEnd::too_many_commands);
    CHECK(x.reply == "421 4.7.0 Too many commands before STARTTLS\r\n");

    PreTlsDialogue i = imap();
    std::string many;
    for (unsigned n = 0; n <= PreTlsDialogue::kMaxCommands; ++n) many += "t NOOP\r\n";
    x = feed(i, many);
    CHECK(x.step.end == PreTlsEnd::too_many_commands);
    CHECK(x.reply.ends_with("t OK NOOP completed\r\n* BYE Too many commands before STARTTLS\r\n"));
}
