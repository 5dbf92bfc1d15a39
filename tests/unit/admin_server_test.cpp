// AdminServer for real over loopback: plain blocking client sockets against its own thread and
// ring, including slow, idle and oversized clients.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/daemon/admin_server.hpp"
#include "proxy/net/listener_socket.hpp"

using namespace tlsfront;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kTestTimeout{300};

// Built by hand: the config parser rightly refuses port 0, which the tests need (ephemeral port).
SocketAddress loopback(uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), sizeof address);
}

uint16_t port_of(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    return ntohs(address.sin_port);
}

// A server on 127.0.0.1:<ephemeral> answering /metrics and nothing else.
struct TestServer {
    explicit TestServer(std::chrono::milliseconds timeout = kTestTimeout) {
        UniqueFd socket = open_admin_socket(loopback(0));
        port = port_of(socket.get());
        server = std::make_unique<AdminServer>(
            std::move(socket),
            [this](std::string_view path) {
                ++requests;
                if (path != "/metrics") return admin_not_found();
                return AdminResponse{200, "text/plain; version=0.0.4", "up 1\n"};
            },
            timeout);
        server->start();
    }
    uint16_t port = 0;
    std::atomic<int> requests{0};
    std::unique_ptr<AdminServer> server;
};

UniqueFd connect_to(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    timeval receive_timeout{3, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof receive_timeout);
    SocketAddress address = loopback(port);
    REQUIRE(::connect(fd.get(), address.get(), address.length) == 0);
    return fd;
}

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        REQUIRE(n > 0);
        data.remove_prefix(static_cast<size_t>(n));
    }
}

// Everything until the server closes (or 3 s pass: then `closed` stays false).
std::string read_all(int fd, bool* closed = nullptr) {
    std::string received;
    char chunk[4096];
    for (;;) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            received.append(chunk, static_cast<size_t>(n));
            continue;
        }
        if (closed) *closed = n == 0 || errno == ECONNRESET;
        return received;
    }
}

std::string exchange(uint16_t port, std::string_view request) {
    UniqueFd fd = connect_to(port);
    send_all(fd.get(), request);
    return read_all(fd.get());
}

}  // namespace

TEST_CASE("admin server: GET gives the body, HEAD only the head, unknown paths 404") {
    TestServer test;
    std::string get = exchange(test.port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(get == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 5\r\n"
                 "Cache-Control: no-store\r\nConnection: close\r\n\r\nup 1\n");
    std::string head = exchange(test.port, "HEAD /metrics?from=test HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(head == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 5\r\n"
                  "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    CHECK(exchange(test.port, "GET /other HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 Not Found\r\n"));
    CHECK(exchange(test.port, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 405 "));
    CHECK(test.requests == 3);  // the handler never sees refused requests
}

TEST_CASE("admin server: a request sent one byte at a time is served") {
    TestServer test;
    UniqueFd fd = connect_to(test.port);
    std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (char c : request) send_all(fd.get(), std::string_view(&c, 1));
    CHECK(read_all(fd.get()).ends_with("\r\n\r\nup 1\n"));
}

TEST_CASE("admin server: an oversized head gets 431 and the handler is not called") {
    TestServer test;
    std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20000, 'p') + "\r\n\r\n";
    bool closed = false;
    UniqueFd fd = connect_to(test.port);
    send_all(fd.get(), request);
    std::string response = read_all(fd.get(), &closed);
    CHECK(response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    CHECK(closed);
    CHECK(test.requests == 0);
}

TEST_CASE("admin server: a client that sends nothing is closed after the timeout") {
    TestServer test;
    UniqueFd fd = connect_to(test.port);
    auto start = Clock::now();
    bool closed = false;
    CHECK(read_all(fd.get(), &closed).empty());
    auto waited = Clock::now() - start;
    CHECK(closed);
    CHECK(waited >= std::chrono::milliseconds(250));
    CHECK(waited < std::chrono::milliseconds(1500));
}

TEST_CASE("admin server: a client that never reads a large response is closed at the deadline") {
    UniqueFd socket = open_admin_socket(loopback(0));
    uint16_t port = port_of(socket.get());
    std::string big(8 << 20, 'm');  // far more than the socket buffers hold
    AdminServer server(std::move(socket), [&](std::string_view) { return AdminResponse{200, "text/plain", big}; },
                       kTestTimeout);
    server.start();
    UniqueFd fd = connect_to(port);
    int small = 4096;
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_all(fd.get(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(800));  // not reading: the send stalls
    // Reset rather than left to trickle out of an orphaned socket: the end comes at once.
    auto start = Clock::now();
    bool closed = false;
    std::string received = read_all(fd.get(), &closed);
    CHECK(closed);
    CHECK(received.size() < big.size());
    CHECK(Clock::now() - start < std::chrono::milliseconds(1000));
}

TEST_CASE("admin server: 40 idle connections hold at most 32 slots and do not block a 41st for long") {
    TestServer test;
    std::vector<UniqueFd> idle;
    for (int i = 0; i < 40; ++i) idle.push_back(connect_to(test.port));
    auto start = Clock::now();
    UniqueFd fd = connect_to(test.port);
    send_all(fd.get(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string response = read_all(fd.get());
    auto waited = Clock::now() - start;
    CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
    // Served only once idle connections timed out (the limit holds), but well within a scrape.
    CHECK(waited >= std::chrono::milliseconds(150));
    CHECK(waited < std::chrono::milliseconds(2000));
    for (auto& connection : idle) {
        bool closed = false;
        CHECK(read_all(connection.get(), &closed).empty());
        CHECK(closed);
    }
}

TEST_CASE("admin server: stop() closes open connections promptly and is idempotent") {
    auto test = std::make_unique<TestServer>(std::chrono::milliseconds(10000));
    UniqueFd fd = connect_to(test->port);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // accepted and waiting for the head
    auto start = Clock::now();
    test->server->stop();
    test->server->stop();
    CHECK(Clock::now() - start < std::chrono::milliseconds(1000));
    bool closed = false;
    read_all(fd.get(), &closed);
    CHECK(closed);
    CHECK_FALSE(test->server->failed());
    test.reset();  // the destructor after stop() is fine
}

TEST_CASE("open_admin_socket refuses a second listener on the same address") {
    UniqueFd first = open_admin_socket(loopback(0));
    uint16_t port = port_of(first.get());
    CHECK_THROWS_AS(open_admin_socket(loopback(port)), ListenError);
    CHECK_THROWS_AS(open_listener_socket(loopback(port)), ListenError);  // SO_REUSEPORT does not get in
    AddressParseResult unix_address = parse_socket_address("unix:/tmp/tlsfront-admin-test", true, false);
    REQUIRE(unix_address.address);
    CHECK_THROWS_AS(open_admin_socket(*unix_address.address), ListenError);
}
