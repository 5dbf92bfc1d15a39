// WorkerMailbox: how the daemon hands a worker a new snapshot (and the listening sockets that the
// new config adds, opened by the daemon for this worker) without a lock on the data path: the
// worker compares one atomic generation per loop turn and takes the mutex only when it moved.
// Updates queue in order, so a worker that sleeps through two reloads applies both.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/socket_address.hpp"
#include "proxy/net/unique_fd.hpp"
#include "proxy/session/config_snapshot.hpp"

namespace tlsfront {

// One listening socket for one worker. `listener` names the listener for a socket that is not one
// of its `listen` addresses (an extra socket handed over by systemd); otherwise it is empty and
// the address says which listener the socket serves.
struct WorkerListener {
    UniqueFd fd;
    SocketAddress address;
    std::string listener;
};

struct WorkerUpdate {
    std::shared_ptr<const ConfigSnapshot> snapshot;
    std::vector<WorkerListener> new_sockets;
};

class WorkerMailbox {
public:
    void post(WorkerUpdate update) {
        std::lock_guard lock(mutex_);
        pending_.push_back(std::move(update));
        posted_.fetch_add(1, std::memory_order_release);
    }
    // Cheap enough for every loop turn: one relaxed-acquire load when nothing changed.
    bool has_news() const { return posted_.load(std::memory_order_acquire) != taken_; }
    std::vector<WorkerUpdate> take() {
        std::lock_guard lock(mutex_);
        taken_ = posted_.load(std::memory_order_relaxed);
        return std::exchange(pending_, {});
    }

private:
    std::mutex mutex_;
    std::vector<WorkerUpdate> pending_;
    std::atomic<uint64_t> posted_{0};
    uint64_t taken_ = 0;  // only the worker reads and writes it
};

}  // namespace tlsfront
