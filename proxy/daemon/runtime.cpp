// Start-up, worker threads and signals.
#include "proxy/daemon/runtime.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <future>
#include <optional>
#include <thread>

#include "config/config_checks.hpp"
#include "proxy/common/log.hpp"
#include "proxy/daemon/admin_server.hpp"
#include "proxy/daemon/daemon_status.hpp"
#include "proxy/daemon/listener_set.hpp"
#include "proxy/daemon/metrics_page.hpp"
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

// Everything the running process owns, in the order it is set up.
class ProxyProcess {
public:
    ProxyProcess(std::string config_path, std::shared_ptr<const ConfigSnapshot> snapshot)
        : config_path_(std::move(config_path)), snapshot_(std::move(snapshot)),
          workers_count_(worker_count(snapshot_->config.server)), metrics_(workers_count_), listeners_(workers_count_) {
        status_.set_snapshot(snapshot_);
    }

    // Sockets (inherited, bound, admin), workers, the privilege drop. Throws ListenError, PrivilegeError.
    void open() {
        const ServerSettings& server = snapshot_->config.server;
        std::string inherited_error;
        auto inherited = take_inherited_sockets(inherited_error);
        if (!inherited_error.empty()) throw std::runtime_error("socket activation: " + inherited_error);
        listeners_.adopt_inherited(std::move(inherited), *snapshot_);
        auto sockets = listeners_.open_new(*snapshot_);
        for (unsigned i = 0; i < workers_count_; ++i)
            workers_.push_back(std::make_unique<Worker>(i, snapshot_, counters_, metrics_, std::move(sockets[i])));
        listeners_.commit(*snapshot_);
        if (server.admin) admin_socket_ = open_admin_socket(*server.admin);
        helper_ = drop_privileges_keeping_helper(config_path_, server, listeners_);
    }

    // Worker threads and the admin endpoint; "" or the first error.
    std::string start() {
        std::string failure = start_threads(workers_, threads_);
        if (!failure.empty() || !admin_socket_) return failure;
        admin_.emplace(std::move(admin_socket_), admin_routes({metrics_, status_, counters_, workers_}));
        try {
            admin_->start();
        } catch (const std::exception& e) {
            return std::string("admin endpoint: ") + e.what();
        }
        LogLine(LogLevel::info, "admin").field("address", snapshot_->config.server.admin->to_string());
        return "";
    }

    // Until SIGTERM/SIGINT; returns the signal.
    int serve() {
        LogLine(LogLevel::info, "ready").field("version", TLSFRONT_VERSION).field("workers", workers_count_);
        // The reloader holds the snapshot in service from now on; an old one must not stay alive here.
        Reloader reloader(config_path_, std::move(snapshot_), listeners_, workers_, helper_.get(), status_);
        notifier_.ready();
        int signal = serve_signals(reloader, notifier_, counters_);
        status_.draining = true;
        notifier_.stopping();
        return signal;
    }

    void stop(int signal) {
        for (auto& worker : workers_) worker->request_stop();
        if (signal) {
            wait_until_not_accepting(counters_, workers_count_);
            LogLine(LogLevel::info, "stopping").field("signal", sigabbrev_np(signal));
        }
        for (auto& thread : threads_) thread.join();
        if (admin_) admin_->stop();
        LogLine(LogLevel::info, "stopped").field("refused_over_limit", counters_.refused_over_limit.load());
    }

private:
    std::string config_path_;
    std::shared_ptr<const ConfigSnapshot> snapshot_;
    unsigned workers_count_;
    SharedCounters counters_;
    SystemdNotifier notifier_;
    ListenerMetricsTable metrics_;
    DaemonStatus status_;
    ListenerSet listeners_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<std::thread> threads_;
    std::unique_ptr<PrivilegedHelper> helper_;
    UniqueFd admin_socket_;
    std::optional<AdminServer> admin_;
};

}  // namespace

int run_proxy(const std::string& config_path, std::shared_ptr<const ConfigSnapshot> snapshot) {
    const ServerSettings& server = snapshot->config.server;
    configure_logging(server.log_level, server.log_format);
    for (const auto& warning : snapshot->certificates->warnings()) LogLine(LogLevel::warn, "certificate").field("msg", warning);
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals = control_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by the workers: only main takes them

    ProxyProcess process(config_path, std::move(snapshot));
    try {
        process.open();
    } catch (const std::runtime_error& e) {  // ListenError, PrivilegeError
        LogLine(LogLevel::error, "startup_failed").field("error", e.what());
        return 1;
    }
    std::string failure = process.start();
    int signal = 0;
    if (failure.empty()) signal = process.serve();
    else LogLine(LogLevel::error, "startup_failed").field("error", failure);
    process.stop(signal);
    return failure.empty() ? 0 : 1;
}

}  // namespace tlsfront
