// Command-line parsing and validation (std::from_chars: no locale, no silent partial numbers).
#include "bench/options.hpp"

#include <openssl/ssl.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <ostream>
#include <string_view>
#include <vector>

namespace tlsfront::bench {

const char* to_string(Scenario scenario) {
    switch (scenario) {
    case Scenario::handshake: return "handshake";
    case Scenario::resume: return "resume";
    case Scenario::download: return "download";
    case Scenario::upload: return "upload";
    case Scenario::pingpong: return "pingpong";
    case Scenario::idle: return "idle";
    case Scenario::imap: return "imap";
    }
    return "unknown";
}

void print_usage(std::ostream& out) {
    out << R"(usage: tlsfront-bench SCENARIO --connect HOST:PORT [options]
       tlsfront-bench backend --listen HOST:PORT [--threads T] [--duration SECONDS]
       tlsfront-bench --help | --version

Load generator for TLS proxies: io_uring and BoringSSL clients, one thread per core, many
connections per thread. Clients always speak TLS to the proxy at --connect; for the synthetic
scenarios the proxy forwards plaintext to `tlsfront-bench backend`.

Scenarios:
  handshake  full handshakes (no resumption), each with one PING/PONG and close_notify: handshakes/s
  resume     like handshake, each connection offering the session of its slot's previous one:
             handshakes/s and the resumed share
  download   each connection receives --bytes from the backend: MB/s, completion times
  upload     each connection sends --bytes to the backend: MB/s, completion times
  pingpong   one 64-byte line in flight per connection: requests/s, latency p50/p99/p99.9
  idle       open --connections, one exchange each, hold them for --duration: VmRSS of --pid
             before and after, growth per connection
  imap       greeting, LOGIN, SELECT INBOX, FETCH 1 (BODY[]), LOGOUT against a real IMAP server
             behind the proxy: sessions/s, command latency; stops at the first NO or BAD

Options:
  --connect HOST:PORT  the proxy: numeric IPv4 (127.0.0.1:993) or IPv6 ([::1]:993)
  --connections C      concurrent connections (default 50)
  --threads T          threads, one io_uring each; connections are spread over them
                       (default: online CPUs, at most C)
  --duration SECONDS   start no new work after this (default 10); idle: how long to hold the
                       connections once all are open
  --requests N         stop after N units in total, whichever of this and --duration comes first
                       (handshake, resume, imap: connections; pingpong: requests; download,
                       upload: transfers, default C, one per connection; idle: always C)
  --bytes N            bytes per transfer for download/upload; K, M, G = KiB, MiB, GiB (default 4M)
  --sni NAME           server name to send (default: none)
  --alpn ID            ALPN protocol to offer, e.g. imap (default: none)
  --tls 1.2|1.3        this version only (default: 1.2 or 1.3, as the proxy chooses)
  --cafile FILE        verify the proxy's chain against FILE (and its name against --sni);
                       default: no verification
  --pid PID            idle: the proxy process whose VmRSS (/proc/PID/status) is measured
  --user NAME          imap: login name (required for imap)
  --password PASS      imap: password (required for imap)
  --rate R             open loop: R new units per second over all threads, at fixed intervals
                       (handshake, resume, imap: connections; pingpong: requests over the open
                       connections). An arrival that finds every connection busy waits (counted
                       late), and its latencies run from its scheduled time. Default: closed
                       loop, each connection starts its next unit as soon as one ends
  --timeout SECONDS    a connection that makes no progress for this long fails (default 10)
  --json FILE          also write the JSON summary to FILE
  --quiet              no progress line and no human summary on stderr

Bounds: after --duration (or --requests) no new work starts; work in flight may finish within 5 s,
then whatever is still open is cut and counted as an error, and the program exits even when the
proxy hangs. idle: opening all connections may take up to 120 s before the hold starts. --rate:
arrivals still waiting for a connection may start within those 5 s; those left are errors too.
Output: a progress line on stderr when it is a terminal (about 4 updates a second), a human summary
on stderr, a JSON object on stdout (and in --json FILE).
Exit status: 0 without errors, 1 with errors, 2 on bad arguments.

Backend (plaintext, the fixture behind the proxy; the client's first line selects the mode):
  ECHO\r\n      echo every byte until EOF
  PING\r\n      answer PONG\r\n, then echo
  STREAM n\r\n  send n bytes, then close the write side
  SINK n\r\n    read n bytes, then answer OK n\r\n
  --listen HOST:PORT  where to listen (SO_REUSEPORT, one socket per thread)
  --threads T         threads, one io_uring each (default 1)
  --duration SECONDS  exit after this long (default: run until SIGINT or SIGTERM)
)";
}

namespace {

class ArgumentReader {
public:
    ArgumentReader(int argc, char** argv) : args_(argv + 1, argv + argc) {}
    bool done() const { return next_ >= args_.size(); }
    std::string_view next() { return args_[next_++]; }
    std::string_view value_of(std::string_view option) {
        if (done()) throw UsageError(std::string(option) + " needs a value");
        return next();
    }

private:
    std::vector<std::string_view> args_;
    size_t next_ = 0;
};

uint64_t parse_count(std::string_view option, std::string_view text, uint64_t min, uint64_t max) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        throw UsageError(std::string(option) + ": expected a whole number from " + std::to_string(min) + " to " +
                         std::to_string(max) + ", got '" + std::string(text) + "'");
    return value;
}

// "4096", "64K", "16M", "1G" (binary multiples).
uint64_t parse_bytes(std::string_view option, std::string_view text) {
    uint64_t scale = 1;
    if (!text.empty()) {
        switch (text.back()) {
        case 'K': case 'k': scale = uint64_t{1} << 10; break;
        case 'M': case 'm': scale = uint64_t{1} << 20; break;
        case 'G': case 'g': scale = uint64_t{1} << 30; break;
        default: break;
        }
        if (scale != 1) text.remove_suffix(1);
    }
    uint64_t value = parse_count(option, text, 1, (uint64_t{1} << 50) / scale);
    return value * scale;
}

double parse_seconds(std::string_view option, std::string_view text, double min) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < min ||
        value > 86400)
        throw UsageError(std::string(option) + ": expected seconds (at least " + std::to_string(min) +
                         "), got '" + std::string(text) + "'");
    return value;
}

