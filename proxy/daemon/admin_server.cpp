// The admin thread's loop: one accept at a time while under the connection limit, then per
// connection receive the head -> send the response -> shut down writing -> read until the client
// closes (so unread request bytes do not turn the close into a reset that loses the response).
// Each connection has exactly one request in the ring at a time; one deadline per connection,
// checked by a periodic tick, cancels it.
#include "proxy/daemon/admin_server.hpp"

#include <liburing.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <vector>

#include "proxy/daemon/admin_http.hpp"
#include "proxy/net/deadline_list.hpp"
#include "proxy/net/io_ring.hpp"
#include "proxy/net/listener_socket.hpp"

namespace tlsfront {
namespace {

constexpr unsigned kSubmissionEntries = 128;
constexpr unsigned kCompletionEntries = 256;
constexpr uint64_t kMaxWaitNanoseconds = 1'000'000'000;
constexpr size_t kMaxLingerBytes = 65536;  // what a client may still send after its answer
constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

enum class AdminOp : uint8_t { ignore = 0, accept, wake, tick, receive, send, shutdown, linger };

struct alignas(16) AdminConnection : DeadlineHook {
    explicit AdminConnection(int fd) : socket(fd), buffer(kMaxHeadBytes + 1, '\0') {}

    UniqueFd socket;
    std::string buffer;  // the request head; later scratch space for the lingering reads
    size_t received = 0;
    std::string response;
    size_t sent = 0;
    size_t lingered = 0;
    bool op_pending = false;
    bool expired = false;  // its deadline passed or the server stops: close at the next completion
};

uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

// Often enough that a deadline is kept to within an eighth of the timeout, at most every 100 ms.
long tick_nanoseconds(std::chrono::milliseconds timeout) {
    long ms = std::clamp<long>(static_cast<long>(timeout.count() / 8), 10, 100);
    return ms * 1'000'000;
}

}  // namespace

class AdminServer::Loop {
public:
    Loop(UniqueFd listener, Handler handler, std::chrono::milliseconds timeout)
        : listener_(std::move(listener)), handler_(std::move(handler)),
          deadlines_(static_cast<uint64_t>(std::max<int64_t>(timeout.count(), 1))),
          wake_fd_(eventfd(0, EFD_CLOEXEC)) {
        tick_interval_.tv_nsec = tick_nanoseconds(timeout);
    }

    // On the admin thread. Throws when the ring cannot be made.
    void set_up() {
        if (!wake_fd_) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
        if (!listener_) throw std::runtime_error("admin server: no listening socket");
        ring_.emplace(kSubmissionEntries, kCompletionEntries);
    }

    // Until stopped and every request in the ring has completed. Throws on a ring failure.
    void run() {
        now_ms_ = monotonic_ms();
        arm_accept();
        arm_tick();
        arm_wake();
        while (!done()) {
            ring_->run_once(kMaxWaitNanoseconds, [&](const io_uring_cqe& cqe) {
                now_ms_ = monotonic_ms();
                handle(cqe);
            });
        }
    }

    // The ring goes first: the kernel then holds no request that points into a connection.
    void tear_down() {
        ring_.reset();
        connections_.clear();
    }

    void request_stop() {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
    }

private:
    bool done() const {
        return stopping_ && !accept_pending_ && !tick_pending_ && !wake_pending_ && connections_.empty();
    }

    void arm_accept() {
        if (accept_pending_ || stopping_ || connections_.size() >= kMaxAdminConnections) return;
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_accept(sqe, listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, make_user_data(this, AdminOp::accept));
        accept_pending_ = true;
    }

    void arm_tick() {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_timeout(sqe, &tick_interval_, 0, 0);
        io_uring_sqe_set_data64(sqe, make_user_data(this, AdminOp::tick));
        tick_pending_ = true;
    }

    void arm_wake() {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_read(sqe, wake_fd_.get(), &wake_value_, sizeof wake_value_, 0);
        io_uring_sqe_set_data64(sqe, make_user_data(this, AdminOp::wake));
        wake_pending_ = true;
    }

