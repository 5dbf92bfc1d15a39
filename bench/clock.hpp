// One monotonic clock for the whole load generator: latencies, deadlines, rates and the progress
// line all read it, so their figures can be compared with each other.
#pragma once

#include <time.h>

#include <cstdint>

namespace tlsfront::bench {

constexpr uint64_t kNanosPerMicro = 1'000;
constexpr uint64_t kNanosPerMilli = 1'000'000;
constexpr uint64_t kNanosPerSecond = 1'000'000'000;

inline uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * kNanosPerSecond + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t seconds_to_ns(double seconds) { return static_cast<uint64_t>(seconds * 1e9); }
inline double ns_to_seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace tlsfront::bench
