// ArrivalSchedule: one load thread's share of --rate, open-loop arrivals at fixed intervals. The
// k-th arrival is due at origin + k x interval (computed from k, so rounding never drifts); thread t
// of T starts t/T of an interval late, so the threads' arrivals interleave evenly. Arrivals that
// are due but have not found a free connection wait here, first in, first out; since they are
// consecutive, the queue is two numbers however long the backlog grows.
#pragma once

#include <cstdint>

namespace tlsfront::bench {

class ArrivalSchedule {
public:
    // `per_second`: this thread's rate; `phase`: the fraction of an interval this thread starts late.
    ArrivalSchedule(double per_second, double phase) : interval_ns_(1e9 / per_second), phase_(phase) {}

    void begin(uint64_t now_ns) {
        origin_ns_ = now_ns + static_cast<uint64_t>(phase_ * interval_ns_);
        started_ = true;
    }
    bool started() const { return started_; }
    // No further arrivals (stopping, budget spent); queued ones remain.
    void close() { open_ = false; }
    bool open() const { return open_; }

    bool due(uint64_t now_ns) const { return open_ && started_ && due_ns(next_) <= now_ns; }
    uint64_t next_due_ns() const { return due_ns(next_); }
    // Queues the next due arrival.
    void append() {
        ++next_;
        ++queued_;
    }

    uint64_t queued() const { return queued_; }
    // The oldest queued arrival's scheduled time, removed from the queue.
    uint64_t pop() {
        uint64_t due = due_ns(next_ - queued_);
        --queued_;
        return due;
    }
    // Empties the queue; returns how many arrivals were in it.
    uint64_t drop_queued() {
        uint64_t n = queued_;
        queued_ = 0;
        return n;
    }

private:
    uint64_t due_ns(uint64_t k) const { return origin_ns_ + static_cast<uint64_t>(static_cast<double>(k) * interval_ns_); }

    double interval_ns_;
    double phase_;
    uint64_t origin_ns_ = 0;
    uint64_t next_ = 0;    // index of the next arrival to become due
    uint64_t queued_ = 0;  // due, not yet started: indices next_ - queued_ .. next_ - 1
    bool started_ = false;
    bool open_ = true;
};

// What a connection that asks for its next unit of work gets (pingpong with --rate): a queued
// arrival to serve now (its scheduled time), a place on the waiting list, or the end of the run.
struct ArrivalOffer {
    enum class Kind : uint8_t { now, later, over } kind;
    uint64_t scheduled_ns = 0;  // Kind::now
};

}  // namespace tlsfront::bench
