// The backend's first words on a STARTTLS (or SMTP plaintext) session: tlsfront has already
// greeted the client itself, so it reads the backend's greeting and swallows it (and, for an SMTP
// plaintext session, the reply to the replayed EHLO/HELO). Pure scanners over the bytes received
// so far; the caller accumulates bytes until the reply is complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "config/config.hpp"

namespace tlsfront {

enum class BackendReplyStatus : uint8_t { incomplete, accepted, refused };

struct BackendReplyScan {
    BackendReplyStatus status = BackendReplyStatus::incomplete;
    size_t consumed = 0;          // accepted: the reply's bytes, line end included
    const char* error = nullptr;  // refused: why, for the log ("greeting * BYE", "malformed greeting")
};

// Longest reply tlsfront waits for; longer and still incomplete is refused.
constexpr size_t kMaxBackendReply = 8192;

// The greeting at the start of `bytes`: IMAP "* OK ..." (accepted) or anything else such as
// "* BYE"; POP3 "+OK" or "-ERR"; SMTP a 220 reply, possibly multi-line ("220-..." lines, then
// "220 ..."), anything else (421, 554) refused.
BackendReplyScan scan_backend_greeting(MailProtocol protocol, std::span<const uint8_t> bytes);

// An SMTP reply at the start of `bytes` (the reply to a replayed EHLO/HELO): accepted when its
// code is 2xx, refused otherwise.
BackendReplyScan scan_smtp_reply(std::span<const uint8_t> bytes);

}  // namespace tlsfront
