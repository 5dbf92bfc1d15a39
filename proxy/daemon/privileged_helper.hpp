// PrivilegedHelper: what a reload needs root for, after the proxy has dropped to [server] user.
// Before the drop, tlsfront forks this small helper, which stays root and does two things on
// request: open a file for reading and bind a listening socket, handing the descriptor back over a
// socket pair (SCM_RIGHTS). It serves only the config file itself, the files that config names and
// its listen addresses, as it reads the config again (as root) at the start of each reload: a
// compromised proxy cannot use it to read /etc/shadow or bind other ports. It exits when the proxy
// closes its end (the proxy exited) and dies with it (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "config/socket_address.hpp"
#include "proxy/net/unique_fd.hpp"

namespace tlsfront {

class PrivilegedHelper {
public:
    // Forks the helper. Call while still root, before any thread starts. Throws std::runtime_error.
    static std::unique_ptr<PrivilegedHelper> start(const std::string& config_path);
    ~PrivilegedHelper();
    PrivilegedHelper(const PrivilegedHelper&) = delete;
    PrivilegedHelper& operator=(const PrivilegedHelper&) = delete;

    // The helper re-reads the config to learn which files and addresses it may serve.
    void refresh();
    // A descriptor open for reading, or -errno (EPERM for a file the config does not name).
    int open_file(const std::string& path);
    // A listening socket as open_listener_socket makes it. Throws ListenError.
    UniqueFd open_listener(const SocketAddress& address);

    pid_t pid() const { return pid_; }

private:
    PrivilegedHelper(UniqueFd channel, pid_t pid) : channel_(std::move(channel)), pid_(pid) {}
    struct Answer {
        UniqueFd fd;
        int error = 0;
        std::string message;
    };
    Answer ask(char kind, const void* data, size_t length);

    UniqueFd channel_;
    pid_t pid_;
};

}  // namespace tlsfront
