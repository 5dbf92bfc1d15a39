// The /metrics and /healthz pages: the listeners' counters summed over the worker shards, the
// snapshot in service (generation, certificate expiry), reloads and the process, in the
// Prometheus text format. Runs on the admin thread; reads only atomics and the published snapshot.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxy/daemon/admin_server.hpp"
#include "proxy/daemon/daemon_status.hpp"
#include "proxy/session/listener_metrics.hpp"
#include "proxy/session/worker.hpp"

namespace tlsfront {

struct MetricsSources {
    const ListenerMetricsTable& listeners;
    const DaemonStatus& status;
    const SharedCounters& counters;
    const std::vector<std::unique_ptr<Worker>>& workers;
};

std::string render_metrics(const MetricsSources& sources);
// 200 "ok" while serving; 503 while draining or when a worker's loop has not ticked for 5 s.
AdminResponse health_response(const MetricsSources& sources);
// The admin endpoint's router: /metrics, /healthz, else 404.
AdminServer::Handler admin_routes(MetricsSources sources);

}  // namespace tlsfront
