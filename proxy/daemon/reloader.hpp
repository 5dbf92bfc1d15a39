// Reloader: SIGHUP's work. It re-reads the config file and every file it names into a new
// snapshot (validating all of it first), opens the sockets of listen addresses the new config adds,
// then hands the snapshot to every worker. Anything that fails leaves the running snapshot in place
// and is logged as event=reload_failed with the same message `--check` would print.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/daemon/daemon_status.hpp"
#include "proxy/daemon/listener_set.hpp"
#include "proxy/daemon/privileged_helper.hpp"
#include "proxy/session/worker.hpp"

namespace tlsfront {

class Reloader {
public:
    // `helper` is null unless privileges were dropped.
    Reloader(std::string config_path, std::shared_ptr<const ConfigSnapshot> initial, ListenerSet& listeners,
             std::vector<std::unique_ptr<Worker>>& workers, PrivilegedHelper* helper, DaemonStatus& status)
        : config_path_(std::move(config_path)), current_(std::move(initial)), listeners_(listeners),
          workers_(workers), helper_(helper), status_(status) {}

    // True when the new snapshot is in place.
    bool reload();
    const std::shared_ptr<const ConfigSnapshot>& current() const { return current_; }

private:
    void warn_about_restart_only_changes(const Config& next) const;
    void wait_for_workers(uint64_t generation) const;

    std::string config_path_;
    std::shared_ptr<const ConfigSnapshot> current_;
    ListenerSet& listeners_;
    std::vector<std::unique_ptr<Worker>>& workers_;
    PrivilegedHelper* helper_;
    DaemonStatus& status_;
};

}  // namespace tlsfront
