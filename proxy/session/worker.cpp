// The worker's event loop: accept, dispatch completions to connections, expire deadlines, take new
// snapshots, drain.
#include "proxy/session/worker.hpp"

#include <malloc.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "proxy/common/log.hpp"
#include "proxy/session/connection.hpp"

namespace tlsfront {
namespace {

constexpr unsigned kSubmissionEntries = 4096;
constexpr unsigned kCompletionEntries = 16384;
constexpr uint16_t kReceiveGroup = 0;
constexpr uint32_t kReceiveBufferSize = 131072;  // eight TLS records: fewer syscalls and ACKs per byte
// Receive buffers are provided 64 at a time: a worker starts with 64 (8 MiB, touched only where
// bytes land) and adds 64 more whenever a receive finds none free, up to 1,024. That many
// receives completing in one batch takes 1,000 busy connections (a ping-pong load), and before
// the ring grew with them, the receives that found no buffer waited for one again and again.
constexpr uint32_t kReceiveBuffersStep = 64;
constexpr uint32_t kReceiveBuffersMax = 1024;  // power of two
constexpr uint32_t kSendBlockSize = 131072 + 2048;  // eight records plus their sealing overhead
constexpr long kTickNanoseconds = 100'000'000;
constexpr uint64_t kMaxWaitNanoseconds = 1'000'000'000;  // the tick wakes the loop long before

}  // namespace

Worker::Worker(unsigned index, std::shared_ptr<const ConfigSnapshot> snapshot, SharedCounters& counters,
               ListenerMetricsTable& metrics, std::vector<WorkerListener> listeners)
    : index_(index), counters_(counters), metrics_(metrics), send_buffers_(kSendBlockSize),
      wake_fd_(eventfd(0, EFD_CLOEXEC)) {
    adopted_generation_.store(snapshot->generation, std::memory_order_relaxed);
    uses_.push_back(std::make_unique<SnapshotUse>(std::move(snapshot)));
    for (auto& listener : listeners) add_slot(std::move(listener));
    tick_interval_.tv_nsec = kTickNanoseconds;
}

Worker::~Worker() {
    connections_.clear();  // before the buffer ring and the ring they point into
    receive_buffers_.reset();
    ring_.reset();
}

io_uring_sqe* Worker::next_sqe() { return ring_->next_sqe(); }

void Worker::update_clock() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    now_ms_ = static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

void Worker::add_slot(WorkerListener socket) {
    auto slot = std::make_unique<ListenerSlot>(ListenerSlot{std::move(socket)});
    retarget(*slot);
    listeners_.push_back(std::move(slot));
}

// Points a slot at its listener in the current snapshot: by address, or by name for a socket that
// is not one of the listener's addresses. A slot whose listener is gone retires.
void Worker::retarget(ListenerSlot& slot) {
    const ConfigSnapshot& snapshot = *current().snapshot;
    slot.runtime = slot.socket.listener.empty() ? snapshot.listener_at(slot.socket.address)
                                                : snapshot.listener_named(slot.socket.listener);
    if (slot.runtime) {
        slot.metrics = &metrics_.for_listener(slot.runtime->config->name).shard(index_);
        return;
    }
    slot.retiring = true;
    if (slot.accepting) cancel_accept(slot);
    else close_listener(slot);
}

void Worker::arm_accept(ListenerSlot& slot) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_multishot_accept(sqe, slot.socket.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, make_user_data(&slot, IoOp::accept));
    slot.accepting = true;
}

void Worker::cancel_accept(ListenerSlot& slot) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_cancel64(sqe, make_user_data(&slot, IoOp::accept), 0);
    io_uring_sqe_set_data64(sqe, make_user_data(nullptr, IoOp::ignore));
}

void Worker::arm_tick() {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_timeout(sqe, &tick_interval_, 0, 0);
    io_uring_sqe_set_data64(sqe, make_user_data(nullptr, IoOp::tick));
}

void Worker::arm_wake() {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_read(sqe, wake_fd_.get(), &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, make_user_data(nullptr, IoOp::wake));
}

void Worker::wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void Worker::request_stop() {
    stop_requested_.store(true, std::memory_order_release);
    wake();
}

void Worker::post_update(WorkerUpdate update) {
    mailbox_.post(std::move(update));
    wake();
}