    void handle(const io_uring_cqe& cqe) {
        switch (op_of<AdminOp>(cqe.user_data)) {
        case AdminOp::ignore: return;
        case AdminOp::accept: return on_accept(cqe.res);
        case AdminOp::wake: return on_wake();
        case AdminOp::tick: return on_tick();
        default: break;
        }
        auto* connection = object_of<AdminConnection>(cqe.user_data);
        connection->op_pending = false;
        if (connection->expired) return close(*connection);
        switch (op_of<AdminOp>(cqe.user_data)) {
        case AdminOp::receive: return on_receive(*connection, cqe.res);
        case AdminOp::send: return on_send(*connection, cqe.res);
        case AdminOp::shutdown: return start_linger(*connection);
        case AdminOp::linger: return on_linger(*connection, cqe.res);
        default: return;
        }
    }

    void on_accept(int result) {
        accept_pending_ = false;
        if (result >= 0) {
            auto connection = std::make_unique<AdminConnection>(result);
            if (stopping_) return;  // closes it
            deadlines_.arm(*connection, now_ms_);
            connections_.push_back(std::move(connection));
            receive(*connections_.back());
            arm_accept();
        } else if (result == -ECONNABORTED || result == -EINTR) {
            arm_accept();
        }
        // Other failures (out of file descriptors, ...): the next tick tries again, no busy loop.
    }

    void on_wake() {
        wake_pending_ = false;
        stopping_ = true;
        if (accept_pending_) cancel(make_user_data(this, AdminOp::accept));
        if (tick_pending_) {
            io_uring_sqe* sqe = ring_->next_sqe();
            io_uring_prep_timeout_remove(sqe, make_user_data(this, AdminOp::tick), 0);
            io_uring_sqe_set_data64(sqe, make_user_data(nullptr, AdminOp::ignore));
        }
        // Copy: close() reorders the table.
        std::vector<AdminConnection*> open;
        for (auto& connection : connections_) open.push_back(connection.get());
        for (AdminConnection* connection : open) expire(*connection);
    }

    void on_tick() {
        tick_pending_ = false;
        if (stopping_) return;
        arm_tick();
        while (DeadlineHook* hook = deadlines_.pop_expired(now_ms_)) expire(*static_cast<AdminConnection*>(hook));
        arm_accept();  // after a failed accept, or when expiries freed slots (close() does too)
    }

    void cancel(uint64_t user_data) {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_cancel64(sqe, user_data, 0);
        io_uring_sqe_set_data64(sqe, make_user_data(nullptr, AdminOp::ignore));
    }

    void expire(AdminConnection& connection) {
        connection.expired = true;
        if (!connection.op_pending) return close(connection);
        ring_->cancel_all_on(connection.socket.get());  // its completion closes it
    }