double parse_rate(std::string_view option, std::string_view text) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value <= 0 ||
        value > 10'000'000)
        throw UsageError(std::string(option) + ": expected arrivals per second, more than 0 and at most 10000000, got '" +
                         std::string(text) + "'");
    return value;
}

SocketAddress parse_address(std::string_view option, std::string_view text) {
    AddressParseResult parsed = parse_socket_address(text, false, true);
    if (!parsed.address) throw UsageError(std::string(option) + ": " + parsed.error);
    return *parsed.address;
}

Scenario parse_scenario(std::string_view name) {
    for (Scenario s : {Scenario::handshake, Scenario::resume, Scenario::download, Scenario::upload,
                       Scenario::pingpong, Scenario::idle, Scenario::imap})
        if (name == to_string(s)) return s;
    throw UsageError("unknown scenario '" + std::string(name) + "'");
}

unsigned online_cpus() {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 1;
}

BackendOptions parse_backend(ArgumentReader& args) {
    BackendOptions options;
    bool have_listen = false;
    while (!args.done()) {
        std::string_view arg = args.next();
        if (arg == "--listen") {
            options.listen = parse_address(arg, args.value_of(arg));
            have_listen = true;
        } else if (arg == "--threads") {
            options.threads = static_cast<unsigned>(parse_count(arg, args.value_of(arg), 1, 256));
        } else if (arg == "--duration") {
            options.duration_s = parse_seconds(arg, args.value_of(arg), 0);
        } else {
            throw UsageError("backend: unknown argument '" + std::string(arg) + "'");
        }
    }
    if (!have_listen) throw UsageError("backend needs --listen HOST:PORT");
    return options;
}

