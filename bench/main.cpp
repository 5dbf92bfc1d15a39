// tlsfront-bench: the load generator (SCENARIO --connect ...) and its plaintext backend (backend
// --listen ...). Exit status: 0 no errors, 1 errors (or set-up failure), 2 bad arguments.
#include <openssl/base.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "bench/backend.hpp"
#include "bench/load_run.hpp"
#include "bench/options.hpp"
#include "bench/report.hpp"

namespace {

// Every connection is a file descriptor: take the hard limit, and refuse a run that cannot fit.
void raise_open_file_limit(unsigned connections) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    constexpr rlim_t kReserve = 64;  // rings, eventfds, stdio, the CA file
    if (limit.rlim_cur != RLIM_INFINITY && connections + kReserve > limit.rlim_cur)
        throw tlsfront::bench::UsageError("--connections " + std::to_string(connections) + " exceeds the open-file limit (" +
                                          std::to_string(limit.rlim_cur) + " less " + std::to_string(kReserve) + ")");
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tlsfront::bench;
    try {
        CommandLine command = parse_command_line(argc, argv);
        switch (command.kind) {
        case CommandLine::Kind::help: print_usage(std::cout); return 0;
        case CommandLine::Kind::version:
            std::cout << "tlsfront-bench " << TLSFRONT_VERSION << "\n(BoringSSL API " << BORINGSSL_API_VERSION << ")\n";
            return 0;
        case CommandLine::Kind::backend: raise_open_file_limit(0); return run_backend(command.backend);
        case CommandLine::Kind::load: break;
        }
        const LoadOptions& options = command.load;
        raise_open_file_limit(options.connections);
        RunReport report = run_load(options);
        int status = write_summary(options, report);
        if (!report.results_complete) {  // threads we gave up on still run: no orderly exit
            std::fflush(nullptr);
            std::_Exit(status);
        }
        return status;
    } catch (const UsageError& e) {
        std::cerr << "tlsfront-bench: " << e.what() << "\n(tlsfront-bench --help shows the usage)\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "tlsfront-bench: " << e.what() << '\n';
        return 1;
    }
}
