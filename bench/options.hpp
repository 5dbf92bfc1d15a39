// The command line: which scenario (or the backend), against what, how much, for how long.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>

#include "config/socket_address.hpp"

namespace tlsfront::bench {

enum class Scenario : uint8_t { handshake, resume, download, upload, pingpong, idle, imap };
const char* to_string(Scenario scenario);

struct LoadOptions {
    Scenario scenario = Scenario::handshake;
    SocketAddress connect;
    unsigned connections = 50;
    unsigned threads = 0;        // 0 until parsed: then the online CPUs, at most `connections`
    double duration_s = 10;      // idle: how long the connections are held once all are open
    uint64_t requests = 0;       // units of work in total; 0 = no limit but the duration
    uint64_t bytes = 4 << 20;    // per transfer (download / upload)
    std::string sni;
    std::string alpn;
    uint16_t tls_version = 0;    // TLS1_2_VERSION or TLS1_3_VERSION; 0 = either
    std::string cafile;          // empty: the proxy's certificate is not verified
    pid_t pid = 0;               // idle: the proxy whose RSS is measured
    std::string user;            // imap
    std::string password;        // imap
    double rate = 0;             // --rate: arrivals per second over all threads; 0 = closed loop
    double timeout_s = 10;       // a connection without progress for this long fails
    std::string json_path;
    bool quiet = false;
};

// Whether the scenario's unit of work is a connection (handshake, resume, imap): with --rate, an
// arrival opens a connection; otherwise (pingpong) it sends a request on an open one.
inline bool unit_is_connection(Scenario s) {
    return s == Scenario::handshake || s == Scenario::resume || s == Scenario::imap;
}

struct BackendOptions {
    SocketAddress listen;
    unsigned threads = 1;
    double duration_s = 0;  // 0 = until SIGINT / SIGTERM
};

struct CommandLine {
    enum class Kind : uint8_t { load, backend, help, version } kind = Kind::help;
    LoadOptions load;
    BackendOptions backend;
};

// A command line that cannot be run (exit status 2).
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Parses and validates argv; throws UsageError with the cause.
CommandLine parse_command_line(int argc, char** argv);
void print_usage(std::ostream& out);

}  // namespace tlsfront::bench
