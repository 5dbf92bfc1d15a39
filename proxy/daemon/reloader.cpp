// Reload: validate everything, open what is new, publish, log.
#include "proxy/daemon/reloader.hpp"

#include <chrono>
#include <ctime>
#include <thread>

#include "proxy/common/log.hpp"
#include "proxy/daemon/snapshot_builder.hpp"
#include "proxy/net/listener_socket.hpp"

namespace tlsfront {
namespace {

std::string listener_names(const Config& config) {
    std::string names;
    for (const auto& listener : config.listeners) names += (names.empty() ? "" : ",") + listener.name;
    return names;
}

}  // namespace

// These are fixed for the life of the process: the workers are running and privileges are gone.
void Reloader::warn_about_restart_only_changes(const Config& next) const {
    const ServerSettings& now = current_->config.server;
    auto warn = [&](const char* key) {
        LogLine(LogLevel::warn, "reload_restart_needed")
            .field("key", key)
            .field("msg", "this [server] key takes effect at the next restart");
    };
    if (next.server.workers != now.workers) warn("workers");
    if (next.server.user != now.user) warn("user");
    if (next.server.group != now.group) warn("group");
    if (next.server.admin != now.admin) warn("admin");
}

// The reload is reported (log, systemd's READY=1) once every worker has taken the new snapshot: a
// client that connects after `systemctl reload` returns gets the new certificates. A worker takes
// it at the end of its current batch of completions, within milliseconds; a stuck one is reported.
void Reloader::wait_for_workers(uint64_t generation) const {
    constexpr auto kLimit = std::chrono::seconds(2);
    auto deadline = std::chrono::steady_clock::now() + kLimit;
    for (size_t i = 0; i < workers_.size(); ++i) {
        while (workers_[i]->adopted_generation() < generation) {
            if (std::chrono::steady_clock::now() >= deadline) {
                LogLine(LogLevel::warn, "reload_worker_late")
                    .field("worker", i)
                    .field("generation", generation)
                    .field("msg", "the worker has not taken the new configuration after 2 s");
                break;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
}

bool Reloader::reload() {
    uint64_t generation = current_->generation + 1;
    std::shared_ptr<const ConfigSnapshot> next;
    std::vector<std::vector<WorkerListener>> new_sockets;
    if (helper_) helper_->refresh();
    try {
        next = build_snapshot(config_path_, generation);
        new_sockets = listeners_.open_new(*next);
    } catch (const std::exception& e) {  // ConfigError, CertificateError, ListenError
        LogLine(LogLevel::error, "reload_failed")
            .field("config", config_path_)
            .field("generation", current_->generation)
            .field("error", e.what());
        status_.reload_failures.fetch_add(1);
        return false;
    }
    warn_about_restart_only_changes(next->config);
    for (const auto& warning : next->certificates->warnings()) LogLine(LogLevel::warn, "certificate").field("msg", warning);
    configure_logging(next->config.server.log_level, next->config.server.log_format);
    for (size_t i = 0; i < workers_.size(); ++i) workers_[i]->post_update(WorkerUpdate{next, std::move(new_sockets[i])});
    wait_for_workers(generation);
    listeners_.commit(*next);
    current_ = std::move(next);
    status_.set_snapshot(current_);
    status_.reloads.fetch_add(1);
    status_.last_reload_unix.store(static_cast<int64_t>(time(nullptr)));
    LogLine(LogLevel::info, "reload")
        .field("config", config_path_)
        .field("generation", generation)
        .field("listeners", listener_names(current_->config));
    return true;
}

}  // namespace tlsfront
