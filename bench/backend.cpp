// Backend threads: accept, dispatch completions, free finished connections, stop on request.
#include "bench/backend.hpp"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "bench/backend_connection.hpp"
#include "bench/clock.hpp"
#include "bench/bench_op.hpp"
#include "proxy/net/io_ring.hpp"
#include "proxy/net/listener_socket.hpp"

namespace tlsfront::bench {
namespace {

constexpr uint64_t kWaitNs = 200 * kNanosPerMilli;  // how soon a thread notices the stop flag

class BackendThread {
public:
    BackendThread(UniqueFd listener, const std::atomic<bool>& stop) : listener_(std::move(listener)), stop_(stop) {}
    ~BackendThread() {
        ring_.reset();  // first: no request may outlive the buffers it points into
        connections_.clear();
    }

    void run(std::promise<std::string> started) {
        try {
            ring_ = std::make_unique<IoRing>(1024, 8192);
        } catch (const std::exception& e) {
            started.set_value(e.what());
            return;
        }
        started.set_value("");
        arm_accept();
        try {
            while (!stop_.load(std::memory_order_relaxed)) {
                ring_->run_once(kWaitNs, [this](const io_uring_cqe& cqe) { handle(cqe); });
                if (!accepting_) arm_accept();  // after EMFILE and the like: retried every wait
            }
        } catch (const std::exception& e) {
            std::cerr << "tlsfront-bench backend: " << e.what() << '\n';
        }
        ring_.reset();  // on this thread, which the single-issuer ring belongs to
    }

    const BackendCounters& counters() const { return counters_; }

private:
    void arm_accept() {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_multishot_accept(sqe, listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, make_user_data(nullptr, BenchOp::accept));
        accepting_ = true;
    }

    void handle(const io_uring_cqe& cqe) {
        BenchOp op = op_of<BenchOp>(cqe.user_data);
        if (op == BenchOp::ignore) return;
        if (op == BenchOp::accept) return on_accept(cqe.res, cqe.flags);
        auto* connection = object_of<BackendConnection>(cqe.user_data);
        connection->on_completion(op, cqe.res);
        settle(connection);
    }

    void on_accept(int result, uint32_t flags) {
        if (!(flags & IORING_CQE_F_MORE)) accepting_ = false;
        if (result < 0) return;
        ++counters_.accepted;
        std::unique_ptr<uint8_t[]> buffer;
        if (free_buffers_.empty()) {
            buffer = std::make_unique_for_overwrite<uint8_t[]>(BackendConnection::kBufferSize);
        } else {
            buffer = std::move(free_buffers_.back());
            free_buffers_.pop_back();
        }
        auto connection = std::make_unique<BackendConnection>(*ring_, counters_, UniqueFd(result), std::move(buffer));
        connection->table_slot = static_cast<uint32_t>(connections_.size());
        BackendConnection* raw = connection.get();
        connections_.push_back(std::move(connection));
        raw->start();
    }

    // Frees a connection once it is closed and the kernel holds no request that points to it.
    void settle(BackendConnection* connection) {
        if (!connection->finished()) return;
        free_buffers_.push_back(connection->take_buffer());
        uint32_t slot = connection->table_slot;
        std::swap(connections_[slot], connections_.back());
        connections_[slot]->table_slot = slot;
        connections_.pop_back();
    }

    UniqueFd listener_;
    const std::atomic<bool>& stop_;
    BackendCounters counters_;
    bool accepting_ = false;
    std::vector<std::unique_ptr<BackendConnection>> connections_;
    std::vector<std::unique_ptr<uint8_t[]>> free_buffers_;
    std::unique_ptr<IoRing> ring_;
};

// SIGINT/SIGTERM are blocked in every thread and collected here, with the --duration deadline.
void wait_for_stop(const sigset_t& signals, double duration_s) {
    if (duration_s <= 0) {
        int signal = 0;
        sigwait(&signals, &signal);
        return;
    }
    uint64_t deadline = monotonic_ns() + seconds_to_ns(duration_s);
    for (uint64_t now = monotonic_ns(); now < deadline; now = monotonic_ns()) {
        uint64_t left = deadline - now;
        timespec timeout{static_cast<time_t>(left / kNanosPerSecond), static_cast<long>(left % kNanosPerSecond)};
        if (sigtimedwait(&signals, nullptr, &timeout) > 0) return;
    }
}

}  // namespace

int run_backend(const BackendOptions& options) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by the threads started below

    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<BackendThread>> workers;
    try {
        for (unsigned i = 0; i < options.threads; ++i)
            workers.push_back(std::make_unique<BackendThread>(open_listener_socket(options.listen), stop));
    } catch (const std::exception& e) {
        std::cerr << "tlsfront-bench backend: " << e.what() << '\n';
        return 1;
    }
    std::vector<std::thread> threads;
    std::string failure;
    for (auto& worker : workers) {
        std::promise<std::string> started;
        auto ready = started.get_future();
        threads.emplace_back([raw = worker.get(), p = std::move(started)]() mutable { raw->run(std::move(p)); });
        if (std::string error = ready.get(); !error.empty() && failure.empty()) failure = error;
    }
    if (failure.empty()) {
        std::cerr << "tlsfront-bench backend: listening on " << options.listen.to_string() << " (" << options.threads
                  << (options.threads == 1 ? " thread" : " threads") << ")" << std::endl;
        wait_for_stop(signals, options.duration_s);
    } else {
        std::cerr << "tlsfront-bench backend: " << failure << '\n';
    }
    stop.store(true, std::memory_order_relaxed);
    for (auto& thread : threads) thread.join();

    BackendCounters total;
    for (const auto& worker : workers) {
        const BackendCounters& c = worker->counters();
        total.accepted += c.accepted;
        total.bytes_in += c.bytes_in;
        total.bytes_out += c.bytes_out;
        total.protocol_errors += c.protocol_errors;
    }
    std::cerr << "tlsfront-bench backend: " << total.accepted << " connections, " << total.bytes_in << " bytes in, "
              << total.bytes_out << " bytes out, " << total.protocol_errors << " protocol errors" << std::endl;
    return failure.empty() ? 0 : 1;
}

}  // namespace tlsfront::bench
