// The running proxy: opens the listening sockets, starts one Worker thread per core, drops
// privileges, then waits for signals: SIGHUP reloads in place (Reloader), SIGTERM/SIGINT drain.
#pragma once

#include <memory>
#include <string>

#include "proxy/session/config_snapshot.hpp"

namespace tlsfront {

// Runs until SIGTERM/SIGINT and the drain that follows. Returns the process exit code.
int run_proxy(const std::string& config_path, std::shared_ptr<const ConfigSnapshot> snapshot);

}  // namespace tlsfront
