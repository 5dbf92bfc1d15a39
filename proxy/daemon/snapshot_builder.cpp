// Config file -> certificates -> one TLS context per listener -> ConfigSnapshot.
#include "proxy/daemon/snapshot_builder.hpp"

#include "config/config_loader.hpp"
#include "proxy/session/backend_proxy_header.hpp"

namespace tlsfront {

std::shared_ptr<const ConfigSnapshot> build_snapshot(const std::string& path, uint64_t generation) {
    auto snapshot = std::make_shared<ConfigSnapshot>();
    snapshot->generation = generation;
    snapshot->config = load_config_file(path);
    auto certificates = std::make_shared<CertificateCatalog>(snapshot->config);
    snapshot->certificates = certificates;
    for (const auto& listener : snapshot->config.listeners) {
        check_proxy_header_fits(listener);
        snapshot->tls.push_back(std::make_unique<ServerContext>(listener, certificates));
    }
    for (size_t i = 0; i < snapshot->config.listeners.size(); ++i)
        snapshot->listeners.push_back(ListenerRuntime{&snapshot->config.listeners[i], snapshot->tls[i].get()});
    return snapshot;
}

}  // namespace tlsfront
