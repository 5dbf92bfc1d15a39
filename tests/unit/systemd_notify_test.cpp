// SystemdNotifier against a real notify socket: a unix datagram socket in a temporary directory
// that NOTIFY_SOCKET points at, as systemd would set it up.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>

#include "proxy/daemon/systemd_notify.hpp"
#include "proxy/net/unique_fd.hpp"

using tlsfront::SystemdNotifier;
using tlsfront::UniqueFd;

namespace {

// Sets (or unsets, with nullopt) an environment variable and puts the old value back.
class ScopedEnv {
public:
    ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) setenv(name, value->c_str(), 1);
        else unsetenv(name);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() {
        if (old_) setenv(name_, old_->c_str(), 1);
        else unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

// The receiving end of NOTIFY_SOCKET, removed with its directory at the end.
class NotifySocket {
public:
    NotifySocket() {
        char dir_template[] = "/tmp/tlsfront-notify-XXXXXX";
        REQUIRE(mkdtemp(dir_template) != nullptr);
        dir_ = dir_template;
        path_ = dir_ + "/notify";
        fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        REQUIRE(fd_);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(path_.size() < sizeof address.sun_path);
        std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
        REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;
    ~NotifySocket() {
        fd_.reset();
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }

    const std::string& path() const { return path_; }

    // The next datagram, or nullopt when none is waiting (sd_notify's send is synchronous).
    std::optional<std::string> next() {
        char buffer[4096];
        ssize_t size = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
        if (size < 0) return std::nullopt;
        return std::string(buffer, static_cast<size_t>(size));
    }

private:
    std::string dir_;
    std::string path_;
    UniqueFd fd_;
};

bool all_digits(const std::string& text) {
    return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

TEST_CASE("notifier sends READY, STATUS, RELOADING with MONOTONIC_USEC and STOPPING to NOTIFY_SOCKET") {
    NotifySocket notify;
    ScopedEnv env("NOTIFY_SOCKET", notify.path());
    SystemdNotifier notifier;
    CHECK(notifier.enabled());

    CHECK(notifier.ready());
    CHECK(notify.next() == "READY=1");

    CHECK(notifier.status("3 connections"));
    CHECK(notify.next() == "STATUS=3 connections");

    timespec before{};
    clock_gettime(CLOCK_MONOTONIC, &before);
    CHECK(notifier.reloading());
    auto reload = notify.next();
    REQUIRE(reload.has_value());
    const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
    REQUIRE(reload->starts_with(prefix));
    std::string usec = reload->substr(prefix.size());
    REQUIRE(all_digits(usec));
    CHECK(std::stoull(usec) >= static_cast<unsigned long long>(before.tv_sec) * 1000000ULL);

    CHECK(notifier.stopping());
    CHECK(notify.next() == "STOPPING=1");

    // NOTIFY_SOCKET stays set: a later reload can notify again.
    CHECK(std::getenv("NOTIFY_SOCKET") == notify.path());
    CHECK(notifier.ready());
    CHECK(notify.next() == "READY=1");
    CHECK_FALSE(notify.next().has_value());
}

TEST_CASE("notifier status: line breaks and NUL bytes become spaces, no extra assignment gets in") {
    NotifySocket notify;
    ScopedEnv env("NOTIFY_SOCKET", notify.path());
    SystemdNotifier notifier;
    using namespace std::string_literals;
    CHECK(notifier.status("up\nREADY=1\r\nx\0y"s));
    CHECK(notify.next() == "STATUS=up READY=1  x y");
    CHECK(notifier.status(""));
    CHECK(notify.next() == "STATUS=");
}

TEST_CASE("notifier without NOTIFY_SOCKET sends nothing") {
    NotifySocket notify;
    std::optional<SystemdNotifier> notifier;
    {
        ScopedEnv env("NOTIFY_SOCKET", std::nullopt);
        notifier.emplace();
    }
    CHECK_FALSE(notifier->enabled());
    // Even with the variable set afterwards: the notifier decided at construction.
    ScopedEnv env("NOTIFY_SOCKET", notify.path());
    CHECK_FALSE(notifier->ready());
    CHECK_FALSE(notifier->reloading());
    CHECK_FALSE(notifier->status("3 connections"));
    CHECK_FALSE(notifier->stopping());
    CHECK_FALSE(notify.next().has_value());
}

TEST_CASE("notifier with an empty NOTIFY_SOCKET is disabled") {
    ScopedEnv env("NOTIFY_SOCKET", std::string());
    SystemdNotifier notifier;
    CHECK_FALSE(notifier.enabled());
    CHECK_FALSE(notifier.ready());
}

TEST_CASE("notifier whose socket is gone reports the failure without throwing") {
    std::string path;
    std::optional<ScopedEnv> env;
    {
        NotifySocket notify;
        path = notify.path();
    }
    env.emplace("NOTIFY_SOCKET", path);
    SystemdNotifier notifier;
    CHECK(notifier.enabled());
    CHECK_FALSE(notifier.ready());
}
