// ConfigSnapshot: everything built from one reading of the config file (the Config, every
// certificate, one TLS context per listener), immutable once built. The daemon builds one at
// start-up and one per successful reload; workers take it at their next loop turn, and every
// connection keeps the snapshot it was accepted under until it closes, so a reload changes
// nothing for established sessions.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "tls/server_context.hpp"

namespace tlsfront {

// What a connection needs to know about its listener.
struct ListenerRuntime {
    const ListenerConfig* config;
    const ServerContext* tls;
};

// Counts the snapshots alive in the process (a metric: old ones must go once their connections do).
struct LiveSnapshotCount {
    static inline std::atomic<int64_t> count{0};
    LiveSnapshotCount() { count.fetch_add(1, std::memory_order_relaxed); }
    ~LiveSnapshotCount() { count.fetch_sub(1, std::memory_order_relaxed); }
    LiveSnapshotCount(const LiveSnapshotCount&) = delete;
    LiveSnapshotCount& operator=(const LiveSnapshotCount&) = delete;
};

struct ConfigSnapshot {
    LiveSnapshotCount live;
    uint64_t generation = 1;  // 1 at start-up, +1 per successful reload
    Config config;
    std::shared_ptr<const CertificateCatalog> certificates;
    std::vector<std::unique_ptr<ServerContext>> tls;  // one per listener, in config order
    std::vector<ListenerRuntime> listeners;           // one per listener, in config order

    // The listener that listens on `address`, or null.
    const ListenerRuntime* listener_at(const SocketAddress& address) const {
        for (const ListenerRuntime& listener : listeners)
            for (const SocketAddress& own : listener.config->listen)
                if (own == address) return &listener;
        return nullptr;
    }
    const ListenerRuntime* listener_named(std::string_view name) const {
        for (const ListenerRuntime& listener : listeners)
            if (listener.config->name == name) return &listener;
        return nullptr;
    }
};

}  // namespace tlsfront
