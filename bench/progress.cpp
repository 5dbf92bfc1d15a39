// Formatting of the live progress line (\r and erase-to-end-of-line, no cursor tricks beyond that).
#include "bench/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "bench/clock.hpp"

namespace tlsfront::bench {

ProgressLine::ProgressLine(const LoadOptions& options)
    : enabled_(!options.quiet && isatty(STDERR_FILENO)),
      transfers_(options.scenario == Scenario::download || options.scenario == Scenario::upload),
      open_loop_(options.rate > 0), connections_(options.connections) {}

void ProgressLine::update(uint64_t elapsed_ns, const CounterTotals& totals, const char* phase) {
    if (!enabled_) return;
    double interval = ns_to_seconds(elapsed_ns - last_elapsed_ns_);
    double rate = interval > 0 ? static_cast<double>(totals.completed - last_.completed) / interval : 0;
    double mb_per_s = interval > 0 ? static_cast<double>(totals.bytes - last_.bytes) / interval / 1e6 : 0;
    char line[256];
    int n = snprintf(line, sizeof line, "\r\x1b[K%7.1fs  %-8s done %llu (%.0f/s)  open %llu/%u  errors %llu",
                     ns_to_seconds(elapsed_ns), phase, static_cast<unsigned long long>(totals.completed), rate,
                     static_cast<unsigned long long>(totals.open), connections_,
                     static_cast<unsigned long long>(totals.errors));
    if (transfers_ && n > 0 && static_cast<size_t>(n) < sizeof line)
        snprintf(line + n, sizeof line - static_cast<size_t>(n), "  %.1f MB/s", mb_per_s);
    else if (open_loop_ && n > 0 && static_cast<size_t>(n) < sizeof line)
        snprintf(line + n, sizeof line - static_cast<size_t>(n), "  late %llu",
                 static_cast<unsigned long long>(totals.late));
    fputs(line, stderr);
    fflush(stderr);
    drawn_ = true;
    last_elapsed_ns_ = elapsed_ns;
    last_ = totals;
}

void ProgressLine::finish() {
    if (!drawn_) return;
    fputs("\n", stderr);
    fflush(stderr);
    drawn_ = false;
}

}  // namespace tlsfront::bench
