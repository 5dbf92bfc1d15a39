// Which listen addresses are open, and opening the new ones for every worker.
#include "proxy/daemon/listener_set.hpp"

#include <algorithm>

#include "proxy/common/log.hpp"
#include "proxy/net/listener_socket.hpp"

namespace tlsfront {

ListenerSet::ListenerSet(unsigned workers) : workers_(workers), open_socket_(open_listener_socket) {}

bool ListenerSet::is_open(const SocketAddress& address) const {
    return std::find(open_.begin(), open_.end(), address) != open_.end();
}

std::vector<std::vector<WorkerListener>> ListenerSet::open_new(const ConfigSnapshot& snapshot) const {
    std::vector<std::vector<WorkerListener>> sockets(workers_);
    for (const ListenerConfig& listener : snapshot.config.listeners)
        for (const SocketAddress& address : listener.listen) {
            if (is_open(address)) continue;
            for (auto& worker_sockets : sockets)
                worker_sockets.push_back(WorkerListener{open_socket_(address), address, {}});
        }
    return sockets;
}

void ListenerSet::commit(const ConfigSnapshot& snapshot) {
    std::vector<SocketAddress> now;
    for (const ListenerConfig& listener : snapshot.config.listeners)
        for (const SocketAddress& address : listener.listen) {
            now.push_back(address);
            if (is_open(address)) continue;
            LogLine(LogLevel::info, "listening")
                .field("listener", listener.name)
                .field("address", address.to_string())
                .field("protocol", to_string(listener.protocol))
                .field("backend", listener.backend.to_string());
        }
    for (const SocketAddress& address : open_)
        if (std::find(now.begin(), now.end(), address) == now.end())
            LogLine(LogLevel::info, "listener_closed").field("address", address.to_string());
    open_ = std::move(now);
}

}  // namespace tlsfront
