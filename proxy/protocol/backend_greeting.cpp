// Scanners for the backend's greeting and for its reply to a replayed EHLO/HELO. A reply that is
// not the expected success, or that does not end within kMaxBackendReply, is refused.
#include "proxy/protocol/backend_greeting.hpp"

#include <string_view>

namespace tlsfront {
namespace {

constexpr BackendReplyScan incomplete_or_too_long(size_t size) {
    if (size < kMaxBackendReply) return {};
    return {BackendReplyStatus::refused, 0, "reply too long"};
}

// One single-line greeting: accepted when it starts with `expected` followed by a space or the
// line end.
BackendReplyScan scan_status_line(std::string_view bytes, std::string_view expected, const char* error) {
    size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos || newline >= kMaxBackendReply) return incomplete_or_too_long(bytes.size());
    std::string_view line = bytes.substr(0, newline + 1);
    bool ok = line.starts_with(expected) && std::string_view(" \r\n").find(line[expected.size()]) != std::string_view::npos;
    if (!ok) return {BackendReplyStatus::refused, 0, error};
    return {BackendReplyStatus::accepted, line.size(), nullptr};
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// An RFC 5321 reply: lines "CODE-text" then a last line "CODE text" (or just "CODE"), one code
// throughout. `accept` decides on the code.
template <typename Accept>
BackendReplyScan scan_reply(std::string_view bytes, Accept accept, const char* error) {
    size_t pos = 0;
    while (true) {
        size_t newline = bytes.find('\n', pos);
        if (newline == std::string_view::npos || newline >= kMaxBackendReply) return incomplete_or_too_long(bytes.size());
        std::string_view line = bytes.substr(pos, newline - pos);
        if (line.ends_with('\r')) line.remove_suffix(1);
        bool well_formed = line.size() >= 3 && is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]) &&
                           (line.size() == 3 || line[3] == ' ' || line[3] == '-') &&
                           (pos == 0 || line.substr(0, 3) == bytes.substr(0, 3));
        if (!well_formed) return {BackendReplyStatus::refused, 0, "malformed reply"};
        pos = newline + 1;
        if (line.size() > 3 && line[3] == '-') continue;
        if (!accept(line.substr(0, 3))) return {BackendReplyStatus::refused, 0, error};
        return {BackendReplyStatus::accepted, pos, nullptr};
    }
}

std::string_view as_text(std::span<const uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

BackendReplyScan scan_backend_greeting(MailProtocol protocol, std::span<const uint8_t> bytes) {
    switch (protocol) {
    case MailProtocol::imap: return scan_status_line(as_text(bytes), "* OK", "greeting is not * OK");
    case MailProtocol::pop3: return scan_status_line(as_text(bytes), "+OK", "greeting is not +OK");
    case MailProtocol::smtp: break;
    }
    return scan_reply(as_text(bytes), [](std::string_view code) { return code == "220"; }, "greeting is not 220");
}

BackendReplyScan scan_smtp_reply(std::span<const uint8_t> bytes) {
    return scan_reply(as_text(bytes), [](std::string_view code) { return code[0] == '2'; },
                      "reply to HELO/EHLO is not 2xx");
}

}  // namespace tlsfront
