// Loading the TOML config file into a validated Config. Every error names FILE:LINE:COLUMN.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace tlsfront {

// what() is "FILE:LINE:COLUMN: cause" (or "FILE: cannot read config: cause" for the file itself).
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Config load_config_file(const std::string& path);
// The same rules for a config held in memory; `source_name` stands for the file in messages.
Config load_config_string(std::string_view toml, const std::string& source_name);

}  // namespace tlsfront
