// IoRing: the one io_uring of a thread (a proxy worker, a load-generator or backend thread). It
// must be created on the thread that uses it: IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN tie the
// ring to its creator (kernels without them get a plain ring).
// user_data = object address | op: objects that receive completions are 16-byte aligned, which
// leaves the low four bits for an op enum whose value 0 means "nothing to do" (cancellations).
#pragma once

#include <liburing.h>

#include <cstdint>

namespace tlsfront {

template <typename Op>
uint64_t make_user_data(const void* object, Op op) {
    return reinterpret_cast<uintptr_t>(object) | static_cast<uint64_t>(op);
}
template <typename Op>
Op op_of(uint64_t user_data) {
    return static_cast<Op>(user_data & 15);
}
template <typename T>
T* object_of(uint64_t user_data) {
    return reinterpret_cast<T*>(static_cast<uintptr_t>(user_data & ~uint64_t{15}));
}

class IoRing {
public:
    // Throws std::runtime_error when the kernel refuses a ring.
    IoRing(unsigned submission_entries, unsigned completion_entries);
    ~IoRing();
    IoRing(const IoRing&) = delete;
    IoRing& operator=(const IoRing&) = delete;

    io_uring* get() { return &ring_; }
    // A free submission slot; when the queue is full it is handed to the kernel first.
    io_uring_sqe* next_sqe();
    // Cancels every request on `fd`; each completes with -ECANCELED (or its real result). The
    // cancellation's own completion carries user_data 0.
    void cancel_all_on(int fd);

    // Submits what is queued, waits up to `timeout_ns` for a completion, then calls
    // handle(const io_uring_cqe&) for every completion there is. Throws on a ring failure.
    template <typename Handler>
    void run_once(uint64_t timeout_ns, Handler&& handle) {
        wait(timeout_ns);
        unsigned head = 0, seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            handle(*cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
    }

private:
    void wait(uint64_t timeout_ns);

    io_uring ring_{};
};

}  // namespace tlsfront
