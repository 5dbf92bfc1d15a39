// The controlling thread of a load run. Time policy lives here and only here:
//   - stop (no new work) at --duration, or when the --requests budget is spent (the threads then
//     end by themselves);
//   - work in flight may finish within kDrainNs; then the hard cap aborts what is left (counted as
//     errors) and the threads must return within kAbortGraceNs or are abandoned: the program
//     ends even when the proxy hangs;
//   - idle: open everything (at most kIdleOpenLimitNs), then hold for --duration, read the proxy's
//     RSS before and after.
// First SIGINT: stop now (drain as usual); second: abort.
#include "bench/load_run.hpp"

#include <signal.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "bench/clock.hpp"
#include "bench/load_thread.hpp"
#include "bench/process_memory.hpp"
#include "bench/progress.hpp"

namespace tlsfront::bench {
namespace {

constexpr uint64_t kDrainNs = 5 * kNanosPerSecond;
constexpr uint64_t kAbortGraceNs = 3 * kNanosPerSecond;
constexpr uint64_t kIdleOpenLimitNs = 120 * kNanosPerSecond;
constexpr auto kPollInterval = std::chrono::milliseconds(250);  // also the progress line's rate

std::atomic<int> g_interrupts{0};

void on_interrupt(int) { g_interrupts.fetch_add(1, std::memory_order_relaxed); }

void install_interrupt_handler() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
}

uint64_t read_rss_or_throw(pid_t pid) {
    auto rss = resident_set_bytes(pid);
    if (!rss) throw UsageError("--pid " + std::to_string(pid) + ": cannot read VmRSS from /proc/" +
                               std::to_string(pid) + "/status");
    return *rss;
}

const char* phase_name(const RunControl& control, bool idle, bool holding) {
    if (control.aborted()) return "abort";
    if (control.stopping()) return "drain";
    if (idle) return holding ? "hold" : "open";
    return "run";
}

// The threads, their shared control block, and how the controller waits for them.
class ThreadGroup {
public:
    ThreadGroup(const LoadOptions& options) : control_(std::make_unique<RunControl>(options.threads, options.requests)) {
        control_->expect_connections(options.connections);
        unsigned base = options.connections / options.threads;
        unsigned extra = options.connections % options.threads;
        for (unsigned t = 0; t < options.threads; ++t)
            loaders_.push_back(std::make_unique<LoadThread>(options, *control_, t, base + (t < extra ? 1 : 0)));
    }

    ~ThreadGroup() {
        if (abandoned_) {  // threads still running use these objects: leave them to the process exit
            for (auto& thread : threads_) thread.detach();
            for (auto& loader : loaders_) (void)loader.release();
            (void)control_.release();
            return;
        }
        control_->request_abort();
        for (auto& thread : threads_)
            if (thread.joinable()) thread.join();
    }

    // Throws std::runtime_error with the first thread's set-up failure.
    void start() {
        std::vector<std::future<std::string>> started;
        for (auto& loader : loaders_) {
            std::promise<std::string> promise;
            started.push_back(promise.get_future());
            threads_.emplace_back([raw = loader.get(), p = std::move(promise)]() mutable { raw->run(std::move(p)); });
        }
        std::string failure;
        for (auto& f : started)
            if (std::string error = f.get(); !error.empty() && failure.empty()) failure = error;
        if (!failure.empty()) throw std::runtime_error(failure);
    }

    RunControl& control() { return *control_; }
    void join() {
        for (auto& thread : threads_) thread.join();
    }
    void abandon() { abandoned_ = true; }
    void merge_results(ThreadResults& into) const {
        for (const auto& loader : loaders_) into.merge(loader->final_results());
    }

private:
    std::unique_ptr<RunControl> control_;
    std::vector<std::unique_ptr<LoadThread>> loaders_;
    std::vector<std::thread> threads_;
    bool abandoned_ = false;
};

}  // namespace

RunReport run_load(const LoadOptions& options) {
    try {  // a bad --cafile is the command line's fault: find out before any thread starts
        TlsClientContext check(tls_settings_for(options));
    } catch (const std::exception& e) {
        throw UsageError(e.what());
    }
    RunReport report;
    const bool idle = options.scenario == Scenario::idle;
    if (idle && options.pid) report.rss_before_bytes = read_rss_or_throw(options.pid);
    install_interrupt_handler();

    ThreadGroup group(options);
    RunControl& control = group.control();
    group.start();
    const uint64_t start_ns = monotonic_ns();
    ProgressLine progress(options);

    uint64_t stop_at_ns = idle ? 0 : start_ns + seconds_to_ns(options.duration_s);
    uint64_t hold_started_ns = 0, stopped_ns = 0, aborted_ns = 0, now = start_ns;
    bool all_exited = false;
    while (true) {
        all_exited = control.wait_for_threads(kPollInterval);
        now = monotonic_ns();
        CounterTotals totals = control.totals();
        if (idle && !hold_started_ns &&
            (totals.completed + totals.errors >= options.connections || now - start_ns >= kIdleOpenLimitNs)) {
            hold_started_ns = now;
            stop_at_ns = now + seconds_to_ns(options.duration_s);
            report.open_s = ns_to_seconds(now - start_ns);
        }
        int interrupts = g_interrupts.load(std::memory_order_relaxed);
        report.interrupted = interrupts > 0;
        if (!control.stopping() && ((stop_at_ns && now >= stop_at_ns) || interrupts > 0)) {
            if (idle) {  // the end of the hold: everything that is going to be open is open
                if (options.pid) report.rss_after_bytes = resident_set_bytes(options.pid);
                report.held_connections = totals.open;
            }
            control.request_stop();
        }
        if (control.stopping() && !stopped_ns) stopped_ns = now;
        if (!control.aborted() && ((stopped_ns && now - stopped_ns >= kDrainNs) || interrupts > 1)) control.request_abort();
        if (control.aborted() && !aborted_ns) aborted_ns = now;
        progress.update(now - start_ns, totals, phase_name(control, idle, hold_started_ns != 0));
        if (all_exited) break;
        if (aborted_ns && now - aborted_ns >= kAbortGraceNs) break;  // a thread is stuck: give up on it
    }
    progress.finish();

    report.totals = control.totals();
    if (uint64_t all_open = control.all_open_ns(); all_open != UINT64_MAX)
        report.all_open_s = ns_to_seconds(all_open > start_ns ? all_open - start_ns : 0);
    report.duration_s = idle && hold_started_ns ? ns_to_seconds((stopped_ns ? stopped_ns : now) - hold_started_ns)
                                                : ns_to_seconds(now - start_ns);
    if (all_exited) {
        group.join();
        group.merge_results(report.results);
    } else {
        report.results_complete = false;
        group.abandon();
    }
    return report;
}

}  // namespace tlsfront::bench
