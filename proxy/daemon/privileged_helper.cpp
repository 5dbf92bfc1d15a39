// The helper process (serve) and the proxy's side of the conversation (ask). One request, one
// answer, over a SOCK_SEQPACKET pair: a kind byte and its argument; an errno, a message and
// possibly one descriptor back.
#include "proxy/daemon/privileged_helper.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "config/config_loader.hpp"
#include "proxy/net/listener_socket.hpp"

namespace tlsfront {
namespace {

constexpr char kRefresh = 'R';
constexpr char kOpenFile = 'O';
constexpr char kOpenListener = 'B';
constexpr size_t kMaxRequest = 4096;
constexpr int kChannelFd = 3;  // in the helper, after every other descriptor is closed

struct AnswerHeader {
    int32_t error;
    char message[256];
};

void send_answer(int channel, int error, const std::string& message, int fd) {
    AnswerHeader header{};
    header.error = error;
    std::strncpy(header.message, message.c_str(), sizeof header.message - 1);
    iovec iov{&header, sizeof header};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    }
    while (sendmsg(channel, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
    if (fd >= 0) ::close(fd);
}

// What the config on disk allows the helper to serve, learned as root.
struct Allowed {
    std::vector<std::string> files;
    std::vector<SocketAddress> addresses;

    void learn(const std::string& config_path) {
        files = {config_path};
        addresses.clear();
        try {
            Config config = load_config_file(config_path);
            for (auto& file : named_files(config)) files.push_back(std::move(file));
            for (const auto& listener : config.listeners)
                addresses.insert(addresses.end(), listener.listen.begin(), listener.listen.end());
        } catch (const std::exception&) {
            // The proxy's own load reports the error; only the config file itself stays allowed.
        }
    }
};

void answer_open_file(int channel, const Allowed& allowed, const std::string& path) {
    if (std::find(allowed.files.begin(), allowed.files.end(), path) == allowed.files.end())
        return send_answer(channel, EPERM, "not named by the config", -1);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    send_answer(channel, fd < 0 ? errno : 0, "", fd);
}

void answer_open_listener(int channel, const Allowed& allowed, const uint8_t* data, size_t length) {
    SocketAddress address;
    if (length > sizeof address.storage) return send_answer(channel, EINVAL, "bad address", -1);
    std::memcpy(&address.storage, data, length);
    address.length = static_cast<socklen_t>(length);
    if (std::find(allowed.addresses.begin(), allowed.addresses.end(), address) == allowed.addresses.end())
        return send_answer(channel, EPERM, "cannot listen on " + address.to_string() + ": not in the config", -1);
    try {
        send_answer(channel, 0, "", open_listener_socket(address).release());
    } catch (const ListenError& e) {
        send_answer(channel, EADDRNOTAVAIL, e.what(), -1);
    }
}

[[noreturn]] void serve(const std::string& config_path) {
    Allowed allowed;
    allowed.learn(config_path);
    uint8_t request[1 + kMaxRequest];
    while (true) {
        ssize_t n = recv(kChannelFd, request, sizeof request, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0);  // the proxy is gone
        const uint8_t* data = request + 1;
        size_t length = static_cast<size_t>(n) - 1;
        switch (request[0]) {
        case kRefresh:
            allowed.learn(config_path);
            send_answer(kChannelFd, 0, "", -1);
            break;
        case kOpenFile: answer_open_file(kChannelFd, allowed, std::string(reinterpret_cast<const char*>(data), length)); break;
        case kOpenListener: answer_open_listener(kChannelFd, allowed, data, length); break;
        default: send_answer(kChannelFd, EINVAL, "unknown request", -1);
        }
    }
}

// In the child: only the channel stays open; the proxy's signals are not the helper's business
// (it ends with the proxy: end of file on the channel, or the parent-death signal).
void become_helper(int channel) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(channel, kChannelFd) < 0) _exit(1);
    close_range(kChannelFd + 1, ~0U, 0);
    prctl(PR_SET_NAME, "tlsfront-priv");
}

}  // namespace

std::unique_ptr<PrivilegedHelper> PrivilegedHelper::start(const std::string& config_path) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        throw std::runtime_error(std::string("privileged helper: socketpair: ") + std::strerror(errno));
    UniqueFd ours(pair[0]), theirs(pair[1]);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("privileged helper: fork: ") + std::strerror(errno));
    if (pid == 0) {
        become_helper(theirs.get());
        serve(config_path);
    }
    return std::unique_ptr<PrivilegedHelper>(new PrivilegedHelper(std::move(ours), pid));
}

PrivilegedHelper::~PrivilegedHelper() {
    channel_.reset();  // the helper sees end of file and exits
    waitpid(pid_, nullptr, 0);
}

PrivilegedHelper::Answer PrivilegedHelper::ask(char kind, const void* data, size_t length) {
    Answer answer;
    uint8_t request[1 + kMaxRequest];
    if (length > kMaxRequest) return {UniqueFd(), ENAMETOOLONG, "request too long"};
    request[0] = static_cast<uint8_t>(kind);
    if (length) std::memcpy(request + 1, data, length);
    if (send(channel_.get(), request, 1 + length, MSG_NOSIGNAL) < 0)
        return {UniqueFd(), errno, std::string("privileged helper gone: ") + std::strerror(errno)};
    AnswerHeader header{};
    iovec iov{&header, sizeof header};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = recvmsg(channel_.get(), &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof header)) return {UniqueFd(), EPIPE, "privileged helper gone"};
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
        answer.fd.reset(fd);
    }
    answer.error = header.error;
    header.message[sizeof header.message - 1] = '\0';
    answer.message = header.message;
    return answer;
}

void PrivilegedHelper::refresh() { ask(kRefresh, nullptr, 0); }

int PrivilegedHelper::open_file(const std::string& path) {
    Answer answer = ask(kOpenFile, path.data(), path.size());
    if (answer.error) return -answer.error;
    return answer.fd ? answer.fd.release() : -EIO;
}

UniqueFd PrivilegedHelper::open_listener(const SocketAddress& address) {
    Answer answer = ask(kOpenListener, &address.storage, address.length);
    if (answer.error || !answer.fd)
        throw ListenError(answer.message.empty() ? "cannot listen on " + address.to_string() + ": " + std::strerror(answer.error)
                                                 : answer.message);
    return std::move(answer.fd);
}

}  // namespace tlsfront
