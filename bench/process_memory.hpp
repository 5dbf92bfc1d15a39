// The resident set size of another process (the proxy under test), from /proc/PID/status.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace tlsfront::bench {

// VmRSS in bytes; nullopt when the process is gone or the file cannot be read.
std::optional<uint64_t> resident_set_bytes(pid_t pid);

}  // namespace tlsfront::bench
