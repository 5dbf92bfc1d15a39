// ListenerSet: the listen addresses the workers hold sockets for. At start-up it opens one
// SO_REUSEPORT socket per worker per address; on reload only the addresses the new config adds,
// so an address that stays keeps its sockets and not one connection attempt is refused. The
// workers close the sockets of addresses the new config drops.
#pragma once

#include <vector>

#include "proxy/session/config_snapshot.hpp"
#include "proxy/session/worker_mailbox.hpp"

namespace tlsfront {

class ListenerSet {
public:
    explicit ListenerSet(unsigned workers) : workers_(workers) {}

    // Sockets for every address of `snapshot` not open yet: [worker][socket]. Throws ListenError
    // (naming the address and the cause) and then keeps nothing it opened.
    std::vector<std::vector<WorkerListener>> open_new(const ConfigSnapshot& snapshot) const;
    // The workers now serve `snapshot`: logs the addresses it added and dropped.
    void commit(const ConfigSnapshot& snapshot);

private:
    bool is_open(const SocketAddress& address) const;

    unsigned workers_;
    std::vector<SocketAddress> open_;
};

}  // namespace tlsfront
