// Bucket arithmetic of the log-linear histogram.
#include "bench/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tlsfront::bench {

// Bucket group g >= 1 holds [32 << (g-1), 64 << (g-1)) in 32 steps of 1 << (g-1).
unsigned LatencyHistogram::index_of(uint64_t ns) {
    if (ns < kSubBuckets) return static_cast<unsigned>(ns);
    unsigned top_bit = static_cast<unsigned>(std::bit_width(ns)) - 1;  // >= kSubBucketBits
    unsigned group = top_bit - kSubBucketBits + 1;
    unsigned sub = static_cast<unsigned>(ns >> (top_bit - kSubBucketBits)) - kSubBuckets;
    return group * kSubBuckets + sub;
}

uint64_t LatencyHistogram::midpoint_of(unsigned index) {
    if (index < kSubBuckets) return index;
    unsigned group = index / kSubBuckets;
    uint64_t sub = index % kSubBuckets;
    uint64_t lower = (kSubBuckets + sub) << (group - 1);
    uint64_t width = uint64_t{1} << (group - 1);
    return lower + width / 2;
}

void LatencyHistogram::record(uint64_t ns) {
    ++counts_[index_of(ns)];
    ++count_;
    max_ = std::max(max_, ns);
    min_ = std::min(min_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (unsigned i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
}

uint64_t LatencyHistogram::quantile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (unsigned i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(midpoint_of(i), min(), max_);
    }
    return max_;
}

}  // namespace tlsfront::bench
