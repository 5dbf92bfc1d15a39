// Start-up, worker threads and signals.
#include "proxy/daemon/runtime.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <future>
#include <thread>

#include "config/config_checks.hpp"
#include "proxy/common/log.hpp"
#include "proxy/daemon/listener_set.hpp"
#include "proxy/daemon/privileged_helper.hpp"
#include "proxy/daemon/privileges.hpp"
#include "proxy/daemon/reloader.hpp"
#include "proxy/daemon/systemd_notify.hpp"
#include "proxy/net/listener_socket.hpp"
#include "proxy/session/worker.hpp"

namespace tlsfront {
namespace {

unsigned worker_count(const ServerSettings& server) {
    if (server.workers > 0) return server.workers;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? static_cast<unsigned>(cpus) : 1;
}

// Every connection is two descriptors: take the whole hard limit.
void raise_fd_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

sigset_t control_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

// systemd's STATUS= line, refreshed every few seconds while it changes.
std::string status_text(const SharedCounters& counters, const Reloader& reloader) {
    return std::to_string(counters.open_connections.load()) + " connections, config generation " +
           std::to_string(reloader.current()->generation);
}

// SIGHUP reloads; the first SIGTERM/SIGINT ends the loop.
int serve_signals(Reloader& reloader, const SystemdNotifier& notifier, const SharedCounters& counters) {
    sigset_t set = control_signals();
    std::string status;
    while (true) {
        if (notifier.enabled()) {
            std::string now = status_text(counters, reloader);
            if (now != status) notifier.status(status = now);
        }
        timespec wait{5, 0};
        int signal = sigtimedwait(&set, nullptr, &wait);
        if (signal < 0) continue;  // EAGAIN (timeout) or EINTR
        if (signal != SIGHUP) return signal;
        notifier.reloading();
        reloader.reload();
        notifier.ready();
    }
}

// "stopping" in the log means what it says: no listening socket is open any more. Bounded, so
// a stuck worker cannot keep the process from reporting (and then draining) at all.
void wait_until_not_accepting(const SharedCounters& counters, unsigned workers) {
    for (int i = 0; i < 2000 && counters.workers_not_accepting.load() < workers; ++i) usleep(1000);
}

// Threads start one by one: each reports whether its ring came up.
std::string start_threads(std::vector<std::unique_ptr<Worker>>& workers, std::vector<std::thread>& threads) {
    std::string failure;
    for (auto& worker : workers) {
        std::promise<std::string> started;
        auto result = started.get_future();
        threads.emplace_back([&worker, p = std::move(started)]() mutable { worker->run(std::move(p)); });
        if (std::string error = result.get(); !error.empty() && failure.empty()) failure = error;
    }
    return failure;
}

// Root keeps a helper for what reloads need (root-only keys, ports below 1024), then drops for good.
std::unique_ptr<PrivilegedHelper> drop_privileges_keeping_helper(const std::string& config_path,
                                                                const ServerSettings& server, ListenerSet& listeners) {
    if (server.user.empty() && server.group.empty()) return nullptr;
    std::unique_ptr<PrivilegedHelper> helper;
    if (geteuid() == 0) helper = PrivilegedHelper::start(config_path);
    drop_privileges(server.user, server.group);
    LogLine line(LogLevel::info, "privileges_dropped");
    line.field("uid", getuid()).field("gid", getgid());
    if (!helper) return nullptr;
    line.field("helper_pid", static_cast<int64_t>(helper->pid()));
    PrivilegedHelper* raw = helper.get();
    config_checks::set_file_opener([raw](const std::string& path) { return raw->open_file(path); });
    listeners.set_socket_opener([raw](const SocketAddress& address) { return raw->open_listener(address); });
    return helper;
}

}  // namespace

int run_proxy(const std::string& config_path, std::shared_ptr<const ConfigSnapshot> snapshot) {
    const ServerSettings& server = snapshot->config.server;
    configure_logging(server.log_level, server.log_format);
    for (const auto& warning : snapshot->certificates->warnings()) LogLine(LogLevel::warn, "certificate").field("msg", warning);
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals = control_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by the workers: only main takes them

    SharedCounters counters;
    SystemdNotifier notifier;
    unsigned count = worker_count(server);
    ListenerMetricsTable metrics(count);
    ListenerSet listeners(count);
    std::vector<std::unique_ptr<Worker>> workers;
    std::unique_ptr<PrivilegedHelper> helper;
    try {
        std::string inherited_error;
        auto inherited = take_inherited_sockets(inherited_error);
        if (!inherited_error.empty()) throw std::runtime_error("socket activation: " + inherited_error);
        listeners.adopt_inherited(std::move(inherited), *snapshot);
        auto sockets = listeners.open_new(*snapshot);
        for (unsigned i = 0; i < count; ++i)
            workers.push_back(std::make_unique<Worker>(i, snapshot, counters, metrics, std::move(sockets[i])));
        listeners.commit(*snapshot);
        helper = drop_privileges_keeping_helper(config_path, server, listeners);
    } catch (const std::runtime_error& e) {  // ListenError, PrivilegeError
        LogLine(LogLevel::error, "startup_failed").field("error", e.what());
        return 1;
    }

    std::vector<std::thread> threads;
    std::string failure = start_threads(workers, threads);
    int signal = 0;
    if (failure.empty()) {
        LogLine(LogLevel::info, "ready").field("version", TLSFRONT_VERSION).field("workers", count);
        Reloader reloader(config_path, std::move(snapshot), listeners, workers, helper.get());
        notifier.ready();
        signal = serve_signals(reloader, notifier, counters);
        notifier.stopping();
    } else {
        LogLine(LogLevel::error, "startup_failed").field("error", failure);
    }
    for (auto& worker : workers) worker->request_stop();
    if (signal) {
        wait_until_not_accepting(counters, count);
        LogLine(LogLevel::info, "stopping").field("signal", sigabbrev_np(signal));
    }
    for (auto& thread : threads) thread.join();
    LogLine(LogLevel::info, "stopped").field("refused_over_limit", counters.refused_over_limit.load());
    return failure.empty() ? 0 : 1;
}

}  // namespace tlsfront