    void close(AdminConnection& connection) {
        // A connection cut off by its deadline or by stop() is reset rather than closed: a plain
        // close would leave the unsent response queued in an orphaned socket, trickling to a
        // client that does not read.
        if (connection.expired) {
            linger abort{1, 0};
            setsockopt(connection.socket.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        }
        DeadlineList::remove(connection);
        auto it = std::find_if(connections_.begin(), connections_.end(),
                               [&](const auto& owned) { return owned.get() == &connection; });
        if (it == connections_.end()) return;
        std::swap(*it, connections_.back());
        connections_.pop_back();  // closes the socket
        arm_accept();
    }

    void submit(AdminConnection& connection, io_uring_sqe* sqe, AdminOp op) {
        io_uring_sqe_set_data64(sqe, make_user_data(&connection, op));
        connection.op_pending = true;
    }

    void receive(AdminConnection& connection) {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_recv(sqe, connection.socket.get(), connection.buffer.data() + connection.received,
                           connection.buffer.size() - connection.received, 0);
        submit(connection, sqe, AdminOp::receive);
    }

    void on_receive(AdminConnection& connection, int result) {
        if (result <= 0) return close(connection);  // gone before its request was complete
        connection.received += static_cast<size_t>(result);
        std::string_view head = std::string_view(connection.buffer).substr(0, connection.received);
        HttpParseResult parsed = parse_http_request_head(head);
        if (parsed.incomplete()) {
            // The parser answers 431 beyond kMaxHeadBytes, so the buffer never fills up here.
            if (connection.received < connection.buffer.size()) return receive(connection);
            parsed = HttpParseResult{HttpParseResult::Kind::error, {}, 431, "request head too large"};
        }
        if (parsed.is_error()) {
            std::string body = std::to_string(parsed.status) + " " + std::string(http_reason_phrase(parsed.status)) +
                               ": " + std::string(parsed.cause) + "\n";
            connection.response = http_response(parsed.status, kPlainText, body, false);
        } else {
            AdminResponse answer = call_handler(parsed.request.path);
            connection.response = http_response(answer.status, answer.content_type, answer.body,
                                                parsed.request.method == HttpMethod::head);
        }
        send(connection);
    }

    AdminResponse call_handler(std::string_view path) {
        try {
            if (handler_) return handler_(path);
            return admin_not_found();
        } catch (...) {
            return AdminResponse{500, std::string(kPlainText), "500 Internal Server Error\n"};
        }
    }

    void send(AdminConnection& connection) {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_send(sqe, connection.socket.get(), connection.response.data() + connection.sent,
                           connection.response.size() - connection.sent, MSG_NOSIGNAL);
        submit(connection, sqe, AdminOp::send);
    }

    void on_send(AdminConnection& connection, int result) {
        if (result <= 0) return close(connection);
        connection.sent += static_cast<size_t>(result);
        if (connection.sent < connection.response.size()) return send(connection);  // short send
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_shutdown(sqe, connection.socket.get(), SHUT_WR);
        submit(connection, sqe, AdminOp::shutdown);
    }

    void start_linger(AdminConnection& connection) {
        io_uring_sqe* sqe = ring_->next_sqe();
        io_uring_prep_recv(sqe, connection.socket.get(), connection.buffer.data(), connection.buffer.size(), 0);
        submit(connection, sqe, AdminOp::linger);
    }

    void on_linger(AdminConnection& connection, int result) {
        if (result <= 0) return close(connection);  // the client closed (or reset): done
        connection.lingered += static_cast<size_t>(result);
        if (connection.lingered > kMaxLingerBytes) return close(connection);
        start_linger(connection);
    }

    UniqueFd listener_;
    Handler handler_;
    DeadlineList deadlines_;
    UniqueFd wake_fd_;
    uint64_t wake_value_ = 0;
    __kernel_timespec tick_interval_{};
    uint64_t now_ms_ = 0;
    bool accept_pending_ = false;
    bool tick_pending_ = false;
    bool wake_pending_ = false;
    bool stopping_ = false;
    std::vector<std::unique_ptr<AdminConnection>> connections_;
    std::optional<IoRing> ring_;  // made on the admin thread (single issuer)
};

AdminServer::AdminServer(UniqueFd listening_socket, Handler handler, std::chrono::milliseconds connection_timeout)
    : loop_(std::make_unique<Loop>(std::move(listening_socket), std::move(handler), connection_timeout)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
    if (thread_.joinable()) return;
    std::promise<std::string> started;
    std::future<std::string> error = started.get_future();
    thread_ = std::thread([this, started = std::move(started)]() mutable { run(std::move(started)); });
    std::string cause = error.get();
    if (!cause.empty()) {
        thread_.join();
        throw std::runtime_error("admin server: " + cause);
    }
}

void AdminServer::stop() {
    if (!thread_.joinable()) return;
    loop_->request_stop();
    thread_.join();
}

std::string AdminServer::failure_reason() const { return failed() ? failure_reason_ : std::string(); }

void AdminServer::run(std::promise<std::string> started) {
    try {
        loop_->set_up();
    } catch (const std::exception& e) {
        loop_->tear_down();
        started.set_value(e.what());
        return;
    }
    started.set_value("");
    try {
        loop_->run();
    } catch (const std::exception& e) {
        failure_reason_ = e.what();
        failed_.store(true, std::memory_order_release);
    } catch (...) {
        failure_reason_ = "unknown error";
        failed_.store(true, std::memory_order_release);
    }
    loop_->tear_down();
}

AdminResponse admin_not_found() { return AdminResponse{404, std::string(kPlainText), "404 Not Found\n"}; }

UniqueFd open_admin_socket(const SocketAddress& address) {
    auto fail = [&](const char* step) {
        throw ListenError("cannot listen on " + address.to_string() + " (admin): " + step + ": " +
                          std::strerror(errno));
    };
    if (address.family() != AF_INET && address.family() != AF_INET6) {
        errno = EAFNOSUPPORT;
        fail("address");
    }
    UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) fail("socket");
    int one = 1;
    // SO_REUSEADDR only lets a restart bind past TIME_WAIT; without SO_REUSEPORT a second
    // listener on the same address is refused with EADDRINUSE.
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) fail("SO_REUSEADDR");
    if (address.family() == AF_INET6 && setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        fail("IPV6_V6ONLY");
    if (::bind(fd.get(), address.get(), address.length) < 0) fail("bind");
    if (::listen(fd.get(), 128) < 0) fail("listen");
    return fd;
}

}  // namespace tlsfront
