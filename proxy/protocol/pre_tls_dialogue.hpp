// PreTlsDialogue: what tlsfront itself says on a STARTTLS listener before TLS (IMAP RFC 9051/2595,
// POP3 RFC 2449/2595, SMTP RFC 5321/3207): a greeting, the few commands a client may use before
// upgrading, and the decision that ends the plaintext phase. Pure: bytes in, reply bytes and an
// outcome out, no I/O. The per-protocol command tables are in imap_pre_tls.cpp, pop3_pre_tls.cpp
// and smtp_pre_tls.cpp; line assembly and the limits are here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace tlsfront {

enum class PreTlsOutcome : uint8_t {
    need_more,  // send the reply, read more commands
    start_tls,  // send the reply, then the TLS handshake; input after the command line is discarded
    close,      // send the reply, then close (see PreTlsStep::end)
    plaintext,  // SMTP optional: open a plaintext session to the backend (no reply)
};

// Why the dialogue closed the connection.
enum class PreTlsEnd : uint8_t {
    none,
    quit,               // LOGOUT / QUIT
    line_too_long,      // over line_limit() without a line end
    too_many_commands,  // the kMaxCommands + 1st command
};

struct PreTlsStep {
    PreTlsOutcome outcome = PreTlsOutcome::need_more;
    PreTlsEnd end = PreTlsEnd::none;  // with close
    // Input bytes the dialogue used. need_more and close: all of them. start_tls: through the
    // STARTTLS line (the rest is what the client sent too early: discarded, never executed).
    // plaintext: through the command that ended the dialogue (see PreTlsDialogue::first_command).
    size_t consumed = 0;
};

class PreTlsDialogue {
public:
    static constexpr unsigned kMaxCommands = 20;

    // mode is required or optional (optional only with smtp). name: the host name in greetings;
    // the caller keeps it alive.
    PreTlsDialogue(MailProtocol protocol, StartTlsMode mode, std::string_view name);

    // What the client gets on connect, CRLF-terminated.
    std::string greeting() const;

    // Reads the commands in `input` (a line may span calls: the unfinished end is kept), appending
    // each reply to `reply`, until the input is used up or an outcome other than need_more.
    // After an outcome other than need_more it must not be called again.
    PreTlsStep read(std::span<const uint8_t> input, std::string& reply);

    // plaintext: the client's HELO/EHLO line exactly as sent (with its line end), to replay to the
    // backend, and the command that ended the dialogue, exactly as sent; the caller forwards it,
    // then input[consumed...], byte for byte after the backend's reply to the replayed line.
    const std::string& helo_line() const { return helo_line_; }
    const std::string& first_command() const { return line_; }

    // 8 KiB for IMAP and POP3, 1 KiB for SMTP (RFC 5321's 512 with slack), line end included.
    size_t line_limit() const;
    unsigned commands() const { return commands_; }

private:
    PreTlsStep on_line(std::string_view line, std::string& reply);  // one line, its end removed

    MailProtocol protocol_;
    StartTlsMode mode_;
    std::string_view name_;
    std::string line_;       // the line being assembled, as received
    std::string helo_line_;  // SMTP: the last HELO/EHLO line, as received
    unsigned commands_ = 0;
};

// The per-protocol command handling, one line (without its end) at a time. Each appends its reply
// and returns the outcome. SMTP: `helo_seen` says an EHLO/HELO was accepted before; `accepted_helo`
// is set when this line is one.
PreTlsStep imap_pre_tls_command(std::string_view line, std::string_view name, std::string& reply);
PreTlsStep pop3_pre_tls_command(std::string_view line, std::string_view name, std::string& reply);
PreTlsStep smtp_pre_tls_command(std::string_view line, std::string_view name, StartTlsMode mode, bool helo_seen,
                                bool& accepted_helo, std::string& reply);

}  // namespace tlsfront
