// What the load threads and the controlling main thread share: the stop and abort flags, the budget
// of work units, one block of progress counters per thread (written by its thread only, read by the
// progress line), and what each thread hands back when it ends (histograms, errors).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bench/latency_histogram.hpp"

namespace tlsfront::bench {

// One cache line per thread, so the threads do not contend; single writer, relaxed loads elsewhere.
struct alignas(64) ThreadCounters {
    std::atomic<uint64_t> completed{0};   // units of work done and verified (see Scenario)
    std::atomic<uint64_t> errors{0};
    std::atomic<uint64_t> bytes{0};       // payload bytes moved (download/upload/imap bodies)
    std::atomic<uint64_t> handshakes{0};
    std::atomic<uint64_t> resumed{0};
    std::atomic<uint64_t> open{0};        // established TLS connections right now
    std::atomic<uint64_t> arrivals{0};    // --rate: arrivals scheduled (claimed from the budget)
    std::atomic<uint64_t> late{0};        // --rate: of those, found no free connection when due

    // The owning thread is the only writer: a plain load and store, no locked instruction.
    static void add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
        counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void subtract(std::atomic<uint64_t>& counter, uint64_t n = 1) {
        counter.store(counter.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    }
};

struct CounterTotals {
    uint64_t completed = 0, errors = 0, bytes = 0, handshakes = 0, resumed = 0, open = 0, arrivals = 0, late = 0;
};

enum class ErrorKind : uint8_t {
    connect,       // the TCP connect failed
    handshake,     // the TLS handshake failed (alert, verification, EOF)
    tls,           // a TLS error after the handshake
    io,            // send or recv failed (reset, ...)
    protocol,      // wrong bytes from the other end (a bad echo, IMAP NO/BAD, short transfer)
    closed_early,  // the proxy closed before the exchange was complete
    timeout,       // no progress for --timeout
    unfinished,    // still open when the hard time cap cut it
};
constexpr size_t kErrorKinds = 8;
const char* to_string(ErrorKind kind);

// Per kind: how many, and the first message (kept so the summary can say what went wrong).
struct ErrorTally {
    std::array<uint64_t, kErrorKinds> counts{};
    std::array<std::string, kErrorKinds> first;

    void add(ErrorKind kind, std::string_view why, uint64_t count = 1);
    void merge(const ErrorTally& other);
};

// The steps of an imap session, in order; each has its own latency histogram.
enum class ImapStep : uint8_t { greeting, login, select, fetch, logout };
constexpr size_t kImapSteps = 5;

// Read by the main thread only after the owning thread has ended.
struct ThreadResults {
    LatencyHistogram latency;     // pingpong: one request; imap: one command (LOGIN to LOGOUT)
    LatencyHistogram handshake;   // connect start (--rate: the arrival's scheduled time) -> handshake done
    LatencyHistogram completion;  // download/upload: one transfer; imap: one session
    // imap, per step: greeting (handshake done -> the server's greeting), then each command
    std::array<LatencyHistogram, kImapSteps> imap_steps;
    LatencyHistogram start_delay; // --rate: an arrival's scheduled time -> its start (connect or request sent)
    ErrorTally errors;

    LatencyHistogram& imap_step(ImapStep step) { return imap_steps[static_cast<size_t>(step)]; }

    void merge(const ThreadResults& other);
};

class RunControl {
public:
    // `budget`: units of work in total; 0 = unlimited.
    RunControl(unsigned threads, uint64_t budget);

    // Takes one unit of work; false once stopping or when the budget is spent.
    bool claim_unit();
    // Whether claim_unit() could still succeed.
    bool work_left() const;

    void request_stop() { stop_.store(true, std::memory_order_relaxed); }
    bool stopping() const { return stop_.load(std::memory_order_relaxed); }
    void request_abort() {
        stop_.store(true, std::memory_order_relaxed);
        abort_.store(true, std::memory_order_relaxed);
    }
    bool aborted() const { return abort_.load(std::memory_order_relaxed); }

    // pingpong measures latency once every connection is open (the opening handshakes are not
    // what a request's latency is about): `connections` is how many that takes.
    void expect_connections(uint64_t connections) { expected_connections_ = connections; }
    // A connection completed its first handshake; the one that completes the set stamps the time.
    void connection_established(uint64_t now_ns);
    // When every expected connection had been established, or UINT64_MAX until then.
    uint64_t all_open_ns() const { return all_open_ns_.load(std::memory_order_relaxed); }

    ThreadCounters& counters(unsigned thread) { return counters_[thread]; }
    CounterTotals totals() const;

    // Thread exit bookkeeping, so the main thread can wait with a deadline.
    void thread_exited();
    // True when every thread has exited; waits at most `timeout` for that.
    bool wait_for_threads(std::chrono::milliseconds timeout);

private:
    std::unique_ptr<ThreadCounters[]> counters_;
    unsigned threads_;
    uint64_t budget_;
    std::atomic<uint64_t> claimed_{0};
    uint64_t expected_connections_ = 0;
    std::atomic<uint64_t> established_{0};
    std::atomic<uint64_t> all_open_ns_{UINT64_MAX};
    std::atomic<bool> stop_{false};
    std::atomic<bool> abort_{false};
    std::mutex exit_mutex_;
    std::condition_variable exit_signal_;
    unsigned running_;
};

}  // namespace tlsfront::bench
