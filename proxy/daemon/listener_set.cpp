// Which listen addresses are open, and opening the new ones for every worker.
#include "proxy/daemon/listener_set.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/common/log.hpp"
#include "proxy/net/listener_socket.hpp"

namespace tlsfront {

ListenerSet::ListenerSet(unsigned workers) : workers_(workers), open_socket_(open_listener_socket) {}

bool ListenerSet::is_open(const SocketAddress& address) const {
    return std::find(open_.begin(), open_.end(), address) != open_.end();
}

SocketAssignment ListenerSet::assign(const ConfigSnapshot& snapshot) const {
    std::vector<ListenerAddresses> listeners;
    for (const ListenerConfig& listener : snapshot.config.listeners) listeners.push_back({listener.name, listener.listen});
    return assign_inherited(listeners, describe_inherited(inherited_));
}

void ListenerSet::adopt_inherited(std::vector<InheritedSocket> sockets, const ConfigSnapshot& snapshot) {
    inherited_ = std::move(sockets);
    SocketAssignment assignment = assign(snapshot);
    for (const std::string& warning : assignment.warnings) LogLine(LogLevel::warn, "inherited_socket").field("msg", warning);
    std::sort(assignment.unused.begin(), assignment.unused.end());
    for (size_t i = assignment.unused.size(); i-- > 0;)  // from the back: indexes stay valid
        inherited_.erase(inherited_.begin() + static_cast<std::ptrdiff_t>(assignment.unused[i]));
}

void ListenerSet::add_for_every_worker(std::vector<std::vector<WorkerListener>>& sockets, const SocketAddress& address,
                                       const InheritedSocket* inherited, const std::string& listener) const {
    for (auto& worker_sockets : sockets) {
        UniqueFd fd;
        if (inherited) {
            fd.reset(fcntl(inherited->fd.get(), F_DUPFD_CLOEXEC, 0));
            if (!fd) throw ListenError("cannot share the socket systemd passed for " + address.to_string() + ": " +
                                       std::strerror(errno));
        } else {
            fd = open_socket_(address);
        }
        worker_sockets.push_back(WorkerListener{std::move(fd), address, listener});
    }
}

std::vector<std::vector<WorkerListener>> ListenerSet::open_new(const ConfigSnapshot& snapshot) const {
    std::vector<std::vector<WorkerListener>> sockets(workers_);
    SocketAssignment assignment = assign(snapshot);
    for (size_t i = 0; i < snapshot.config.listeners.size(); ++i) {
        const ListenerConfig& listener = snapshot.config.listeners[i];
        const ListenerSocketAssignment& inherited = assignment.listeners[i];
        for (size_t j = 0; j < listener.listen.size(); ++j) {
            if (is_open(listener.listen[j])) continue;
            const InheritedSocket* covering = inherited.covered[j] ? &inherited_[*inherited.covered[j]] : nullptr;
            add_for_every_worker(sockets, listener.listen[j], covering, {});
        }
        for (size_t k : inherited.extra)
            if (!is_open(inherited_[k].address)) add_for_every_worker(sockets, inherited_[k].address, &inherited_[k], listener.name);
    }
    return sockets;
}

void ListenerSet::commit(const ConfigSnapshot& snapshot) {
    SocketAssignment assignment = assign(snapshot);
    std::vector<SocketAddress> now;
    for (size_t i = 0; i < snapshot.config.listeners.size(); ++i) {
        const ListenerConfig& listener = snapshot.config.listeners[i];
        auto announce = [&](const SocketAddress& address, std::optional<size_t> inherited) {
            now.push_back(address);
            if (is_open(address)) return;
            LogLine line(LogLevel::info, "listening");
            line.field("listener", listener.name)
                .field("address", address.to_string())
                .field("protocol", to_string(listener.protocol))
                .field("backend", listener.backend.to_string());
            if (inherited) line.field("from", "systemd").field("fd_name", inherited_[*inherited].name);
        };
        for (size_t j = 0; j < listener.listen.size(); ++j) announce(listener.listen[j], assignment.listeners[i].covered[j]);
        for (size_t k : assignment.listeners[i].extra) announce(inherited_[k].address, k);
    }
    for (const SocketAddress& address : open_)
        if (std::find(now.begin(), now.end(), address) == now.end())
            LogLine(LogLevel::info, "listener_closed").field("address", address.to_string());
    open_ = std::move(now);
}

}  // namespace tlsfront
