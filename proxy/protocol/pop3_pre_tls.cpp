// POP3 before STLS (RFC 1939, RFC 2449, RFC 2595): CAPA lists only STLS (no USER, no SASL: neither
// may be used in plaintext), STLS starts the handshake, QUIT ends the connection, the
// authentication commands get -ERR, and so does anything else.
#include "proxy/common/ascii.hpp"
#include "proxy/protocol/pre_tls_dialogue.hpp"

namespace tlsfront {

PreTlsStep pop3_pre_tls_command(std::string_view line, std::string_view name, std::string& reply) {
    std::string_view rest = line;
    std::string_view command = next_word(rest);
    bool no_arguments = line.size() == command.size();
    if (ascii_iequals(command, "USER") || ascii_iequals(command, "PASS") || ascii_iequals(command, "APOP") ||
        ascii_iequals(command, "AUTH")) {
        reply += "-ERR Authentication requires STLS first\r\n";
        return {};
    }
    if (no_arguments && ascii_iequals(command, "CAPA")) {
        reply += "+OK Capability list follows\r\nSTLS\r\n.\r\n";
        return {};
    }
    if (no_arguments && ascii_iequals(command, "STLS")) {
        reply += "+OK Begin TLS negotiation\r\n";
        return {PreTlsOutcome::start_tls, PreTlsEnd::none, 0};
    }
    if (no_arguments && ascii_iequals(command, "QUIT")) {
        reply.append("+OK ").append(name).append(" signing off\r\n");
        return {PreTlsOutcome::close, PreTlsEnd::quit, 0};
    }
    reply += "-ERR Command not permitted before STLS\r\n";
    return {};
}

}  // namespace tlsfront
