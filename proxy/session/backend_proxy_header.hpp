// The PROXY header tlsfront sends to its backend: the client's address, the address it
// connected to, and the TLS facts of the finished handshake as the listener's TLVs (ssl null: an
// SMTP session that never started TLS, which gets no TLS TLVs).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <span>

#include "config/config.hpp"

namespace tlsfront {

// The header's length in `out`, or 0 when it does not fit (never, with a send block and the
// sizes checked at config load).
size_t write_backend_proxy_header(std::span<uint8_t> out, const ListenerConfig& listener, const SSL* ssl,
                                  const SocketAddress& client, const SocketAddress& local, uint64_t connection_id);

// Config-load check: the largest header this listener can send fits the backend's limit.
// Throws ConfigError naming the listener's proxy_protocol place.
void check_proxy_header_fits(const ListenerConfig& listener);

}  // namespace tlsfront
