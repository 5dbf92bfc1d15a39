// The TOML config loader on arbitrary file bytes: the result is a Config or a ConfigError, never
// a crash, a hang or another exception. Every path the input names "opens" as /dev/null, so the
// loader's readability checks pass without touching the file system.
#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config_checks.hpp"
#include "config/config_loader.hpp"

using namespace tlsfront;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    config_checks::set_file_opener([](const std::string&) { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        Config config = load_config_string({reinterpret_cast<const char*>(data), size}, "fuzz.toml");
        if (config.listeners.empty()) __builtin_trap();  // the loader requires at least one
    } catch (const ConfigError&) {
    }
    return 0;
}
