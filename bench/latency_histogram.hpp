// LatencyHistogram: HDR-style log-linear buckets over nanoseconds. Each power of two is split into
// 32 sub-buckets, so a reported value is within about 1.6% of the true one, from 1 ns to centuries,
// in a fixed 15 KiB array: recording is an index computation and an increment, never an
// allocation, and per-thread histograms merge by adding counts.
#pragma once

#include <array>
#include <cstdint>

namespace tlsfront::bench {

class LatencyHistogram {
public:
    void record(uint64_t ns);
    void merge(const LatencyHistogram& other);

    uint64_t count() const { return count_; }
    uint64_t max() const { return max_; }
    uint64_t min() const { return count_ ? min_ : 0; }
    // The value below which a fraction q (0 < q <= 1) of the recordings lie: the midpoint of the
    // bucket holding that rank, kept within [min(), max()]. 0 when nothing was recorded.
    uint64_t quantile(double q) const;

private:
    static constexpr unsigned kSubBucketBits = 5;
    static constexpr unsigned kSubBuckets = 1u << kSubBucketBits;
    // Values below kSubBuckets have a bucket each; every further power of two has kSubBuckets.
    static constexpr unsigned kBuckets = (64 - kSubBucketBits + 1) * kSubBuckets;

    static unsigned index_of(uint64_t ns);
    static uint64_t midpoint_of(unsigned index);

    std::array<uint64_t, kBuckets> counts_{};
    uint64_t count_ = 0;
    uint64_t max_ = 0;
    uint64_t min_ = UINT64_MAX;
};

}  // namespace tlsfront::bench