void Worker::run(std::promise<std::string> started) {
    try {
        if (!wake_fd_) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
        ring_.emplace(kSubmissionEntries, kCompletionEntries);
        receive_buffers_.emplace(ring_->get(), kReceiveGroup, kReceiveBuffersMax, kReceiveBuffersStep, kReceiveBufferSize);
    } catch (const std::exception& e) {
        started.set_value(e.what());
        return;
    }
    update_clock();
    for (auto& slot : listeners_)
        if (!slot->retiring) arm_accept(*slot);
    arm_tick();
    arm_wake();
    started.set_value("");

    try {
        while (!done()) {
            bool clock_read = false;  // once per batch of completions
            ring_->run_once(kMaxWaitNanoseconds, [&](const io_uring_cqe& cqe) {
                if (!clock_read) update_clock();
                clock_read = true;
                handle(cqe);
            });
            if (mailbox_.has_news()) take_updates();
            remove_closed_slots();
            retry_starved();
        }
    } catch (const std::exception& e) {
        LogLine(LogLevel::error, "worker_failed").field("worker", index_).field("error", e.what());
    }
}

bool Worker::done() const { return draining_ && connections_.empty() && listeners_.empty(); }

void Worker::handle(const io_uring_cqe& cqe) {
    IoOp op = op_of<IoOp>(cqe.user_data);
    switch (op) {
    case IoOp::ignore: return;
    case IoOp::accept: return on_accept(*object_of<ListenerSlot>(cqe.user_data), cqe.res, cqe.flags);
    case IoOp::tick: return on_tick();
    case IoOp::wake: return on_wake();
    default: break;
    }
    auto* connection = object_of<Connection>(cqe.user_data);
    connection->on_completion(op, cqe.res, cqe.flags);
    if (draining_) connection->say_goodbye_if_at_rest();
    connection->update_idle_gauge();
    settle(connection);
}

void Worker::on_wake() {
    if (stop_requested_.load(std::memory_order_acquire)) return begin_drain();
    arm_wake();  // updates are taken after this batch of completions
}

void Worker::take_updates() {
    for (WorkerUpdate& update : mailbox_.take()) adopt(std::move(update.snapshot), std::move(update.new_sockets));
}

// A new snapshot: new connections use it from now on; the ones already open keep theirs. Sockets
// whose address the new config still names keep serving (no connection attempt is refused).
void Worker::adopt(std::shared_ptr<const ConfigSnapshot> snapshot, std::vector<WorkerListener> new_sockets) {
    uint64_t generation = snapshot->generation;
    if (!draining_) {  // draining: the sockets close with the update
        uses_.push_back(std::make_unique<SnapshotUse>(std::move(snapshot)));
        for (auto& slot : listeners_)
            if (!slot->retiring) retarget(*slot);
        for (auto& socket : new_sockets) {
            add_slot(std::move(socket));
            if (!listeners_.back()->retiring && !accept_paused_) arm_accept(*listeners_.back());
        }
        prune_uses();
    }
    adopted_generation_.store(generation, std::memory_order_release);
}

// Old snapshots with no connection left are let go (the last worker to let go frees it).
void Worker::prune_uses() {
    auto unused = [&](const std::unique_ptr<SnapshotUse>& use) {
        return use.get() != uses_.back().get() && use->connections == 0;
    };
    uses_.erase(std::remove_if(uses_.begin(), uses_.end(), unused), uses_.end());
}

void Worker::on_accept(ListenerSlot& slot, int result, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) slot.accepting = false;
    if (result >= 0) {
        accept_connection(slot, result);
    } else if (result == -EMFILE || result == -ENFILE || result == -ENOBUFS || result == -ENOMEM) {
        if (!accept_paused_)
            LogLine(LogLevel::warn, "accept_paused").field("worker", index_).field("error", strerrorname_np(-result));
        accept_paused_ = true;  // the next tick re-arms the accept
    } else if (result != -ECANCELED && !draining_) {
        LogLine(LogLevel::warn, "accept_failed").field("worker", index_).field("error", strerrorname_np(-result));
    }
    if ((draining_ || slot.retiring) && !slot.accepting) close_listener(slot);
    if (!draining_ && !slot.retiring && !slot.accepting && !accept_paused_) arm_accept(slot);
}

void Worker::accept_connection(ListenerSlot& slot, int fd) {
    UniqueFd client(fd);
    if (draining_ || slot.retiring) return;
    SnapshotUse& use = current();
    if (counters_.open_connections.fetch_add(1) >= use.settings().max_connections) {
        counters_.open_connections.fetch_sub(1);
        counters_.refused_over_limit.fetch_add(1);
        slot.metrics->refused_over_limit.add();
        LogLine(LogLevel::debug, "refused").field("listener", slot.runtime->config->name).field("reason", "max_connections");
        return;
    }
    SocketAddress peer;
    peer.length = sizeof peer.storage;
    getpeername(fd, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length);
    uint64_t id = (uint64_t{index_} << 48) | ++next_connection_id_;
    slot.metrics->accepted.add();
    auto connection = std::make_unique<Connection>(*this, use, *slot.runtime, *slot.metrics, std::move(client), peer, id);
    ++use.connections;
    connection->worker_slot = static_cast<uint32_t>(connections_.size());
    Connection* raw = connection.get();
    connections_.push_back(std::move(connection));
    connections_peak_ = std::max(connections_peak_, connections_.size());
    raw->start();
    settle(raw);
}

