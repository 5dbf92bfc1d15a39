// Ring set-up with the single-issuer fast path and its fallback, and the bounded wait.
#include "proxy/net/io_ring.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace tlsfront {

IoRing::IoRing(unsigned submission_entries, unsigned completion_entries) {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                   IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = completion_entries;
    int err = io_uring_queue_init_params(submission_entries, &ring_, &params);
    if (err == -EINVAL) {  // older kernel: no single-issuer task-run deferral
        params = io_uring_params{};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = completion_entries;
        err = io_uring_queue_init_params(submission_entries, &ring_, &params);
    }
    if (err < 0) throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-err));
}

IoRing::~IoRing() { io_uring_queue_exit(&ring_); }

io_uring_sqe* IoRing::next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (!sqe) {
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void IoRing::cancel_all_on(int fd) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, 0);
}

void IoRing::wait(uint64_t timeout_ns) {
    __kernel_timespec timeout{};
    timeout.tv_sec = static_cast<long long>(timeout_ns / 1'000'000'000);
    timeout.tv_nsec = static_cast<long long>(timeout_ns % 1'000'000'000);
    io_uring_cqe* cqe = nullptr;
    int err = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr);
    if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN && err != -EBUSY)
        throw std::runtime_error(std::string("io_uring_submit_and_wait: ") + std::strerror(-err));
}

}  // namespace tlsfront
