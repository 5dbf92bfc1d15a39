// socket + SO_REUSEPORT + bind + listen, non-blocking.
#include "proxy/net/listener_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tlsfront {
namespace {

[[noreturn]] void fail(const SocketAddress& address, const char* step) {
    throw ListenError("cannot listen on " + address.to_string() + ": " + step + ": " + std::strerror(errno));
}

}  // namespace

UniqueFd open_listener_socket(const SocketAddress& address) {
    UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) fail(address, "socket");
    int one = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) fail(address, "SO_REUSEADDR");
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) fail(address, "SO_REUSEPORT");
    // "[::]:993" and "0.0.0.0:993" are separate entries in the config: keep them separate here.
    if (address.family() == AF_INET6 && setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        fail(address, "IPV6_V6ONLY");
    // Accepted sockets inherit it: mail protocols are chatty, small writes must not wait.
    if (setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) fail(address, "TCP_NODELAY");
    if (::bind(fd.get(), address.get(), address.length) < 0) fail(address, "bind");
    if (::listen(fd.get(), 4096) < 0) fail(address, "listen");
    return fd;
}

}  // namespace tlsfront
