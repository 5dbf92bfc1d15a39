// SystemdNotifier: tells systemd (Type=notify / Type=notify-reload) where the daemon is in its life:
// ready to serve, reloading, stopping, and a one-line status for `systemctl status`.
#pragma once

#include <string>
#include <string_view>

namespace tlsfront {

class SystemdNotifier {
public:
    // Reads NOTIFY_SOCKET once. The variable stays set (sd_notify's unset_environment = 0) so that
    // every later reload can notify again.
    SystemdNotifier();

    // False when NOTIFY_SOCKET was not set: every method below is then a no-op returning false.
    bool enabled() const { return enabled_; }

    // Each returns true when the datagram was sent; none throws. A failed send changes nothing
    // for the daemon (systemd then times the unit out), so callers may ignore the result.
    bool ready() const noexcept;      // "READY=1"
    bool reloading() const noexcept;  // "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in µs>"
    bool stopping() const noexcept;   // "STOPPING=1"
    // "STATUS=<text>". Line breaks and NUL bytes in `text` become spaces: a newline would start a
    // new assignment in the datagram (a status text could otherwise claim "READY=1").
    bool status(std::string_view text) const noexcept;

private:
    bool send(const char* state) const noexcept;

    bool enabled_ = false;
};

// The text status() sends after "STATUS=" (exposed for the tests).
std::string sanitized_status_text(std::string_view text);

}  // namespace tlsfront
