// Socket activation: the matcher's rules (pure), and take_inherited_sockets on real sockets put on
// fds 3 and 4 with LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, as systemd passes them.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "config/socket_address.hpp"
#include "proxy/daemon/socket_activation.hpp"
#include "proxy/net/unique_fd.hpp"

using tlsfront::assign_inherited;
using tlsfront::InheritedSocketInfo;
using tlsfront::ListenerAddresses;
using tlsfront::SocketAddress;
using tlsfront::SocketAssignment;
using tlsfront::UniqueFd;

namespace {

SocketAddress address(std::string_view text) {
    auto result = tlsfront::parse_socket_address(text, false, true);
    INFO("error: ", result.error);
    REQUIRE(result.address.has_value());
    return *result.address;
}

InheritedSocketInfo inherited(int fd, std::string name, std::string_view bound) {
    return {std::move(name), address(bound), fd};
}

const std::vector<ListenerAddresses>& mail_listeners() {
    static const std::vector<ListenerAddresses> listeners = {
        {"imaps", {address("127.0.0.1:993"), address("[::1]:993")}},
        {"pop3s", {address("0.0.0.0:995")}},
    };
    return listeners;
}

}  // namespace

TEST_CASE("matcher: an inherited socket bound to a listen address serves it (IPv4 and IPv6)") {
    SocketAssignment result = assign_inherited(
        mail_listeners(), {inherited(3, "tlsfront.socket", "[::1]:993"), inherited(4, "unknown", "0.0.0.0:995")});
    REQUIRE(result.listeners.size() == 2);
    REQUIRE(result.listeners[0].covered.size() == 2);
    CHECK_FALSE(result.listeners[0].covered[0].has_value());  // 127.0.0.1:993: tlsfront binds it
    CHECK(result.listeners[0].covered[1] == 0u);
    CHECK(result.listeners[1].covered == std::vector<std::optional<size_t>>{1u});
    CHECK(result.listeners[0].extra.empty());
    CHECK(result.listeners[1].extra.empty());
    CHECK(result.unused.empty());
    CHECK(result.warnings.empty());
}

TEST_CASE("matcher: an IPv4-mapped IPv6 address serves the IPv4 listen address; a wildcard does not") {
    SocketAssignment result = assign_inherited(
        mail_listeners(), {inherited(3, "unknown", "[::ffff:127.0.0.1]:993"), inherited(4, "unknown", "[::]:995")});
    CHECK(result.listeners[0].covered[0] == 0u);
    CHECK_FALSE(result.listeners[1].covered[0].has_value());
    CHECK(result.unused == std::vector<size_t>{1});
    REQUIRE(result.warnings.size() == 1);
    CHECK(result.warnings[0] == "socket 4 (name 'unknown', [::]:995) matches no listener: closed");
}

TEST_CASE("matcher: address beats name; name adds an extra address; other ports do not match by address") {
    SocketAssignment result = assign_inherited(mail_listeners(), {
                                                                     inherited(3, "pop3s", "127.0.0.1:993"),
                                                                     inherited(4, "imaps", "127.0.0.1:1993"),
                                                                     inherited(5, "imaps", "[::]:1993"),
                                                                 });
    CHECK(result.listeners[0].covered[0] == 0u);  // by address, although named "pop3s"
    CHECK(result.listeners[0].extra == std::vector<size_t>{1, 2});
    CHECK(result.listeners[1].extra.empty());
    CHECK(result.unused.empty());
    CHECK(result.warnings.empty());
}

TEST_CASE("matcher: a socket matching neither address nor name is unused with a warning") {
    SocketAssignment result =
        assign_inherited(mail_listeners(), {inherited(3, "foo", "0.0.0.0:1993"), inherited(4, "imaps", "[::1]:993")});
    CHECK(result.unused == std::vector<size_t>{0});
    REQUIRE(result.warnings.size() == 1);
    CHECK(result.warnings[0] == "socket 3 (name 'foo', 0.0.0.0:1993) matches no listener: closed");
    CHECK(result.listeners[0].covered[1] == 1u);
}

