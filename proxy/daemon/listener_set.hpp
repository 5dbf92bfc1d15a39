// ListenerSet: the listen addresses the workers hold sockets for. At start-up it opens one
// SO_REUSEPORT socket per worker per address; on reload only the addresses the new config adds,
// so an address that stays keeps its sockets and not one connection attempt is refused. The
// workers close the sockets of addresses the new config drops.
#pragma once

#include <functional>
#include <vector>

#include "proxy/session/config_snapshot.hpp"
#include "proxy/session/worker_mailbox.hpp"

namespace tlsfront {

class ListenerSet {
public:
    // How a socket is made: open_listener_socket, or after the privilege drop the privileged helper.
    using SocketOpener = std::function<UniqueFd(const SocketAddress&)>;

    explicit ListenerSet(unsigned workers);
    void set_socket_opener(SocketOpener opener) { open_socket_ = std::move(opener); }

    // Sockets for every address of `snapshot` not open yet: [worker][socket]. Throws ListenError
    // (naming the address and the cause) and then keeps nothing it opened.
    std::vector<std::vector<WorkerListener>> open_new(const ConfigSnapshot& snapshot) const;
    // The workers now serve `snapshot`: logs the addresses it added and dropped.
    void commit(const ConfigSnapshot& snapshot);

private:
    bool is_open(const SocketAddress& address) const;

    unsigned workers_;
    SocketOpener open_socket_;
    std::vector<SocketAddress> open_;
};

}  // namespace tlsfront
