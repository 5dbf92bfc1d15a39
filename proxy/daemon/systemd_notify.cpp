// sd_notify(3) calls behind SystemdNotifier; the text goes out as it is (sd_notify escapes nothing).
#include "proxy/daemon/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <ctime>

namespace tlsfront {

namespace {

// systemd 253+ matches RELOADING=1 to the reload it started by this timestamp; 252 ignores it.
unsigned long long monotonic_microseconds() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
           static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
}

}  // namespace

SystemdNotifier::SystemdNotifier() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    enabled_ = socket != nullptr && socket[0] != '\0';
}

bool SystemdNotifier::ready() const noexcept { return send("READY=1"); }

bool SystemdNotifier::stopping() const noexcept { return send("STOPPING=1"); }

bool SystemdNotifier::reloading() const noexcept {
    if (!enabled_) return false;
    try {
        const std::string state = "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_microseconds());
        return send(state.c_str());
    } catch (...) {  // std::bad_alloc building the text
        return false;
    }
}

bool SystemdNotifier::status(std::string_view text) const noexcept {
    if (!enabled_) return false;
    try {
        const std::string state = "STATUS=" + sanitized_status_text(text);
        return send(state.c_str());
    } catch (...) {
        return false;
    }
}

bool SystemdNotifier::send(const char* state) const noexcept {
    if (!enabled_) return false;
    // sd_notify returns > 0 when sent, 0 when NOTIFY_SOCKET has gone since, < 0 (-errno) on failure.
    return sd_notify(0, state) > 0;
}

std::string sanitized_status_text(std::string_view text) {
    std::string clean(text);
    for (char& c : clean) {
        if (c == '\n' || c == '\r' || c == '\0') c = ' ';
    }
    return clean;
}

}  // namespace tlsfront
