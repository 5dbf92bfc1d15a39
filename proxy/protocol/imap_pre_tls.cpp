// IMAP before STARTTLS (RFC 9051 6.1-6.2, RFC 3501, RFC 2595): CAPABILITY, NOOP and LOGOUT are
// answered, STARTTLS starts the handshake, LOGIN and AUTHENTICATE are refused with PRIVACYREQUIRED
// (LOGINDISABLED is advertised), anything else is BAD. Only LOGOUT ends the connection.
#include <algorithm>

#include "proxy/common/ascii.hpp"
#include "proxy/protocol/pre_tls_dialogue.hpp"

namespace tlsfront {
namespace {

constexpr std::string_view kCapabilities = "IMAP4rev1 STARTTLS LOGINDISABLED";

// RFC 9051 tag: ASTRING-CHAR except '+', i.e. printable ASCII but none of ( ) { SP % * " \ ] +.
bool is_tag(std::string_view tag) {
    return !tag.empty() && std::all_of(tag.begin(), tag.end(), [](char c) {
        return c > 0x20 && c < 0x7f && std::string_view("(){%*\"\\]+").find(c) == std::string_view::npos;
    });
}

void tagged(std::string& reply, std::string_view tag, std::string_view text) {
    reply.append(tag).append(" ").append(text).append("\r\n");
}

}  // namespace

PreTlsStep imap_pre_tls_command(std::string_view line, std::string_view name, std::string& reply) {
    std::string_view rest = line;
    std::string_view tag = next_word(rest);
    std::string_view command = next_word(rest);
    if (!is_tag(tag) || command.empty()) {
        reply += "* BAD Invalid tag or command\r\n";
        return {};
    }
    bool no_arguments = rest.empty() && line.size() == tag.size() + 1 + command.size();
    if (ascii_iequals(command, "LOGIN") || ascii_iequals(command, "AUTHENTICATE")) {
        tagged(reply, tag, "NO [PRIVACYREQUIRED] Use STARTTLS first");
        return {};
    }
    if (!no_arguments) {
        tagged(reply, tag, "BAD Command not permitted before STARTTLS");
        return {};
    }
    if (ascii_iequals(command, "CAPABILITY")) {
        reply.append("* CAPABILITY ").append(kCapabilities).append("\r\n");
        tagged(reply, tag, "OK CAPABILITY completed");
        return {};
    }
    if (ascii_iequals(command, "NOOP")) {
        tagged(reply, tag, "OK NOOP completed");
        return {};
    }
    if (ascii_iequals(command, "LOGOUT")) {
        reply.append("* BYE ").append(name).append(" logging out\r\n");
        tagged(reply, tag, "OK LOGOUT completed");
        return {PreTlsOutcome::close, PreTlsEnd::quit, 0};
    }
    if (ascii_iequals(command, "STARTTLS")) {
        tagged(reply, tag, "OK Begin TLS negotiation now");
        return {PreTlsOutcome::start_tls, PreTlsEnd::none, 0};
    }
    tagged(reply, tag, "BAD Command not permitted before STARTTLS");
    return {};
}

}  // namespace tlsfront
