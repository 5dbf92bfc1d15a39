// PreTlsDialogue: line assembly and the limits before TLS; the commands themselves are handled by
// the per-protocol tables (imap_pre_tls.cpp, pop3_pre_tls.cpp, smtp_pre_tls.cpp).
#include "proxy/protocol/pre_tls_dialogue.hpp"

namespace tlsfront {
namespace {

std::string_view line_too_long_reply(MailProtocol protocol) {
    switch (protocol) {
    case MailProtocol::imap: return "* BYE Line too long\r\n";
    case MailProtocol::pop3: return "-ERR Line too long\r\n";
    case MailProtocol::smtp: return "500 5.5.0 Line too long\r\n";
    }
    return "";
}

std::string_view too_many_commands_reply(MailProtocol protocol) {
    switch (protocol) {
    case MailProtocol::imap: return "* BYE Too many commands before STARTTLS\r\n";
    case MailProtocol::pop3: return "-ERR Too many commands before STLS\r\n";
    case MailProtocol::smtp: return "421 4.7.0 Too many commands before STARTTLS\r\n";
    }
    return "";
}

// The line without its end: CRLF, or a bare LF (which clients and Postfix alike accept).
std::string_view without_line_end(std::string_view line) {
    line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

}  // namespace

PreTlsDialogue::PreTlsDialogue(MailProtocol protocol, StartTlsMode mode, std::string_view name)
    : protocol_(protocol), mode_(mode), name_(name) {}

std::string PreTlsDialogue::greeting() const {
    std::string greeting;
    switch (protocol_) {
    case MailProtocol::imap: greeting = "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] "; break;
    case MailProtocol::pop3: greeting = "+OK "; break;
    case MailProtocol::smtp: greeting = "220 "; break;
    }
    greeting += name_;
    greeting += protocol_ == MailProtocol::smtp ? " ESMTP\r\n" : " ready\r\n";
    return greeting;
}

size_t PreTlsDialogue::line_limit() const { return protocol_ == MailProtocol::smtp ? 1024 : 8192; }

PreTlsStep PreTlsDialogue::read(std::span<const uint8_t> input, std::string& reply) {
    const char* bytes = reinterpret_cast<const char*>(input.data());
    size_t pos = 0;
    while (pos < input.size()) {
        std::string_view rest(bytes + pos, input.size() - pos);
        size_t newline = rest.find('\n');
        size_t take = newline == std::string_view::npos ? rest.size() : newline + 1;
        bool ended = newline != std::string_view::npos;
        // Without its end a line of line_limit() bytes can no longer end within the limit.
        if (line_.size() + take > line_limit() || (!ended && line_.size() + take == line_limit())) {
            reply += line_too_long_reply(protocol_);
            return {PreTlsOutcome::close, PreTlsEnd::line_too_long, input.size()};
        }
        line_.append(rest.substr(0, take));
        pos += take;
        if (!ended) break;
        if (++commands_ > kMaxCommands) {
            reply += too_many_commands_reply(protocol_);
            return {PreTlsOutcome::close, PreTlsEnd::too_many_commands, input.size()};
        }
        PreTlsStep step = on_line(without_line_end(line_), reply);
        if (step.outcome == PreTlsOutcome::plaintext) return {step.outcome, step.end, pos};  // line_ kept
        line_.clear();
        if (step.outcome == PreTlsOutcome::start_tls) return {step.outcome, step.end, pos};
        if (step.outcome == PreTlsOutcome::close) return {step.outcome, step.end, input.size()};
    }
    return {PreTlsOutcome::need_more, PreTlsEnd::none, input.size()};
}

PreTlsStep PreTlsDialogue::on_line(std::string_view line, std::string& reply) {
    switch (protocol_) {
    case MailProtocol::imap: return imap_pre_tls_command(line, name_, reply);
    case MailProtocol::pop3: return pop3_pre_tls_command(line, name_, reply);
    case MailProtocol::smtp: break;
    }
    bool accepted_helo = false;
    PreTlsStep step = smtp_pre_tls_command(line, name_, mode_, !helo_line_.empty(), accepted_helo, reply);
    if (accepted_helo) helo_line_ = line_;
    return step;
}

}  // namespace tlsfront