TEST_CASE("matcher: the second socket for one address is unused with a warning") {
    SocketAssignment result = assign_inherited(mail_listeners(), {
                                                                     inherited(3, "unknown", "127.0.0.1:993"),
                                                                     inherited(4, "unknown", "[::ffff:127.0.0.1]:993"),
                                                                     inherited(5, "pop3s", "10.0.0.1:2995"),
                                                                     inherited(6, "pop3s", "10.0.0.1:2995"),
                                                                 });
    CHECK(result.listeners[0].covered[0] == 0u);
    CHECK(result.listeners[1].extra == std::vector<size_t>{2});
    CHECK(result.unused == std::vector<size_t>{1, 3});
    REQUIRE(result.warnings.size() == 2);
    CHECK(result.warnings[0] ==
          "socket 4 (name 'unknown', [::ffff:127.0.0.1]:993) has the same address as socket 3 (name 'unknown', "
          "127.0.0.1:993): closed");
    CHECK(result.warnings[1] ==
          "socket 6 (name 'pop3s', 10.0.0.1:2995) has the same address as socket 5 (name 'pop3s', 10.0.0.1:2995): "
          "closed");
}

TEST_CASE("matcher: no inherited sockets leaves every address to tlsfront") {
    SocketAssignment result = assign_inherited(mail_listeners(), {});
    REQUIRE(result.listeners.size() == 2);
    CHECK(result.listeners[0].covered == std::vector<std::optional<size_t>>(2));
    CHECK(result.listeners[1].covered == std::vector<std::optional<size_t>>(1));
    CHECK(result.unused.empty());
    CHECK(assign_inherited({}, {inherited(3, "imaps", "127.0.0.1:993")}).unused == std::vector<size_t>{0});
}

// ---- take_inherited_sockets on real fds ----

namespace {

// Keeps whatever is open on `slot` (3, 4: doctest normally has nothing there) out of the way and
// puts it back at the end; closes what the test left on the slot when nothing was there.
class FdSlot {
public:
    explicit FdSlot(int slot) : slot_(slot) {
        if (fcntl(slot, F_GETFD) >= 0) {
            saved_ = UniqueFd(fcntl(slot, F_DUPFD_CLOEXEC, 100));
            REQUIRE(saved_);
            ::close(slot);
        }
    }
    FdSlot(const FdSlot&) = delete;
    FdSlot& operator=(const FdSlot&) = delete;
    ~FdSlot() {
        if (saved_) ::dup2(saved_.get(), slot_);
        else ::close(slot_);
    }

    // Puts `fd` (a copy of it, without FD_CLOEXEC) on the slot.
    void hold(const UniqueFd& fd) const { REQUIRE(::dup2(fd.get(), slot_) == slot_); }

private:
    int slot_;
    UniqueFd saved_;
};

void set_listen_env(int count, const char* names) {
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
    setenv("LISTEN_FDS", std::to_string(count).c_str(), 1);
    if (names != nullptr) setenv("LISTEN_FDNAMES", names, 1);
    else unsetenv("LISTEN_FDNAMES");
}

bool listen_env_gone() {
    return std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
           std::getenv("LISTEN_FDNAMES") == nullptr;
}

// Far from 3 and 4, so that the FdSlots can use those.
UniqueFd high_fd(int fd) {
    UniqueFd high(fcntl(fd, F_DUPFD_CLOEXEC, 50));
    ::close(fd);
    REQUIRE(high);
    return high;
}

UniqueFd socket_on_localhost(int type, bool listening) {
    UniqueFd fd = high_fd(::socket(AF_INET, type, 0));
    SocketAddress any_port = address("127.0.0.1:1");
    reinterpret_cast<sockaddr_in&>(any_port.storage).sin_port = 0;
    REQUIRE(::bind(fd.get(), any_port.get(), any_port.length) == 0);
    if (listening) REQUIRE(::listen(fd.get(), 8) == 0);
    return fd;
}

SocketAddress bound_address(const UniqueFd& fd) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    REQUIRE(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) == 0);
    return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), length);
}

bool is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

}  // namespace

