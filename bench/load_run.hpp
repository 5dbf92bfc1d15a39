// run_load: one load run from start to summary figures. It starts the load threads, keeps time
// (duration, drain, hard cap, idle's open-then-hold phases), draws the progress line, and collects
// what the threads measured.
#pragma once

#include <cstdint>
#include <optional>

#include "bench/options.hpp"
#include "bench/run_control.hpp"

namespace tlsfront::bench {

struct RunReport {
    double duration_s = 0;            // from the first connect until the threads were done (idle: the hold)
    double open_s = 0;                // idle: until every connection was open
    std::optional<double> all_open_s; // when every connection had been established (pingpong: latency from here)
    CounterTotals totals;
    uint64_t held_connections = 0;    // idle: established when the RSS was read
    std::optional<uint64_t> rss_before_bytes;
    std::optional<uint64_t> rss_after_bytes;
    ThreadResults results;
    // False when a thread still had not returned after the hard cap: its histograms and error
    // details are missing (the counters are complete), and the process must end with _Exit.
    bool results_complete = true;
    bool interrupted = false;         // SIGINT
};

// Throws UsageError for what the command line got wrong (unreadable --cafile, unreadable --pid),
// std::runtime_error when the threads cannot be set up.
RunReport run_load(const LoadOptions& options);

}  // namespace tlsfront::bench
