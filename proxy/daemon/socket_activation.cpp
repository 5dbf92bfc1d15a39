// sd_listen_fds_with_names() and the checks on what it hands over; the pure address/name matcher.
#include "proxy/daemon/socket_activation.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tlsfront {

namespace {

// The names array of sd_listen_fds_with_names: each string and the array are malloc'ed.
class ListenFdNames {
public:
    ListenFdNames() = default;
    ListenFdNames(const ListenFdNames&) = delete;
    ListenFdNames& operator=(const ListenFdNames&) = delete;
    ~ListenFdNames() {
        if (names_ == nullptr) return;
        for (char** name = names_; *name != nullptr; ++name) std::free(*name);
        std::free(names_);
    }
    char*** out() { return &names_; }
    // names_ has exactly as many entries as sd_listen_fds_with_names returned fds.
    std::string at(int index) const {
        return names_ != nullptr && names_[index] != nullptr ? names_[index] : "unknown";
    }

private:
    char** names_ = nullptr;
};

int socket_option(int fd, int option) {
    int value = 0;
    socklen_t size = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, option, &value, &size) < 0) return -1;
    return value;
}

const char* family_name(int family) {
    switch (family) {
        case AF_INET: return "an IPv4";
        case AF_INET6: return "an IPv6";
        case AF_UNIX: return "a unix";
        case AF_NETLINK: return "a netlink";
        default: return "a non-IP";
    }
}

const char* type_name(int type) {
    switch (type) {
        case SOCK_STREAM: return "stream";
        case SOCK_DGRAM: return "datagram";
        case SOCK_SEQPACKET: return "seqpacket";
        case SOCK_RAW: return "raw";
        default: return "other";
    }
}

const char* file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a pipe";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a socket";
}

// Empty when `fd` is a listening TCP socket; else what it is ("an IPv4 datagram socket").
std::string unusable_because(int fd) {
    struct stat status {};
    if (fstat(fd, &status) < 0) return std::string("not open: ") + std::strerror(errno);
    if (!S_ISSOCK(status.st_mode)) return file_kind(status.st_mode);
    int family = socket_option(fd, SO_DOMAIN);
    int type = socket_option(fd, SO_TYPE);
    if (family != AF_INET && family != AF_INET6) return std::string(family_name(family)) + " socket";
    if (type != SOCK_STREAM) return std::string(family_name(family)) + " " + type_name(type) + " socket";
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
        return std::string(family_name(family)) + " stream socket that is not listening";
    return {};
}

// Empty on success, else the step that failed with its cause.
std::string prepare(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return std::string("O_NONBLOCK: ") + std::strerror(errno);
    int fd_flags = fcntl(fd, F_GETFD);
    if (fd_flags < 0 || fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) < 0)
        return std::string("FD_CLOEXEC: ") + std::strerror(errno);
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return std::string("TCP_NODELAY: ") + std::strerror(errno);
    return {};
}

std::string fd_label(int fd, const std::string& name) {
    return "fd " + std::to_string(fd) + " (name '" + name + "')";
}

std::string environment_value(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

void append_error(std::string& error, const std::string& line) {
    if (!error.empty()) error += "; ";
    error += line;
}

}  // namespace

std::vector<InheritedSocket> take_inherited_sockets(std::string& error) {
    error.clear();
    // Copied before the call unsets them: they go into the error text.
    const std::string fds_text = environment_value("LISTEN_FDS");
    const std::string names_text = environment_value("LISTEN_FDNAMES");
    ListenFdNames names;
    int count = sd_listen_fds_with_names(1, names.out());
    if (count < 0) {
        // -EINVAL mostly means a name count that differs from LISTEN_FDS (systemd-socket-activate
        // 252 passes fewer names than sockets when given fewer --fdname). The fds stay open: the
        // daemon refuses to start anyway.
        error = "socket activation: LISTEN_FDS=" + fds_text + " with LISTEN_FDNAMES='" + names_text +
                "' unusable: " + std::strerror(-count) + " (one name per socket, or none)";
        return {};
    }
    std::vector<InheritedSocket> sockets;
    sockets.reserve(static_cast<size_t>(count));
    for (int index = 0; index < count; ++index) {
        // Owned from here on: on any error every passed fd is closed when `sockets` goes.
        InheritedSocket socket{UniqueFd(SD_LISTEN_FDS_START + index), names.at(index), {}};
        int fd = socket.fd.get();
        std::string cause = unusable_because(fd);
        if (cause.empty()) cause = prepare(fd);
        if (cause.empty()) {
            sockaddr_storage bound{};
            socklen_t length = sizeof bound;
            if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) < 0)
                cause = std::string("getsockname: ") + std::strerror(errno);
            else
                socket.address = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), length);
        }
        if (!cause.empty()) append_error(error, fd_label(fd, socket.name) + " is " + cause);
        sockets.push_back(std::move(socket));
    }
    if (!error.empty()) {
        error = "socket activation: only listening TCP sockets can be passed: " + error;
        sockets.clear();
    }
    return sockets;
}

std::vector<InheritedSocketInfo> describe_inherited(const std::vector<InheritedSocket>& sockets) {
    std::vector<InheritedSocketInfo> infos;
    infos.reserve(sockets.size());
    for (const InheritedSocket& socket : sockets) infos.push_back({socket.name, socket.address, socket.fd.get()});
    return infos;
}

std::string inherited_socket_label(const InheritedSocketInfo& socket) {
    return "socket " + std::to_string(socket.fd) + " (name '" + socket.name + "', " + socket.address.to_string() + ")";
}

SocketAssignment assign_inherited(const std::vector<ListenerAddresses>& listeners,
                                  const std::vector<InheritedSocketInfo>& inherited) {
    SocketAssignment result;
    result.listeners.resize(listeners.size());
    for (size_t l = 0; l < listeners.size(); ++l) result.listeners[l].covered.resize(listeners[l].listen.size());
    std::vector<size_t> kept;  // inherited sockets serving something, for the duplicate rule

    auto find_kept_duplicate = [&](const SocketAddress& address) -> std::optional<size_t> {
        for (size_t k : kept) {
            if (inherited[k].address == address) return k;
        }
        return std::nullopt;
    };
    auto cover_by_address = [&](size_t index) {
        for (size_t l = 0; l < listeners.size(); ++l) {
            for (size_t a = 0; a < listeners[l].listen.size(); ++a) {
                if (!(listeners[l].listen[a] == inherited[index].address)) continue;
                result.listeners[l].covered[a] = index;
                return true;
            }
        }
        return false;
    };
    auto add_by_name = [&](size_t index) {
        for (size_t l = 0; l < listeners.size(); ++l) {
            if (listeners[l].name != inherited[index].name) continue;
            result.listeners[l].extra.push_back(index);
            return true;
        }
        return false;
    };

    for (size_t index = 0; index < inherited.size(); ++index) {
        const std::string label = inherited_socket_label(inherited[index]);
        if (auto earlier = find_kept_duplicate(inherited[index].address)) {
            result.unused.push_back(index);
            const std::string earlier_label = inherited_socket_label(inherited[*earlier]);
            result.warnings.push_back(label + " has the same address as " + earlier_label + ": closed");
            continue;
        }
        if (cover_by_address(index) || add_by_name(index)) {
            kept.push_back(index);
            continue;
        }
        result.unused.push_back(index);
        result.warnings.push_back(label + " matches no listener: closed");
    }
    return result;
}

}  // namespace tlsfront
