// `tlsfront-bench backend`: the plaintext server behind the proxy for the synthetic scenarios.
// One thread per --threads, each with its own io_uring, its own SO_REUSEPORT listening socket
// (the kernel spreads connections over them) and a multishot accept; the protocol itself is in
// backend_connection.hpp.
#pragma once

#include "bench/options.hpp"

namespace tlsfront::bench {

// Runs until SIGINT/SIGTERM or --duration; prints what it served on stderr. Returns the exit
// status (1 when it could not listen).
int run_backend(const BackendOptions& options);

}  // namespace tlsfront::bench