LoadOptions parse_load(Scenario scenario, ArgumentReader& args) {
    LoadOptions o;
    o.scenario = scenario;
    bool have_connect = false;
    bool have_requests = false;
    while (!args.done()) {
        std::string_view arg = args.next();
        if (arg == "--connect") {
            o.connect = parse_address(arg, args.value_of(arg));
            have_connect = true;
        } else if (arg == "--connections") {
            o.connections = static_cast<unsigned>(parse_count(arg, args.value_of(arg), 1, 1'000'000));
        } else if (arg == "--threads") {
            o.threads = static_cast<unsigned>(parse_count(arg, args.value_of(arg), 1, 256));
        } else if (arg == "--duration") {
            o.duration_s = parse_seconds(arg, args.value_of(arg), 0.1);
        } else if (arg == "--requests") {
            o.requests = parse_count(arg, args.value_of(arg), 1, std::numeric_limits<uint64_t>::max() / 2);
            have_requests = true;
        } else if (arg == "--bytes") {
            o.bytes = parse_bytes(arg, args.value_of(arg));
        } else if (arg == "--sni") {
            o.sni = args.value_of(arg);
        } else if (arg == "--alpn") {
            o.alpn = args.value_of(arg);
            if (o.alpn.empty() || o.alpn.size() > 255) throw UsageError("--alpn: 1 to 255 bytes");
        } else if (arg == "--tls") {
            std::string_view v = args.value_of(arg);
            if (v == "1.2") o.tls_version = TLS1_2_VERSION;
            else if (v == "1.3") o.tls_version = TLS1_3_VERSION;
            else throw UsageError("--tls: 1.2 or 1.3, got '" + std::string(v) + "'");
        } else if (arg == "--cafile") {
            o.cafile = args.value_of(arg);
        } else if (arg == "--pid") {
            o.pid = static_cast<pid_t>(parse_count(arg, args.value_of(arg), 1, std::numeric_limits<pid_t>::max()));
        } else if (arg == "--user") {
            o.user = args.value_of(arg);
        } else if (arg == "--password") {
            o.password = args.value_of(arg);
        } else if (arg == "--rate") {
            o.rate = parse_rate(arg, args.value_of(arg));
        } else if (arg == "--timeout") {
            o.timeout_s = parse_seconds(arg, args.value_of(arg), 0.1);
        } else if (arg == "--json") {
            o.json_path = args.value_of(arg);
        } else if (arg == "--quiet" || arg == "-q") {
            o.quiet = true;
        } else {
            throw UsageError("unknown argument '" + std::string(arg) + "'");
        }
    }
    if (!have_connect) throw UsageError(std::string(to_string(scenario)) + " needs --connect HOST:PORT");
    if (scenario == Scenario::imap && (o.user.empty() || o.password.empty()))
        throw UsageError("imap needs --user and --password");
    if (scenario == Scenario::imap &&
        (o.user.find_first_of("\"\\\r\n") != std::string::npos ||
         o.password.find_first_of("\"\\\r\n") != std::string::npos))
        throw UsageError("imap: --user and --password may not contain quotes, backslashes or line breaks");
    if (o.rate > 0 && !unit_is_connection(scenario) && scenario != Scenario::pingpong)
        throw UsageError(std::string("--rate: not supported by ") + to_string(scenario) +
                         " (open-loop arrivals are for handshake, resume, imap and pingpong)");
    // Transfers are "C connections each moving N bytes"; idle holds exactly C connections.
    if (scenario == Scenario::idle || ((scenario == Scenario::download || scenario == Scenario::upload) && !have_requests))
        o.requests = o.connections;
    if (o.threads == 0) o.threads = online_cpus();
    if (o.threads > o.connections) o.threads = o.connections;
    return o;
}

}  // namespace

CommandLine parse_command_line(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)  // `tlsfront-bench pingpong --help` is a question, not a run
        if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") return CommandLine{};
    ArgumentReader args(argc, argv);
    CommandLine command;
    if (args.done()) throw UsageError("missing scenario");
    std::string_view first = args.next();
    if (first == "--help" || first == "-h" || first == "help") {
        command.kind = CommandLine::Kind::help;
    } else if (first == "--version" || first == "-V") {
        command.kind = CommandLine::Kind::version;
    } else if (first == "backend") {
        command.kind = CommandLine::Kind::backend;
        command.backend = parse_backend(args);
    } else {
        command.kind = CommandLine::Kind::load;
        command.load = parse_load(parse_scenario(first), args);
    }
    return command;
}

}  // namespace tlsfront::bench
