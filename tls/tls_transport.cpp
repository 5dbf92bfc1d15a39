// A BIO_METHOD whose read and write go to the TlsTransport spans and never block.
#include "tls/tls_transport.hpp"

#include <algorithm>
#include <cstring>

namespace tlsfront {
namespace {

TlsTransport* transport_of(BIO* bio) { return static_cast<TlsTransport*>(BIO_get_data(bio)); }

int transport_read(BIO* bio, char* out, int len) {
    BIO_clear_retry_flags(bio);
    TlsTransport* t = transport_of(bio);
    if (len <= 0) return 0;
    if (t->in_len == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    uint32_t n = std::min<uint32_t>(t->in_len, static_cast<uint32_t>(len));
    std::memcpy(out, t->in, n);
    t->in += n;
    t->in_len -= n;
    return static_cast<int>(n);
}

int transport_write(BIO* bio, const char* in, int len) {
    BIO_clear_retry_flags(bio);
    TlsTransport* t = transport_of(bio);
    if (len <= 0) return 0;
    if (!t->out || t->out_room() == 0) {
        BIO_set_retry_write(bio);
        return -1;
    }
    uint32_t n = std::min<uint32_t>(t->out_room(), static_cast<uint32_t>(len));
    std::memcpy(t->out + t->out_len, in, n);
    t->out_len += n;
    return static_cast<int>(n);
}

long transport_ctrl(BIO*, int cmd, long, void*) {
    // BoringSSL flushes after each flight; the proxy sends when the SSL call returns.
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int transport_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

const BIO_METHOD* transport_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "tlsfront transport");
        BIO_meth_set_write(m, transport_write);
        BIO_meth_set_read(m, transport_read);
        BIO_meth_set_ctrl(m, transport_ctrl);
        BIO_meth_set_create(m, transport_create);
        return m;
    }();
    return method;
}

}  // namespace

bool attach_transport(SSL* ssl, TlsTransport* transport) {
    BIO* bio = BIO_new(transport_method());
    if (!bio) return false;
    BIO_set_data(bio, transport);
    // One BIO for both directions: with rbio == wbio, SSL_set_bio takes over our one reference.
    SSL_set_bio(ssl, bio, bio);
    return true;
}

}  // namespace tlsfront
