// ProgressLine: one line on stderr, rewritten in place about four times a second while a run is
// going (only when stderr is a terminal and not --quiet): elapsed time, phase, work completed and
// its recent rate, open connections, errors, and MB/s for transfers
// or the late arrivals with --rate.
#pragma once

#include <cstdint>

#include "bench/options.hpp"
#include "bench/run_control.hpp"

namespace tlsfront::bench {

class ProgressLine {
public:
    ProgressLine(const LoadOptions& options);
    ~ProgressLine() { finish(); }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    void update(uint64_t elapsed_ns, const CounterTotals& totals, const char* phase);
    // Ends the line, so what follows starts on a fresh one.
    void finish();

private:
    bool enabled_;
    bool drawn_ = false;
    bool transfers_;
    bool open_loop_;  // --rate: also the late arrivals
    unsigned connections_;
    uint64_t last_elapsed_ns_ = 0;
    CounterTotals last_{};
};

}  // namespace tlsfront::bench
