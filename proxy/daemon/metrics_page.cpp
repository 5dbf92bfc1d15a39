// Rendering the counters. Families appear in a fixed order; every listener ever seen is listed.
#include "proxy/daemon/metrics_page.hpp"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "proxy/daemon/prometheus_text.hpp"
#include "proxy/session/connection.hpp"

namespace tlsfront {
namespace {

constexpr uint64_t kStalledWorkerMs = 5000;

uint64_t sum(const ListenerMetrics& metrics, auto read) {
    uint64_t total = 0;
    for (unsigned w = 0; w < metrics.workers(); ++w) total += read(metrics.shard(w));
    return total;
}

// One counter of the shard, summed over the workers.
uint64_t sum(const ListenerMetrics& metrics, OwnedCounter ListenerShard::*counter) {
    return sum(metrics, [counter](const ListenerShard& s) { return (s.*counter).get(); });
}

uint64_t closed(const ListenerMetrics& metrics, size_t reason) {
    return sum(metrics, [reason](const ListenerShard& s) { return s.closed[reason].get(); });
}

void histogram(PrometheusText& out, const char* name, const ListenerMetrics& metrics,
               LatencyHistogram ListenerShard::*member) {
    std::vector<uint64_t> buckets(LatencyHistogram::upper_bounds.size());
    uint64_t count = 0, sum_us = 0;
    for (unsigned w = 0; w < metrics.workers(); ++w) {
        const LatencyHistogram& h = metrics.shard(w).*member;
        for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.buckets[i].get();
        count += h.count.get();
        sum_us += h.sum_us.get();
    }
    out.histogram(name, {{"listener", metrics.name()}}, LatencyHistogram::upper_bounds, buckets,
                  static_cast<double>(sum_us) / 1e6, count);
}

void listener_families(PrometheusText& out, const ListenerMetricsTable& table) {
    out.family("tlsfront_connections_accepted_total", "Connections accepted", MetricType::counter);
    table.for_each([&](const ListenerMetrics& m) {
        out.sample("tlsfront_connections_accepted_total", {{"listener", m.name()}},
                   sum(m, &ListenerShard::accepted));
    });
    out.family("tlsfront_connections_refused_total", "Connections closed at accept", MetricType::counter);
    table.for_each([&](const ListenerMetrics& m) {
        out.sample("tlsfront_connections_refused_total", {{"listener", m.name()}, {"reason", "max_connections"}},
                   sum(m, &ListenerShard::refused_over_limit));
    });
    out.family("tlsfront_connections_closed_total", "Connections closed, by close reason", MetricType::counter);
    table.for_each([&](const ListenerMetrics& m) {
        for (size_t r = 0; r < kCloseReasons; ++r)
            out.sample("tlsfront_connections_closed_total",
                       {{"listener", m.name()}, {"reason", to_string(static_cast<CloseReason>(r))}},
                       closed(m, r));
    });
    out.family("tlsfront_connections_active", "Connections open now", MetricType::gauge);
    table.for_each([&](const ListenerMetrics& m) {
        uint64_t accepted = sum(m, &ListenerShard::accepted);
        uint64_t ended = 0;
        for (size_t r = 0; r < kCloseReasons; ++r) ended += closed(m, r);
        out.sample("tlsfront_connections_active", {{"listener", m.name()}}, accepted > ended ? accepted - ended : 0);
    });
    out.family("tlsfront_connections_idle",
               "Relayed sessions with nothing in flight and no buffer held (an IMAP IDLE is one)", MetricType::gauge);
    table.for_each([&](const ListenerMetrics& m) {
        out.sample("tlsfront_connections_idle", {{"listener", m.name()}},
                   sum(m, &ListenerShard::idle));
    });
    out.family("tlsfront_handshakes_total", "TLS handshakes completed", MetricType::counter);
    table.for_each([&](const ListenerMetrics& m) {
        for (int v13 = 0; v13 < 2; ++v13)
            for (int resumed = 0; resumed < 2; ++resumed)
                out.sample("tlsfront_handshakes_total",
                           {{"listener", m.name()}, {"version", v13 ? "TLSv1.3" : "TLSv1.2"},
                            {"resumed", resumed ? "true" : "false"}},
                           sum(m, [=](const ListenerShard& s) { return s.handshakes[v13][resumed].get(); }));
    });
    out.family("tlsfront_handshake_failures_total", "TLS handshakes that did not complete, by cause", MetricType::counter);
    table.for_each([&](const ListenerMetrics& m) {
        for (size_t c = 0; c < kHandshakeFailureKinds; ++c)
            out.sample("tlsfront_handshake_failures_total",
                       {{"listener", m.name()}, {"cause", to_string(static_cast<HandshakeFailure>(c))}},
                       sum(m, [c](const ListenerShard& s) { return s.handshake_failures[c].get(); }));
    });
    out.family("tlsfront_handshake_duration_seconds", "From accept to the end of the TLS handshake", MetricType::histogram);
    table.for_each([&](const ListenerMetrics& m) {
        histogram(out, "tlsfront_handshake_duration_seconds", m, &ListenerShard::handshake_latency);
    });
    out.family("tlsfront_backend_connect_failures_total", "Backend connections that failed or timed out",
               MetricType::counter);
    table.for_each([&](const ListenerMetrics& m) {
        out.sample("tlsfront_backend_connect_failures_total", {{"listener", m.name()}},
                   sum(m, &ListenerShard::backend_connect_failures));
    });
    out.family("tlsfront_backend_connect_duration_seconds", "Connecting to the backend", MetricType::histogram);
    table.for_each([&](const ListenerMetrics& m) {
        histogram(out, "tlsfront_backend_connect_duration_seconds", m, &ListenerShard::backend_connect_latency);
    });
    out.family("tlsfront_bytes_total", "Plaintext bytes relayed, by direction", MetricType::counter);
    table.for_each([&](const ListenerMetrics& m) {
        out.sample("tlsfront_bytes_total", {{"listener", m.name()}, {"direction", "from_client"}},
                   sum(m, &ListenerShard::bytes_from_client));
        out.sample("tlsfront_bytes_total", {{"listener", m.name()}, {"direction", "to_client"}},
                   sum(m, &ListenerShard::bytes_to_client));
    });
}

void certificate_families(PrometheusText& out, const ConfigSnapshot& snapshot) {
    out.family("tlsfront_certificate_not_after_timestamp_seconds",
               "When each certificate in service expires (alert before it does)", MetricType::gauge);
    snapshot.certificates->for_each_certificate([&](const CertifiedKey& key) {
        std::string kind = key.describe();
        out.sample("tlsfront_certificate_not_after_timestamp_seconds",
                   {{"path", key.cert_path}, {"cn", key.subject_cn}, {"key", kind.substr(0, kind.find(' '))}},
                   static_cast<int64_t>(key.not_after));
    });
    out.family("tlsfront_ocsp_next_update_timestamp_seconds", "nextUpdate of each stapled OCSP response",
               MetricType::gauge);
    snapshot.certificates->for_each_certificate([&](const CertifiedKey& key) {
        if (key.ocsp_response && key.ocsp_next_update)
            out.sample("tlsfront_ocsp_next_update_timestamp_seconds", {{"path", key.cert_path}},
                       static_cast<int64_t>(key.ocsp_next_update));
    });
}

uint64_t resident_bytes() {
    unsigned long pages_total = 0, pages_resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%lu %lu", &pages_total, &pages_resident) != 2) pages_resident = 0;
        std::fclose(f);
    }
    return static_cast<uint64_t>(pages_resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t open_fds() {
    std::error_code error;
    uint64_t n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error))
        ++n;
    return n;
}

// All listeners, per worker: how evenly the kernel spreads new connections over the workers.
void worker_families(PrometheusText& out, const ListenerMetricsTable& table, size_t workers) {
    out.family("tlsfront_worker_connections_accepted_total", "Connections accepted, by worker", MetricType::counter);
    for (unsigned w = 0; w < workers; ++w) {
        uint64_t accepted = 0;
        table.for_each([&](const ListenerMetrics& m) {
            if (w < m.workers()) accepted += m.shard(w).accepted.get();
        });
        out.sample("tlsfront_worker_connections_accepted_total", {{"worker", std::to_string(w)}}, accepted);
    }
}

void process_families(PrometheusText& out, const MetricsSources& sources, const ConfigSnapshot& snapshot) {
    const DaemonStatus& status = sources.status;
    out.family("tlsfront_build_info", "Version", MetricType::gauge);
    out.sample("tlsfront_build_info", {{"version", TLSFRONT_VERSION}}, 1);
    out.family("tlsfront_workers", "Worker threads", MetricType::gauge);
    out.sample("tlsfront_workers", {}, static_cast<uint64_t>(sources.workers.size()));
    out.family("tlsfront_config_generation", "Generation of the config in service (1 at start, +1 per reload)",
               MetricType::gauge);
    out.sample("tlsfront_config_generation", {}, snapshot.generation);
    out.family("tlsfront_config_snapshots", "Config snapshots alive (old ones live while their connections do)",
               MetricType::gauge);
    out.sample("tlsfront_config_snapshots", {}, LiveSnapshotCount::count.load());
    out.family("tlsfront_reloads_total", "SIGHUP reloads, by result", MetricType::counter);
    out.sample("tlsfront_reloads_total", {{"result", "ok"}}, status.reloads.load());
    out.sample("tlsfront_reloads_total", {{"result", "failed"}}, status.reload_failures.load());
    out.family("tlsfront_last_reload_success_timestamp_seconds", "When the last reload was taken (0: none yet)",
               MetricType::gauge);
    out.sample("tlsfront_last_reload_success_timestamp_seconds", {}, status.last_reload_unix.load());
    out.family("tlsfront_draining", "1 while stopping (SIGTERM/SIGINT)", MetricType::gauge);
    out.sample("tlsfront_draining", {}, status.draining.load() ? 1 : 0);
    out.family("tlsfront_connections_open", "Connections open now, all listeners", MetricType::gauge);
    out.sample("tlsfront_connections_open", {}, sources.counters.open_connections.load());
    out.family("process_resident_memory_bytes", "Resident set size", MetricType::gauge);
    out.sample("process_resident_memory_bytes", {}, resident_bytes());
    out.family("process_open_fds", "Open file descriptors", MetricType::gauge);
    out.sample("process_open_fds", {}, open_fds());
}

}  // namespace

std::string render_metrics(const MetricsSources& sources) {
    PrometheusText out;
    auto snapshot = sources.status.snapshot();
    process_families(out, sources, *snapshot);
    listener_families(out, sources.listeners);
    worker_families(out, sources.listeners, sources.workers.size());
    certificate_families(out, *snapshot);
    return out.take();
}

AdminResponse health_response(const MetricsSources& sources) {
    if (sources.status.draining.load()) return {503, "text/plain; charset=utf-8", "draining\n"};
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now_ms = static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
    for (size_t i = 0; i < sources.workers.size(); ++i) {
        uint64_t tick = sources.workers[i]->last_tick_ms();
        if (tick != 0 && now_ms > tick + kStalledWorkerMs)
            return {503, "text/plain; charset=utf-8", "worker " + std::to_string(i) + " stalled\n"};
    }
    return {200, "text/plain; charset=utf-8", "ok\n"};
}

AdminServer::Handler admin_routes(MetricsSources sources) {
    return [sources](std::string_view path) -> AdminResponse {
        if (path == "/metrics") return {200, std::string(kPrometheusContentType), render_metrics(sources)};
        if (path == "/healthz") return health_response(sources);
        return admin_not_found();
    };
}

}  // namespace tlsfront
