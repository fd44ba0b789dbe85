// Prometheus text exposition (format 0.0.4) of the plugin's metrics. The event loop builds the
// list of samples into each Snapshot; /metrics renders the latest one, so scraping never waits
// for the loop.
// The metrics of the runtime's parts (gossip, TLS, discovery, members) are in part_metrics.h.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace esk8s::plugin {

struct ReadinessState;

struct Metric {
  std::string name;  // esk8s_...
  std::string help;
  std::string type;  // "counter" or "gauge"
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

// One HELP and TYPE line per metric name (samples of one name must be adjacent), then the
// samples; label values escaped as the format requires.
std::string render_prometheus(const std::vector<Metric>& metrics);

// The quorum gauges, from the readiness state the endpoints answer with (so /metrics and the
// probes never disagree): esk8s_quorum (a majority of the cluster size alive, suspects counted
// as /health/ready counts them), esk8s_cluster_size (0 while unknown) and
// esk8s_disruption_quorum_safe (stopping this node leaves a majority confirmed alive among the
// others: the quorum half of /health/disruptable, without the disruption guard's Lease).
void append_quorum_metrics(std::vector<Metric>& out, const ReadinessState& r);

}  // namespace esk8s::plugin
