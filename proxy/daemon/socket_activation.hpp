// Socket activation: taking the listening sockets systemd (or systemd-socket-activate) passed in
// (LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES), and deciding which listener each one serves.
//
// Matching rules (assign_inherited), applied to the inherited sockets in fd order:
//   1. Address: a socket whose bound address equals one of a listener's `listen` addresses serves
//      that address, and tlsfront does not bind it itself. Equality is SocketAddress::operator==:
//      same port and same host, an IPv4-mapped IPv6 address equal to the IPv4 one. A wildcard does
//      not equal a specific address ("0.0.0.0:993" does not serve "127.0.0.1:993").
//   2. Name: otherwise, a socket whose FileDescriptorName= equals a listener's `name` is added to
//      that listener as an extra address (tlsfront still binds all of the listener's own addresses).
//   3. Otherwise the socket is unused: a warning names it and the caller closes it.
//   A socket whose address equals that of an earlier inherited socket which was kept (by rule 1
//   or 2) is unused, with a warning. systemd's default name when FileDescriptorName= is unset is
//   the socket unit's name ("tlsfront.socket"), or "unknown" from tools that pass no names; such
//   a socket only matches by address, unless a listener has that very name.
// When listener names or addresses repeat (config checks reject that), the first one wins.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "config/socket_address.hpp"
#include "proxy/net/unique_fd.hpp"

namespace tlsfront {

struct InheritedSocket {
    UniqueFd fd;
    std::string name;       // FileDescriptorName=, or systemd's default (see above)
    SocketAddress address;  // getsockname()
};

// Takes the sockets passed by the service manager and unsets LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES, so that children do not see them. Empty when none were passed (or they were
// meant for another process: LISTEN_PID differs). Each socket returned is a listening TCP socket
// (IPv4 or IPv6) with O_NONBLOCK, FD_CLOEXEC and TCP_NODELAY set (accepted sockets inherit
// TCP_NODELAY; systemd's NoDelay= defaults to off).
// Any other passed fd (a unix or datagram socket, a socket not listening, a file) is an error:
// `error` then says which fd it is and what it is ("fd 4 (name 'pop3s') is an IPv4 datagram socket"),
// and the result is empty (every passed fd closed). So is a LISTEN_FDNAMES whose name count differs
// from LISTEN_FDS (the fds are then left open).
std::vector<InheritedSocket> take_inherited_sockets(std::string& error);

// What the matcher needs to know of an inherited socket.
struct InheritedSocketInfo {
    std::string name;
    SocketAddress address;
    int fd = -1;  // for the messages only
};

std::vector<InheritedSocketInfo> describe_inherited(const std::vector<InheritedSocket>& sockets);

// "socket 3 (name 'imaps', 127.0.0.1:993)"
std::string inherited_socket_label(const InheritedSocketInfo& socket);

// What the matcher needs to know of a listener (ListenerConfig's name and listen).
struct ListenerAddresses {
    std::string name;
    std::vector<SocketAddress> listen;
};

// Indexes below are into the `inherited` vector given to assign_inherited.
struct ListenerSocketAssignment {
    // One entry per `listen` address, same order: the inherited socket serving it (rule 1), or
    // nullopt when tlsfront binds the address itself.
    std::vector<std::optional<size_t>> covered;
    // Inherited sockets added to the listener by name (rule 2), in fd order.
    std::vector<size_t> extra;
};

struct SocketAssignment {
    std::vector<ListenerSocketAssignment> listeners;  // one per listener, same order
    std::vector<size_t> unused;                       // inherited sockets to close (rule 3, duplicates)
    std::vector<std::string> warnings;                // one line per unused socket
};

SocketAssignment assign_inherited(const std::vector<ListenerAddresses>& listeners,
                                  const std::vector<InheritedSocketInfo>& inherited);

}  // namespace tlsfront
