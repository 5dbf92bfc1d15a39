// The inbound PROXY v1/v2 parser on arbitrary bytes, with what the connection relies on checked:
// a complete header lies within the input and parses the same from its own bytes alone, every
// prefix of it is incomplete (never complete early, never invalid), and an invalid one says why.
#include <cstddef>
#include <cstdint>
#include <span>

#include "proxy/protocol/proxy_header.hpp"

using namespace tlsfront;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> bytes(data, size);
    ProxyParseResult result = parse_proxy_header(bytes);
    switch (result.status) {
    case ProxyParseStatus::invalid:
        if (!result.error) __builtin_trap();
        break;
    case ProxyParseStatus::incomplete:
        if (size >= kMaxInboundProxyHeader) __builtin_trap();  // the wait is bounded by size
        break;
    case ProxyParseStatus::complete: {
        if (result.consumed == 0 || result.consumed > size || result.consumed > kMaxInboundProxyHeader)
            __builtin_trap();
        ProxyParseResult alone = parse_proxy_header(bytes.first(result.consumed));
        if (alone.status != ProxyParseStatus::complete || alone.consumed != result.consumed) __builtin_trap();
        if (alone.source.has_value() != result.source.has_value()) __builtin_trap();
        for (size_t cut = 0; cut < result.consumed; cut += 1 + cut / 8) {
            if (parse_proxy_header(bytes.first(cut)).status != ProxyParseStatus::incomplete) __builtin_trap();
        }
        break;
    }
    }
    return 0;
}
