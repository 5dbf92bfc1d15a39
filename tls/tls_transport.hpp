// TlsTransport: the BIO between a BoringSSL session and the proxy's own buffers. BoringSSL reads
// ciphertext straight from the span the proxy received into, and writes records straight into the
// buffer the proxy will send from: no intermediate BIO buffer per connection, so an idle
// connection holds no I/O memory here.
#pragma once

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <cstdint>

namespace tlsfront {

struct TlsTransport {
    // Ciphertext received and not yet consumed by BoringSSL. Empty = "would block".
    const uint8_t* in = nullptr;
    uint32_t in_len = 0;
    // Where BoringSSL writes ciphertext; `out == nullptr` or a full buffer = "would block".
    uint8_t* out = nullptr;
    uint32_t out_len = 0;
    uint32_t out_cap = 0;

    uint32_t out_room() const { return out_cap - out_len; }
};

// Creates the BIO over `transport` (which must outlive it) and hands it to `ssl` for both
// directions. Returns false when BoringSSL could not allocate it.
bool attach_transport(SSL* ssl, TlsTransport* transport);

}  // namespace tlsfront
