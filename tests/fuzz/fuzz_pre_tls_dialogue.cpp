// The STARTTLS dialogue (IMAP, POP3, SMTP required/optional) on arbitrary client bytes, delivered
// in arbitrary pieces. The first byte picks the protocol and mode, the second the piece size.
// Checked: replies are whole CRLF lines; consumed never exceeds the piece; after start_tls or
// plaintext nothing past the ending line was read; the limits hold (never more than kMaxCommands
// answered, no line over line_limit() accepted).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "proxy/protocol/pre_tls_dialogue.hpp"

using namespace tlsfront;

namespace {

void check_reply(const std::string& reply) {
    if (!reply.empty() && !reply.ends_with("\r\n")) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    static constexpr struct {
        MailProtocol protocol;
        StartTlsMode mode;
    } kinds[] = {{MailProtocol::imap, StartTlsMode::required},
                 {MailProtocol::pop3, StartTlsMode::required},
                 {MailProtocol::smtp, StartTlsMode::required},
                 {MailProtocol::smtp, StartTlsMode::optional}};
    auto kind = kinds[data[0] % 4];
    size_t piece = 1 + data[1];
    std::span<const uint8_t> input(data + 2, size - 2);
    PreTlsDialogue dialogue(kind.protocol, kind.mode, "fuzz.example");
    check_reply(dialogue.greeting());
    while (!input.empty()) {
        std::span<const uint8_t> chunk = input.first(std::min(piece, input.size()));
        std::string reply;
        PreTlsStep step = dialogue.read(chunk, reply);
        check_reply(reply);
        if (step.consumed > chunk.size() || dialogue.commands() > PreTlsDialogue::kMaxCommands + 1) __builtin_trap();
        if (step.outcome == PreTlsOutcome::start_tls || step.outcome == PreTlsOutcome::plaintext) {
            if (step.consumed == 0 || chunk[step.consumed - 1] != '\n') __builtin_trap();
            if (step.outcome == PreTlsOutcome::plaintext &&
                (kind.mode != StartTlsMode::optional || dialogue.helo_line().empty() ||
                 dialogue.first_command().size() > dialogue.line_limit()))
                __builtin_trap();
            return 0;
        }
        if (step.outcome == PreTlsOutcome::close) return 0;
        if (step.consumed != chunk.size()) __builtin_trap();
        input = input.subspan(chunk.size());
    }
    return 0;
}
