// Shared run state: budget claims, counter totals, thread-exit waits, error tallies.
#include "bench/run_control.hpp"

namespace tlsfront::bench {

const char* to_string(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::connect: return "connect";
    case ErrorKind::handshake: return "handshake";
    case ErrorKind::tls: return "tls";
    case ErrorKind::io: return "io";
    case ErrorKind::protocol: return "protocol";
    case ErrorKind::closed_early: return "closed_early";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::unfinished: return "unfinished";
    }
    return "unknown";
}

void ErrorTally::add(ErrorKind kind, std::string_view why, uint64_t count) {
    auto i = static_cast<size_t>(kind);
    if (counts[i] == 0) first[i] = why;
    counts[i] += count;
}

void ErrorTally::merge(const ErrorTally& other) {
    for (size_t i = 0; i < kErrorKinds; ++i) {
        if (counts[i] == 0) first[i] = other.first[i];
        counts[i] += other.counts[i];
    }
}

void ThreadResults::merge(const ThreadResults& other) {
    latency.merge(other.latency);
    handshake.merge(other.handshake);
    completion.merge(other.completion);
    for (size_t i = 0; i < kImapSteps; ++i) imap_steps[i].merge(other.imap_steps[i]);
    start_delay.merge(other.start_delay);
    errors.merge(other.errors);
}

RunControl::RunControl(unsigned threads, uint64_t budget)
    : counters_(std::make_unique<ThreadCounters[]>(threads)), threads_(threads),
      budget_(budget ? budget : UINT64_MAX), running_(threads) {}

void RunControl::connection_established(uint64_t now_ns) {
    if (established_.fetch_add(1, std::memory_order_relaxed) + 1 == expected_connections_)
        all_open_ns_.store(now_ns, std::memory_order_relaxed);
}

bool RunControl::claim_unit() {
    if (stopping()) return false;
    if (budget_ == UINT64_MAX) return true;
    // Past the budget the counter keeps growing; that is harmless and keeps this one instruction.
    return claimed_.fetch_add(1, std::memory_order_relaxed) < budget_;
}

bool RunControl::work_left() const {
    return !stopping() && (budget_ == UINT64_MAX || claimed_.load(std::memory_order_relaxed) < budget_);
}

CounterTotals RunControl::totals() const {
    CounterTotals t;
    for (unsigned i = 0; i < threads_; ++i) {
        const ThreadCounters& c = counters_[i];
        t.completed += c.completed.load(std::memory_order_relaxed);
        t.errors += c.errors.load(std::memory_order_relaxed);
        t.bytes += c.bytes.load(std::memory_order_relaxed);
        t.handshakes += c.handshakes.load(std::memory_order_relaxed);
        t.resumed += c.resumed.load(std::memory_order_relaxed);
        t.open += c.open.load(std::memory_order_relaxed);
        t.arrivals += c.arrivals.load(std::memory_order_relaxed);
        t.late += c.late.load(std::memory_order_relaxed);
    }
    return t;
}

void RunControl::thread_exited() {
    std::lock_guard lock(exit_mutex_);
    --running_;
    exit_signal_.notify_all();
}

bool RunControl::wait_for_threads(std::chrono::milliseconds timeout) {
    std::unique_lock lock(exit_mutex_);
    return exit_signal_.wait_for(lock, timeout, [this] { return running_ == 0; });
}

}  // namespace tlsfront::bench
