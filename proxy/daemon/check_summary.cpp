// --check output, one line per listener and per certificate role.
#include "proxy/daemon/check_summary.hpp"

#include <ctime>

#include "config/duration.hpp"

namespace tlsfront {
namespace {

std::string date_of(time_t t) {
    tm utc{};
    gmtime_r(&t, &utc);
    char buf[16];
    strftime(buf, sizeof buf, "%Y-%m-%d", &utc);
    return buf;
}

void print_certificate(std::ostream& out, const std::string& role, const CertificateSet* set) {
    if (!set) return;
    for (const CertifiedKey* key : {&set->primary, set->alt ? &*set->alt : nullptr}) {
        if (!key) continue;
        out << "  certificate " << key->cert_path << " (" << key->describe() << ", expires " << date_of(key->not_after);
        if (key->ocsp_response)
            out << ", OCSP stapled" << (key->ocsp_next_update ? " until " + date_of(key->ocsp_next_update) : "");
        out << ") serves " << role << '\n';
    }
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
    return out;
}

}  // namespace

void print_check_summary(const ConfigSnapshot& prepared, std::ostream& out) {
    const Config& config = prepared.config;
    const ServerSettings& s = config.server;
    out << "config " << config.path << " OK\n";
    out << "server workers=" << s.workers << " max_connections=" << s.max_connections
        << " handshake_timeout=" << format_duration(s.handshake_timeout)
        << " connect_timeout=" << format_duration(s.connect_timeout)
        << " idle_timeout=" << format_duration(s.idle_timeout)
        << " shutdown_grace=" << format_duration(s.shutdown_grace) << '\n';
    for (const auto& listener : config.listeners) {
        std::vector<std::string> listen;
        for (const auto& address : listener.listen) listen.push_back(address.to_string());
        out << "listener " << listener.name << " protocol=" << to_string(listener.protocol);
        if (listener.starttls != StartTlsMode::off)
            out << " starttls=" << to_string(listener.starttls) << " greeting_name=" << listener.greeting_name;
        out << " listen=" << join(listen) << " backend=" << listener.backend.to_string()
            << " proxy_protocol=" << to_string(listener.proxy_protocol)
            << " min_version=" << to_string(listener.tls.min_version)
            << " session_tickets=" << (listener.tls.session_tickets ? "on" : "off") << '\n';
        print_certificate(out, "listener " + listener.name + " (default)",
                          prepared.certificates->for_source(listener.tls.certificate));
    }
    for (const auto& entry : config.local_names)
        print_certificate(out, "names " + join(entry.names), prepared.certificates->for_source(entry.certificate));
    for (const auto& entry : config.locals)
        print_certificate(out, "local address " + entry.address.to_string(),
                          prepared.certificates->for_source(entry.certificate));
    for (const auto& warning : prepared.certificates->warnings()) out << "warning: " << warning << '\n';
}

}  // namespace tlsfront
