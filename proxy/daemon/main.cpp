// tlsfront command line: run the proxy (-c FILE), validate a config (--check), --version.
#include <openssl/base.h>

#include <cstring>
#include <iostream>
#include <string>

#include "config/config_loader.hpp"
#include "proxy/daemon/check_summary.hpp"
#include "proxy/daemon/runtime.hpp"
#include "proxy/daemon/snapshot_builder.hpp"

namespace {

void usage(std::ostream& out) {
    out << "usage: tlsfront -c FILE          run the proxy in the foreground (logs to stderr)\n"
           "       tlsfront --check -c FILE  validate the config and certificates, print a summary\n"
           "       tlsfront --version\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg.starts_with("--config=")) {
            config_path = arg.substr(9);
        } else if (arg == "--check") {
            check = true;
        } else if (arg == "--version" || arg == "-V") {
            std::cout << "tlsfront " << TLSFRONT_VERSION << "\n(BoringSSL API " << BORINGSSL_API_VERSION << ")\n";
            return 0;
        } else if (arg == "-h" || arg == "--help") {
            usage(std::cout);
            return 0;
        } else {
            std::cerr << "tlsfront: unknown argument '" << arg << "'\n";
            usage(std::cerr);
            return 2;
        }
    }
    if (config_path.empty()) {
        usage(std::cerr);
        return 2;
    }
    std::shared_ptr<const tlsfront::ConfigSnapshot> snapshot;
    try {
        snapshot = tlsfront::build_snapshot(config_path, 1);
    } catch (const std::exception& e) {  // ConfigError, CertificateError: "FILE:LINE:COLUMN: cause"
        std::cerr << e.what() << '\n';
        return 1;
    }
    if (check) {
        tlsfront::print_check_summary(*snapshot, std::cout);
        return 0;
    }
    return tlsfront::run_proxy(config_path, std::move(snapshot));
}
