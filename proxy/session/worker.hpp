// Worker: one thread, one io_uring, its own listening sockets (SO_REUSEPORT), its connections,
// receive buffer ring and send buffer pool. Nothing on the data path is shared with other workers;
// new config snapshots arrive through the WorkerMailbox and are taken at the next loop turn.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "proxy/net/buffer_pool.hpp"
#include "proxy/net/io_ring.hpp"
#include "proxy/net/unique_fd.hpp"
#include "proxy/session/io_op.hpp"
#include "proxy/session/listener_metrics.hpp"
#include "proxy/session/snapshot_use.hpp"
#include "proxy/session/worker_mailbox.hpp"

namespace tlsfront {

class Connection;

// Counters every worker updates (never on the per-byte path).
struct SharedCounters {
    std::atomic<uint64_t> open_connections{0};
    std::atomic<uint64_t> refused_over_limit{0};
    std::atomic<unsigned> workers_not_accepting{0};  // workers whose listening sockets are closed
};

class Worker {
public:
    Worker(unsigned index, std::shared_ptr<const ConfigSnapshot> snapshot, SharedCounters& counters,
           ListenerMetricsTable& metrics, std::vector<WorkerListener> listeners);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Thread body. `started` is set once the ring is up (or to the error that kept it down).
    void run(std::promise<std::string> started);
    // From another thread: stop accepting, drain for shutdown_grace, then return from run().
    void request_stop();
    // From another thread: take `update` at the next loop turn.
    void post_update(WorkerUpdate update);
    // From another thread: when the loop last ran its tick (CLOCK_MONOTONIC_COARSE ms); a worker
    // whose tick is seconds old is stuck.
    uint64_t last_tick_ms() const { return last_tick_ms_.load(std::memory_order_relaxed); }
    // From another thread: the generation of the newest snapshot this worker has taken; every
    // connection it accepts from then on uses it.
    uint64_t adopted_generation() const { return adopted_generation_.load(std::memory_order_acquire); }

    // For connections.
    io_uring_sqe* next_sqe();
    uint64_t now_ms() const { return now_ms_; }
    ProvidedBufferRing& receive_buffers() { return *receive_buffers_; }
    BufferPool& send_buffers() { return send_buffers_; }
    void wait_for_receive_buffer(Connection& connection, IoOp op);
    void recycle_receive_buffer(uint16_t id);

private:
    struct alignas(16) ListenerSlot {
        WorkerListener socket;
        const ListenerRuntime* runtime = nullptr;  // in the current snapshot
        ListenerShard* metrics = nullptr;          // the listener's counters, this worker's shard
        bool accepting = false;
        bool retiring = false;  // its listener is gone from the config: close once the accept ends
    };

    SnapshotUse& current() { return *uses_.back(); }
    void wake();  // the loop turns (from any thread)
    void add_slot(WorkerListener socket);
    void adopt(std::shared_ptr<const ConfigSnapshot> snapshot, std::vector<WorkerListener> new_sockets);
    void take_updates();
    void retarget(ListenerSlot& slot);
    void prune_uses();
    void arm_accept(ListenerSlot& slot);
    void cancel_accept(ListenerSlot& slot);
    void arm_tick();
    void arm_wake();
    void handle(const io_uring_cqe& cqe);
    void on_wake();
    void on_accept(ListenerSlot& slot, int result, uint32_t flags);
    void accept_connection(ListenerSlot& slot, int fd);
    void on_tick();
    void begin_drain();
    void close_listener(ListenerSlot& slot);
    void remove_closed_slots();
    template <typename Action>
    void for_each_connection(Action act);
    void expire(DeadlineList& list);
    void settle(Connection* connection);
    void retry_starved();
    bool done() const;
    void update_clock();
    void return_freed_memory();

    unsigned index_;
    SharedCounters& counters_;
    ListenerMetricsTable& metrics_;
    std::atomic<uint64_t> last_tick_ms_{0};
    std::atomic<uint64_t> adopted_generation_{0};
    WorkerMailbox mailbox_;
    std::atomic<bool> stop_requested_{false};
    std::vector<std::unique_ptr<SnapshotUse>> uses_;  // back() is the current snapshot
    std::vector<std::unique_ptr<ListenerSlot>> listeners_;
    std::optional<IoRing> ring_;  // made on the worker's own thread (single issuer)
    std::optional<ProvidedBufferRing> receive_buffers_;
    BufferPool send_buffers_;
    std::vector<std::unique_ptr<Connection>> connections_;
    std::deque<std::pair<Connection*, IoOp>> starved_;  // receives waiting for a ring buffer, oldest first
    bool receive_ring_ran_dry_ = false;  // in this batch of completions
    UniqueFd wake_fd_;
    uint64_t wake_value_ = 0;
    __kernel_timespec tick_interval_{};
    uint64_t now_ms_ = 0;
    uint64_t next_connection_id_ = 0;
    bool draining_ = false;
    bool reported_not_accepting_ = false;
    uint64_t drain_deadline_ms_ = 0;
    bool accept_paused_ = false;  // out of file descriptors: retried on the next tick
    size_t connections_peak_ = 0;  // since the last return of freed memory to the system
};

}  // namespace tlsfront
