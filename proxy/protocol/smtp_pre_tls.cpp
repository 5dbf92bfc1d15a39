// SMTP before STARTTLS (RFC 5321, RFC 3207). EHLO offers STARTTLS and nothing else: PIPELINING is
// what makes command injection work, and the backend's real extensions are what the client sees
// after TLS. required (587): mail transactions and AUTH get 530. optional (25): once the client
// has said HELO/EHLO, its first other command hands the session to the backend in plaintext.
#include <initializer_list>

#include "proxy/common/ascii.hpp"
#include "proxy/protocol/pre_tls_dialogue.hpp"

namespace tlsfront {
namespace {

bool is_any(std::string_view command, std::initializer_list<std::string_view> verbs) {
    for (std::string_view verb : verbs)
        if (ascii_iequals(command, verb)) return true;
    return false;
}

}  // namespace

PreTlsStep smtp_pre_tls_command(std::string_view line, std::string_view name, StartTlsMode mode, bool helo_seen,
                                bool& accepted_helo, std::string& reply) {
    std::string_view argument = line;
    std::string_view command = next_word(argument);
    bool no_arguments = line.size() == command.size();
    if (is_any(command, {"EHLO", "HELO"})) {
        if (argument.empty()) {
            reply.append("501 5.5.4 Syntax: ").append(command).append(" hostname\r\n");
            return {};
        }
        accepted_helo = true;
        if (ascii_iequals(command, "EHLO"))
            reply.append("250-").append(name).append("\r\n250 STARTTLS\r\n");
        else
            reply.append("250 ").append(name).append("\r\n");
        return {};
    }
    if (is_any(command, {"NOOP", "RSET"})) {
        reply += "250 2.0.0 OK\r\n";
        return {};
    }
    if (no_arguments && ascii_iequals(command, "QUIT")) {
        reply += "221 2.0.0 Bye\r\n";
        return {PreTlsOutcome::close, PreTlsEnd::quit, 0};
    }
    if (ascii_iequals(command, "STARTTLS")) {
        if (!no_arguments) {
            reply += "501 5.5.4 Syntax: STARTTLS\r\n";
            return {};
        }
        reply += "220 2.0.0 Ready to start TLS\r\n";
        return {PreTlsOutcome::start_tls, PreTlsEnd::none, 0};
    }
    if (command.empty()) {
        reply += "500 5.5.2 Error: bad syntax\r\n";
        return {};
    }
    if (mode == StartTlsMode::optional) {
        if (helo_seen) return {PreTlsOutcome::plaintext, PreTlsEnd::none, 0};
        reply += "503 5.5.1 Error: send HELO/EHLO first\r\n";
        return {};
    }
    reply += "530 5.7.0 Must issue a STARTTLS command first\r\n";
    return {};
}

}  // namespace tlsfront
