// VmRSS parsing ("VmRSS:     12345 kB").
#include "bench/process_memory.hpp"

#include <fstream>
#include <sstream>
#include <string>

namespace tlsfront::bench {

std::optional<uint64_t> resident_set_bytes(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (!line.starts_with("VmRSS:")) continue;
        std::istringstream fields(line.substr(6));
        uint64_t kib = 0;
        std::string unit;
        if (fields >> kib >> unit && unit == "kB") return kib * 1024;
        return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace tlsfront::bench
