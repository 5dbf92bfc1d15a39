// Reads the config file and everything it names into a ConfigSnapshot: the same path for
// start-up, `--check` and every reload, so a reload validates exactly what start-up would.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/session/config_snapshot.hpp"

namespace tlsfront {

// Throws ConfigError or CertificateError, both "FILE:LINE:COLUMN: cause".
std::shared_ptr<const ConfigSnapshot> build_snapshot(const std::string& path, uint64_t generation);

}  // namespace tlsfront
