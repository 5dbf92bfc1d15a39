// DaemonStatus: what the admin endpoint reports about the process itself, beyond the listeners'
// counters: the snapshot in service (certificates and their dates), reloads, and the drain.
// Written by the main thread, read by the admin thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "proxy/session/config_snapshot.hpp"

namespace tlsfront {

class DaemonStatus {
public:
    void set_snapshot(std::shared_ptr<const ConfigSnapshot> snapshot) {
        std::lock_guard lock(mutex_);
        snapshot_ = std::move(snapshot);
    }
    std::shared_ptr<const ConfigSnapshot> snapshot() const {
        std::lock_guard lock(mutex_);
        return snapshot_;
    }

    std::atomic<uint64_t> reloads{0};
    std::atomic<uint64_t> reload_failures{0};
    std::atomic<int64_t> last_reload_unix{0};  // 0: no successful reload yet
    std::atomic<bool> draining{false};

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const ConfigSnapshot> snapshot_;
};

}  // namespace tlsfront