TEST_CASE("take_inherited_sockets: two named TCP listeners on fds 3 and 4") {
    UniqueFd imaps = socket_on_localhost(SOCK_STREAM, true);
    UniqueFd pop3s = socket_on_localhost(SOCK_STREAM, true);
    FdSlot slot3(3), slot4(4);
    slot3.hold(imaps);
    slot4.hold(pop3s);
    set_listen_env(2, "imaps:pop3s");

    std::string error = "stale";
    auto sockets = tlsfront::take_inherited_sockets(error);
    CHECK(error.empty());
    CHECK(listen_env_gone());
    REQUIRE(sockets.size() == 2);
    CHECK(sockets[0].fd.get() == 3);
    CHECK(sockets[0].name == "imaps");
    CHECK(sockets[0].address == bound_address(imaps));
    CHECK(sockets[0].address.to_string() == bound_address(imaps).to_string());
    CHECK(sockets[1].fd.get() == 4);
    CHECK(sockets[1].name == "pop3s");
    CHECK(sockets[1].address == bound_address(pop3s));
    for (const auto& socket : sockets) {
        CHECK((fcntl(socket.fd.get(), F_GETFL) & O_NONBLOCK) != 0);
        CHECK((fcntl(socket.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    }
    auto infos = tlsfront::describe_inherited(sockets);
    REQUIRE(infos.size() == 2);
    const std::string pop3s_text = bound_address(pop3s).to_string();
    CHECK(tlsfront::inherited_socket_label(infos[1]) == "socket 4 (name 'pop3s', " + pop3s_text + ")");
    sockets.clear();
    CHECK_FALSE(is_open(3));
    CHECK_FALSE(is_open(4));
}

TEST_CASE("take_inherited_sockets: without LISTEN_FDNAMES the names are 'unknown'") {
    UniqueFd listener = socket_on_localhost(SOCK_STREAM, true);
    FdSlot slot3(3);
    slot3.hold(listener);
    set_listen_env(1, nullptr);
    std::string error;
    auto sockets = tlsfront::take_inherited_sockets(error);
    CHECK(error.empty());
    REQUIRE(sockets.size() == 1);
    CHECK(sockets[0].name == "unknown");
    CHECK(listen_env_gone());
}

TEST_CASE("take_inherited_sockets: a datagram socket or a non-listening socket is an error and all are closed") {
    UniqueFd listener = socket_on_localhost(SOCK_STREAM, true);
    UniqueFd datagram = socket_on_localhost(SOCK_DGRAM, false);
    UniqueFd idle = socket_on_localhost(SOCK_STREAM, false);
    FdSlot slot3(3), slot4(4), slot5(5);
    slot3.hold(listener);
    slot4.hold(datagram);
    slot5.hold(idle);
    set_listen_env(3, "imaps:pop3s:smtps");
    std::string error;
    auto sockets = tlsfront::take_inherited_sockets(error);
    CHECK(sockets.empty());
    CHECK(error ==
          "socket activation: only listening TCP sockets can be passed: fd 4 (name 'pop3s') is an IPv4 datagram "
          "socket; fd 5 (name 'smtps') is an IPv4 stream socket that is not listening");
    CHECK_FALSE(is_open(3));
    CHECK_FALSE(is_open(4));
    CHECK(listen_env_gone());
}

TEST_CASE("take_inherited_sockets: a pipe or a unix socket is named as such") {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    UniqueFd read_end = high_fd(pipe_fds[0]);
    UniqueFd write_end = high_fd(pipe_fds[1]);
    UniqueFd unix_socket = high_fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    FdSlot slot3(3), slot4(4);
    slot3.hold(read_end);
    slot4.hold(unix_socket);
    set_listen_env(2, nullptr);
    std::string error;
    CHECK(tlsfront::take_inherited_sockets(error).empty());
    CHECK(error.find("fd 3 (name 'unknown') is a pipe; fd 4 (name 'unknown') is a unix socket") != std::string::npos);
}

TEST_CASE("take_inherited_sockets: nothing passed, or passed to another process, takes nothing") {
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    std::string error = "stale";
    CHECK(tlsfront::take_inherited_sockets(error).empty());
    CHECK(error.empty());

    UniqueFd listener = socket_on_localhost(SOCK_STREAM, true);
    FdSlot slot3(3);
    slot3.hold(listener);
    setenv("LISTEN_PID", std::to_string(getpid() + 1).c_str(), 1);
    setenv("LISTEN_FDS", "1", 1);
    CHECK(tlsfront::take_inherited_sockets(error).empty());
    CHECK(error.empty());
    CHECK(listen_env_gone());
    CHECK(is_open(3));  // not ours: left alone
}

TEST_CASE("take_inherited_sockets: a name count that differs from LISTEN_FDS is an error") {
    UniqueFd listener = socket_on_localhost(SOCK_STREAM, true);
    FdSlot slot3(3);
    slot3.hold(listener);
    set_listen_env(1, "imaps:pop3s");
    std::string error;
    CHECK(tlsfront::take_inherited_sockets(error).empty());
    CHECK(error ==
          "socket activation: LISTEN_FDS=1 with LISTEN_FDNAMES='imaps:pop3s' unusable: Invalid argument (one name "
          "per socket, or none)");
    CHECK(listen_env_gone());
}
