// The scanners for the backend's greeting and its SMTP replies on arbitrary bytes: an accepted
// reply lies within the input and ends with its line end, the same bytes alone give the same
// answer, and the wait is bounded (no incomplete answer at kMaxBackendReply bytes or more).
#include <cstddef>
#include <cstdint>
#include <span>

#include "proxy/protocol/backend_greeting.hpp"

using namespace tlsfront;

namespace {

template <typename Scan>
void check(Scan scan, std::span<const uint8_t> bytes) {
    BackendReplyScan result = scan(bytes);
    switch (result.status) {
    case BackendReplyStatus::refused:
        if (!result.error) __builtin_trap();
        break;
    case BackendReplyStatus::incomplete:
        if (bytes.size() >= kMaxBackendReply) __builtin_trap();
        break;
    case BackendReplyStatus::accepted: {
        if (result.consumed == 0 || result.consumed > bytes.size() || bytes[result.consumed - 1] != '\n')
            __builtin_trap();
        BackendReplyScan alone = scan(bytes.first(result.consumed));
        if (alone.status != BackendReplyStatus::accepted || alone.consumed != result.consumed) __builtin_trap();
        break;
    }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> bytes(data, size);
    for (MailProtocol protocol : {MailProtocol::imap, MailProtocol::pop3, MailProtocol::smtp})
        check([protocol](std::span<const uint8_t> b) { return scan_backend_greeting(protocol, b); }, bytes);
    check([](std::span<const uint8_t> b) { return scan_smtp_reply(b); }, bytes);
    return 0;
}
