// Start-up, worker threads and signals.
#include "proxy/daemon/runtime.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <future>
#include <thread>

#include "config/config_loader.hpp"
#include "proxy/session/backend_proxy_header.hpp"
#include "proxy/net/listener_socket.hpp"
#include "proxy/common/log.hpp"
#include "proxy/daemon/privileges.hpp"
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

std::vector<WorkerListener> open_listeners(const std::vector<ListenerRuntime>& runtimes, bool announce) {
    std::vector<WorkerListener> out;
    for (const auto& runtime : runtimes) {
        for (const auto& address : runtime.config->listen) {
            out.push_back(WorkerListener{open_listener_socket(address), &runtime});
            if (announce)
                LogLine(LogLevel::info, "listening")
                    .field("listener", runtime.config->name)
                    .field("address", address.to_string())
                    .field("protocol", to_string(runtime.config->protocol))
                    .field("backend", runtime.config->backend.to_string());
        }
    }
    return out;
}

int wait_for_stop_signal() {
    sigset_t set = control_signals();
    while (true) {
        int signal = 0;
        if (sigwait(&set, &signal) != 0) continue;
        if (signal == SIGHUP) {
            LogLine(LogLevel::warn, "reload_unsupported").field("msg", "SIGHUP ignored: reload is not supported yet");
            continue;
        }
        return signal;
    }
}

// "stopping" in the log means what it says: no listening socket is open any more. Bounded, so
// a stuck worker cannot keep the process from reporting (and then draining) at all.
void wait_until_not_accepting(const SharedCounters& counters, unsigned workers) {
    for (int i = 0; i < 2000 && counters.workers_not_accepting.load() < workers; ++i) usleep(1000);
}

}  // namespace

std::unique_ptr<PreparedConfig> prepare_config(const std::string& path) {
    auto prepared = std::make_unique<PreparedConfig>();
    prepared->config = load_config_file(path);
    auto certificates = std::make_shared<CertificateCatalog>(prepared->config);
    prepared->certificates = certificates;
    for (const auto& listener : prepared->config.listeners) {
        check_proxy_header_fits(listener);
        prepared->tls.push_back(std::make_unique<ServerContext>(listener, certificates));
    }
    return prepared;
}

int run_proxy(const PreparedConfig& prepared) {
    const Config& config = prepared.config;
    configure_logging(config.server.log_level, config.server.log_format);
    for (const auto& warning : prepared.certificates->warnings()) LogLine(LogLevel::warn, "certificate").field("msg", warning);
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals = control_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by the workers: only main takes them

    std::vector<ListenerRuntime> runtimes;
    for (size_t i = 0; i < config.listeners.size(); ++i)
        runtimes.push_back(ListenerRuntime{&config.listeners[i], prepared.tls[i].get()});

    SharedCounters counters;
    std::vector<std::unique_ptr<Worker>> workers;
    unsigned count = worker_count(config.server);
    try {
        for (unsigned i = 0; i < count; ++i)
            workers.push_back(std::make_unique<Worker>(i, config.server, counters, open_listeners(runtimes, i == 0)));
        drop_privileges(config.server.user, config.server.group);
    } catch (const std::runtime_error& e) {  // ListenError, PrivilegeError
        LogLine(LogLevel::error, "startup_failed").field("error", e.what());
        return 1;
    }
    if (!config.server.user.empty() || !config.server.group.empty())
        LogLine(LogLevel::info, "privileges_dropped").field("uid", getuid()).field("gid", getgid());

    std::vector<std::thread> threads;
    std::string failure;
    for (auto& worker : workers) {
        std::promise<std::string> started;
        auto result = started.get_future();
        threads.emplace_back([&worker, p = std::move(started)]() mutable { worker->run(std::move(p)); });
        if (std::string error = result.get(); !error.empty() && failure.empty()) failure = error;
    }
    int signal = 0;
    if (failure.empty()) {
        LogLine(LogLevel::info, "ready").field("version", TLSFRONT_VERSION).field("workers", count);
        signal = wait_for_stop_signal();
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
