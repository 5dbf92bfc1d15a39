// Listening sockets: one per worker per address, with SO_REUSEPORT so the kernel spreads new
// connections over the workers without a shared accept lock.
#pragma once

#include <stdexcept>

#include "config/socket_address.hpp"
#include "proxy/net/unique_fd.hpp"

namespace tlsfront {

struct ListenError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws ListenError naming the address and the cause (e.g. "Address already in use").
UniqueFd open_listener_socket(const SocketAddress& address);

}  // namespace tlsfront
