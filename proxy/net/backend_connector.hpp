// BackendConnector: the socket toward the plaintext mail daemon (TCP or unix), ready for an
// io_uring connect.
#pragma once

#include "config/socket_address.hpp"
#include "proxy/net/unique_fd.hpp"

namespace tlsfront {

// A non-blocking socket of the backend's family; -1 (invalid) with errno set on failure.
UniqueFd open_backend_socket(const SocketAddress& backend);

}  // namespace tlsfront