// Frees a connection once it has closed and the kernel holds no request that points to it.
void Worker::settle(Connection* connection) {
    if (!connection->finished()) return;
    uint32_t slot = connection->worker_slot;
    for (auto& starved : starved_)
        if (starved.first == connection) starved.first = nullptr;
    --connection->snapshot_use().connections;
    std::swap(connections_[slot], connections_.back());
    connections_[slot]->worker_slot = slot;
    connections_.pop_back();  // destroys it
    counters_.open_connections.fetch_sub(1);
}

// The kernel found the ring empty. The completions handled before this one may have given buffers
// back by now, so the count left says nothing: the ring grows after the batch (by one step per
// batch, so a burst of starved receives does not take it to its capacity at once).
void Worker::wait_for_receive_buffer(Connection& connection, IoOp op) {
    starved_.emplace_back(&connection, op);
    receive_ring_ran_dry_ = true;
}

void Worker::recycle_receive_buffer(uint16_t id) { receive_buffers_->recycle(id); }

void Worker::retry_starved() {
    if (receive_ring_ran_dry_) receive_buffers_->grow(kReceiveBuffersStep);
    receive_ring_ran_dry_ = false;
    while (!starved_.empty() && receive_buffers_->available() > 0) {
        auto [connection, op] = starved_.front();  // first come, first served: none waits forever
        starved_.pop_front();
        if (connection) connection->retry_receive(op);
    }
}

void Worker::expire(DeadlineList& list) {
    while (DeadlineHook* hook = list.pop_expired(now_ms_)) {
        auto* connection = static_cast<Connection*>(hook);
        connection->on_deadline();
        settle(connection);
    }
}

void Worker::on_tick() {
    arm_tick();
    last_tick_ms_.store(now_ms_, std::memory_order_relaxed);
    for (auto& use : uses_) {
        expire(use->handshake_deadlines);
        expire(use->connect_deadlines);
        expire(use->idle_deadlines);
    }
    prune_uses();
    if (accept_paused_ && !draining_) {
        accept_paused_ = false;
        for (auto& slot : listeners_)
            if (!slot->accepting && !slot->retiring) arm_accept(*slot);
    }
    if (draining_ && now_ms_ >= drain_deadline_ms_)
        for_each_connection([](Connection& connection) { connection.abort(CloseReason::shutdown); });
    return_freed_memory();
}

// After a flood (thousands of half-open connections, say) glibc keeps what they freed in this
// thread's arena, and RSS stays at the flood's peak. Once most of them are gone it goes back to
// the system; rare (a drop of kTrimAfterDrop and at least half), as the trim walks the heap.
void Worker::return_freed_memory() {
    constexpr size_t kTrimAfterDrop = 1000;
    size_t open = connections_.size();
    if (connections_peak_ < open + kTrimAfterDrop || open > connections_peak_ / 2) return;
    malloc_trim(0);
    connections_peak_ = open;
}

// Copy first: `act` may finish a connection, and settle() reorders the table.
template <typename Action>
void Worker::for_each_connection(Action act) {
    std::vector<Connection*> open;
    for (auto& connection : connections_) open.push_back(connection.get());
    for (Connection* connection : open) {
        act(*connection);
        settle(connection);
    }
}

void Worker::begin_drain() {
    if (draining_) return;
    draining_ = true;
    drain_deadline_ms_ = now_ms_ + static_cast<uint64_t>(current().settings().shutdown_grace.count());
    for (auto& slot : listeners_) {
        if (slot->accepting) cancel_accept(*slot);
        else close_listener(*slot);
    }
    remove_closed_slots();
    // Sessions at rest are told to reconnect now; the others as soon as they come to rest.
    for_each_connection([](Connection& connection) { connection.say_goodbye_if_at_rest(); });
}

void Worker::close_listener(ListenerSlot& slot) { slot.socket.fd.reset(); }

// Slots whose socket is closed and whose accept has ended are no longer referenced by the ring.
// Once every listening socket of every worker is closed, new connections are refused by the
// kernel; the main thread waits for that before it reports the drain.
void Worker::remove_closed_slots() {
    auto closed = [](const std::unique_ptr<ListenerSlot>& slot) { return !slot->socket.fd && !slot->accepting; };
    listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(), closed), listeners_.end());
    if (draining_ && listeners_.empty() && !reported_not_accepting_) {
        reported_not_accepting_ = true;
        counters_.workers_not_accepting.fetch_add(1);
    }
}

}  // namespace tlsfront
