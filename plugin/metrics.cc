#include "plugin/metrics.h"

#include <cmath>
#include <cstdio>

#include "gossip/quorum.h"
#include "plugin/snapshot.h"

namespace esk8s::plugin {

namespace {

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

std::string render_prometheus(const std::vector<Metric>& metrics) {
  std::string out;
  std::string last;
  for (const auto& m : metrics) {
    if (m.name != last) {
      out += "# HELP " + m.name + " " + m.help + "\n# TYPE " + m.name + " " + m.type + "\n";
      last = m.name;
    }
    out += m.name;
    if (!m.labels.empty()) {
      out += "{";
      for (size_t i = 0; i < m.labels.size(); ++i) {
        out += (i ? "," : "") + m.labels[i].first + "=\"" + escape(m.labels[i].second) + "\"";
      }
      out += "}";
    }
    out += " " + number(m.value) + "\n";
  }
  return out;
}

void append_quorum_metrics(std::vector<Metric>& out, const ReadinessState& r) {
  gossip::QuorumView seen{r.cluster_size, r.alive};
  gossip::QuorumView confirmed{r.cluster_size, r.confirmed_alive};
  out.push_back({"esk8s_quorum",
                 "1 when this node sees a majority of ESK8S_CLUSTER_SIZE members alive.",
                 "gauge",
                 {},
                 seen.has_quorum() ? 1.0 : 0.0});
  out.push_back({"esk8s_cluster_size",
                 "Voting members the cluster is configured for (ESK8S_CLUSTER_SIZE or the "
                 "StatefulSet's replicas); 0 while unknown.",
                 "gauge",
                 {},
                 static_cast<double>(r.cluster_size)});
  out.push_back({"esk8s_disruption_quorum_safe",
                 "1 when stopping this node leaves a majority of the cluster size confirmed alive "
                 "among the others (the quorum check of /health/disruptable).",
                 "gauge",
                 {},
                 confirmed.can_lose_self() ? 1.0 : 0.0});
}

}  // namespace esk8s::plugin
