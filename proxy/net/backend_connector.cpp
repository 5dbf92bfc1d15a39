// Backend sockets: TCP_NODELAY for TCP, nothing else to set for unix sockets.
#include "proxy/net/backend_connector.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace tlsfront {

UniqueFd open_backend_socket(const SocketAddress& backend) {
    UniqueFd fd(::socket(backend.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd && !backend.is_unix()) {
        int one = 1;
        setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

}  // namespace tlsfront
