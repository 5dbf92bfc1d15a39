// SnapshotUse: one worker's hold on one ConfigSnapshot. The connections accepted under that
// snapshot count here (no atomics: only the worker touches it), and they wait on its deadline
// lists, whose timeouts are that snapshot's: a reload that changes a timeout starts new lists, so
// each list keeps one timeout and stays ordered. The worker lets go of a use that is no longer
// current once its last connection has closed; the snapshot is freed when every worker has.
#pragma once

#include <cstdint>
#include <memory>

#include "proxy/net/deadline_list.hpp"
#include "proxy/session/config_snapshot.hpp"

namespace tlsfront {

struct SnapshotUse {
    explicit SnapshotUse(std::shared_ptr<const ConfigSnapshot> taken)
        : snapshot(std::move(taken)),
          handshake_deadlines(static_cast<uint64_t>(settings().handshake_timeout.count())),
          connect_deadlines(static_cast<uint64_t>(settings().connect_timeout.count())),
          idle_deadlines(static_cast<uint64_t>(settings().idle_timeout.count())) {}
    SnapshotUse(const SnapshotUse&) = delete;
    SnapshotUse& operator=(const SnapshotUse&) = delete;

    const ServerSettings& settings() const { return snapshot->config.server; }

    std::shared_ptr<const ConfigSnapshot> snapshot;
    DeadlineList handshake_deadlines;
    DeadlineList connect_deadlines;
    DeadlineList idle_deadlines;
    uint32_t connections = 0;
};

}  // namespace tlsfront
