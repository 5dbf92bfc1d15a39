// ListenerSet: the listen addresses the workers hold sockets for. At start-up it opens one
// SO_REUSEPORT socket per worker per address; on reload only the addresses the new config adds,
// so an address that stays keeps its sockets and not one connection attempt is refused. The
// workers close the sockets of addresses the new config drops. Sockets handed over by systemd
// (socket activation) are kept for the life of the process and shared by every worker (each gets
// a duplicate descriptor); they are matched to listeners again at every reload.
#pragma once

#include <functional>
#include <vector>

#include "proxy/daemon/socket_activation.hpp"
#include "proxy/session/config_snapshot.hpp"
#include "proxy/session/worker_mailbox.hpp"

namespace tlsfront {

class ListenerSet {
public:
    // How a socket is made: open_listener_socket, or after the privilege drop the privileged helper.
    using SocketOpener = std::function<UniqueFd(const SocketAddress&)>;

    explicit ListenerSet(unsigned workers);
    void set_socket_opener(SocketOpener opener) { open_socket_ = std::move(opener); }
    // The sockets systemd passed in, matched against the start-up config: the unmatched ones are
    // closed with a warning.
    void adopt_inherited(std::vector<InheritedSocket> sockets, const ConfigSnapshot& snapshot);

    // Sockets for every address of `snapshot` not open yet: [worker][socket]. Throws ListenError
    // (naming the address and the cause) and then keeps nothing it opened.
    std::vector<std::vector<WorkerListener>> open_new(const ConfigSnapshot& snapshot) const;
    // The workers now serve `snapshot`: logs the addresses it added and dropped.
    void commit(const ConfigSnapshot& snapshot);

private:
    bool is_open(const SocketAddress& address) const;
    SocketAssignment assign(const ConfigSnapshot& snapshot) const;
    // One socket per worker: duplicates of an inherited socket, or new ones.
    void add_for_every_worker(std::vector<std::vector<WorkerListener>>& sockets, const SocketAddress& address,
                              const InheritedSocket* inherited, const std::string& listener) const;

    unsigned workers_;
    SocketOpener open_socket_;
    std::vector<InheritedSocket> inherited_;
    std::vector<SocketAddress> open_;
};

}  // namespace tlsfront
