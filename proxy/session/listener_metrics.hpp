// The counters behind /metrics, as the data path writes them: one ListenerMetrics per listener
// name (kept for the life of the process, so counters only grow across reloads), split into one
// cache-line-aligned shard per worker. Only the owning worker writes a shard (a relaxed load and
// store, no read-modify-write, no shared cache line); the admin thread sums the shards.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tlsfront {

// Written by one thread, read by any.
class OwnedCounter {
public:
    void add(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void sub(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    uint64_t get() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

// Latencies in fixed buckets (upper bounds in seconds, as Prometheus histograms want them).
struct LatencyHistogram {
    static constexpr std::array<double, 14> upper_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    std::array<OwnedCounter, upper_bounds.size()> buckets;  // per bucket, not cumulative
    OwnedCounter count;
    OwnedCounter sum_us;

    void observe(uint64_t microseconds) {
        double seconds = static_cast<double>(microseconds) / 1e6;
        for (size_t i = 0; i < upper_bounds.size(); ++i)
            if (seconds <= upper_bounds[i]) {
                buckets[i].add();
                break;
            }
        count.add();
        sum_us.add(microseconds);
    }
};

// Why a handshake did not complete, in few enough values to be a metrics label.
enum class HandshakeFailure : uint8_t {
    timeout,             // handshake_timeout
    client_closed,       // the client went away mid-handshake
    protocol_version,    // no TLS version in common (e.g. a TLS 1.0 client)
    no_shared_cipher,    // no cipher suite or group in common
    alpn,                // ALPN without the listener's protocol (ALPACA)
    sni,                 // strict_sni: a name no certificate covers
    client_certificate,  // missing, unverifiable or revoked client certificate
    not_tls,             // bytes that are not TLS (HTTP, garbage, a plaintext mail client)
    proxy_header,        // a trusted balancer's PROXY header was malformed or did not come
    other,
};
inline constexpr size_t kHandshakeFailureKinds = 10;
const char* to_string(HandshakeFailure failure);
// From the close reason and BoringSSL's reason string (ERR_reason_error_string).
HandshakeFailure classify_handshake_failure(bool timed_out, bool client_closed, bool proxy_header, const char* error);

inline constexpr size_t kCloseReasons = 18;  // CloseReason's values (connection.hpp)

struct alignas(64) ListenerShard {
    OwnedCounter accepted;
    OwnedCounter refused_over_limit;
    OwnedCounter handshakes[2][2];  // [TLS 1.3][resumed]
    OwnedCounter handshake_failures[kHandshakeFailureKinds];
    OwnedCounter closed[kCloseReasons];
    OwnedCounter bytes_from_client;  // plaintext, client -> backend
    OwnedCounter bytes_to_client;    // plaintext, backend -> client
    OwnedCounter backend_connect_failures;
    OwnedCounter idle;  // relayed sessions with nothing in flight either way (a gauge)
    LatencyHistogram handshake_latency;
    LatencyHistogram backend_connect_latency;
};

class ListenerMetrics {
public:
    ListenerMetrics(std::string name, unsigned workers)
        : name_(std::move(name)), workers_(workers), shards_(std::make_unique<ListenerShard[]>(workers)) {}

    const std::string& name() const { return name_; }
    unsigned workers() const { return workers_; }
    ListenerShard& shard(unsigned worker) { return shards_[worker]; }
    const ListenerShard& shard(unsigned worker) const { return shards_[worker]; }

private:
    std::string name_;
    unsigned workers_;
    std::unique_ptr<ListenerShard[]> shards_;
};

// Every listener name seen since start-up. Entries are never removed (a listener dropped by a
// reload keeps its counters, and the connections it still has keep their pointers).
class ListenerMetricsTable {
public:
    explicit ListenerMetricsTable(unsigned workers) : workers_(workers) {}

    // Created on first use. Any thread; the data path holds the result, it does not look it up.
    ListenerMetrics& for_listener(const std::string& name) {
        std::lock_guard lock(mutex_);
        for (auto& entry : entries_)
            if (entry->name() == name) return *entry;
        return *entries_.emplace_back(std::make_unique<ListenerMetrics>(name, workers_));
    }
    template <typename Visit>
    void for_each(Visit visit) const {
        std::lock_guard lock(mutex_);
        for (const auto& entry : entries_) visit(static_cast<const ListenerMetrics&>(*entry));
    }

private:
    unsigned workers_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<ListenerMetrics>> entries_;
};

}  // namespace tlsfront
