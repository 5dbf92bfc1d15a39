// The running proxy: builds certificates and TLS contexts from a Config, opens the listening
// sockets, starts one Worker thread per core, and turns SIGTERM/SIGINT into a graceful drain.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tls/server_context.hpp"

namespace tlsfront {

// Everything built from the config file before any socket is opened.
struct PreparedConfig {
    Config config;
    std::shared_ptr<const CertificateCatalog> certificates;
    std::vector<std::unique_ptr<ServerContext>> tls;  // one per listener, in config order
};

// Throws ConfigError or CertificateError, both "FILE:LINE:COLUMN: cause".
std::unique_ptr<PreparedConfig> prepare_config(const std::string& path);

// Runs until SIGTERM/SIGINT and the drain that follows. Returns the process exit code.
int run_proxy(const PreparedConfig& prepared);

}  // namespace tlsfront
