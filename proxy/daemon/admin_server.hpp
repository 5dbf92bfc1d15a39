// AdminServer: the admin HTTP endpoint (/metrics, /healthz) on its own thread with its own
// io_uring, so that nothing it does, however slow or hostile its clients, touches the workers'
// rings or data path. One request per connection, GET and HEAD only, bounded everywhere: at most
// kMaxAdminConnections at once, and each connection lives at most `connection_timeout` from
// accept to close (request head, response and the lingering close all within that one deadline).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "config/socket_address.hpp"
#include "proxy/net/unique_fd.hpp"

namespace tlsfront {

constexpr unsigned kMaxAdminConnections = 32;
constexpr std::chrono::milliseconds kAdminConnectionTimeout{5000};

struct AdminResponse {
    int status = 200;
    std::string content_type;
    std::string body;
};

// A TCP listening socket for the admin endpoint: non-blocking, SO_REUSEADDR but no SO_REUSEPORT,
// so that a second process (or a second tlsfront) cannot bind the same address. Throws
// ListenError (proxy/net/listener_socket.hpp) naming the address and the cause; unix-socket
// addresses are refused.
UniqueFd open_admin_socket(const SocketAddress& address);

class AdminServer {
public:
    // Called on the admin thread with the request path ("/metrics", no query). It is the router:
    // it answers unknown paths with 404 itself (see admin_not_found()). An exception it throws
    // becomes a 500. HEAD requests call it too; only the body is left out.
    using Handler = std::function<AdminResponse(std::string_view path)>;

    AdminServer(UniqueFd listening_socket, Handler handler,
                std::chrono::milliseconds connection_timeout = kAdminConnectionTimeout);
    ~AdminServer();  // stop()
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Launches the thread and returns once its ring is up. Throws std::runtime_error when the
    // ring or the wake-up eventfd cannot be made (the thread has then already ended). Once only.
    void start();
    // From any other thread: closes every connection, ends the thread and joins it. Idempotent.
    void stop();

    // True when the loop ended on its own because the ring failed; failure_reason() then says why.
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    std::string failure_reason() const;

    class Loop;  // the thread's state: private to admin_server.cpp

private:
    void run(std::promise<std::string> started);

    std::unique_ptr<Loop> loop_;
    std::thread thread_;
    std::atomic<bool> failed_{false};
    std::string failure_reason_;  // written before failed_ is set, read after
};

// The 404 a handler returns for paths it does not serve.
AdminResponse admin_not_found();

}  // namespace tlsfront
