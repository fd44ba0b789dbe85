#include "plugin/readiness.h"

#include "plugin/health.h"

namespace esk8s::plugin {

ReadinessMemory initial_readiness(const Config& c, bool reads_statefulset) {
  ReadinessMemory m;
  const std::string discovery(to_string(c.discovery));
  if (c.ready_mode != ReadyMode::kAuto) {
    m.mode = c.ready_mode;
    m.mode_reason = "ESK8S_READY_MODE=" + std::string(to_string(c.ready_mode));
  } else {
    m.mode = ReadyMode::kBootstrapLatch;
    m.mode_pending = reads_statefulset;
    m.mode_reason = reads_statefulset
                        ? "auto: reading the pod's StatefulSet; bootstrap-latch until then"
                        : "auto: no Kubernetes API in " + discovery +
                              " discovery to read the StatefulSet; bootstrap-latch is safe under "
                              "both pod management policies";
  }
  if (c.cluster_size) {
    m.cluster_size = *c.cluster_size;
    m.cluster_size_source = c.discovery == DiscoveryMode::kStatic
                                ? "ESK8S_CLUSTER_SIZE or the static peers"
                                : "ESK8S_CLUSTER_SIZE";
  } else if (reads_statefulset) {
    m.cluster_size_source = "waiting for the pod's StatefulSet (spec.replicas)";
  } else {
    m.cluster_size_source = "unknown: no Kubernetes API in " + discovery +
                            " discovery to read the StatefulSet; set ESK8S_CLUSTER_SIZE";
  }
  return m;
}

ReadinessMemory on_statefulset_read(ReadinessMemory m, const Config& c,
                                    const Result<StatefulSetInfo>& info) {
  m.mode_pending = false;
  if (!info) {
    if (c.ready_mode == ReadyMode::kAuto) {
      m.mode_reason = "auto: cannot read the pod's StatefulSet (" + info.status().message() +
                      "); bootstrap-latch is safe under both pod management policies";
    }
    if (!c.cluster_size) {
      m.cluster_size_source = "unknown: cannot read the pod's StatefulSet (" +
                              info.status().message() + "); set ESK8S_CLUSTER_SIZE";
    }
    return m;
  }
  if (c.ready_mode == ReadyMode::kAuto) {
    const bool ordered = info->pod_management_policy == "OrderedReady";
    m.mode = ordered ? ReadyMode::kBootstrapLatch : ReadyMode::kQuorum;
    m.mode_reason = "auto: StatefulSet " + info->name + " is " + info->pod_management_policy +
                    (ordered ? ": ready before quorum so the next pods get created"
                             : ": all pods start at once, so ready means quorum");
  }
  if (!c.cluster_size) {
    m.cluster_size = info->replicas;
    m.cluster_size_source = "StatefulSet " + info->name + " spec.replicas";
  }
  return m;
}

ReadinessStep step_readiness(const ReadinessMemory& m, const ReadinessObservation& in) {
  ReadinessStep out;
  ReadinessState& r = out.state;
  r.mode = m.mode;
  r.mode_reason = m.mode_reason;
  r.mode_pending = m.mode_pending;
  r.cluster_size = m.cluster_size;
  r.cluster_size_source = m.cluster_size_source;
  r.gossip_running = in.gossip_running;
  r.alive = in.gossip_running ? in.alive : 0;
  r.confirmed_alive = in.gossip_running ? in.confirmed_alive : 0;
  r.host_ready = in.host_ready;
  r.discovered = in.discovered;
  r.superseded = in.superseded;
  out.next = m;
  out.quorum_latched = !m.quorum_seen && quorum_observed(r);
  if (out.quorum_latched) out.next.quorum_seen = true;
  r.quorum_seen = out.next.quorum_seen;
  return out;
}

}  // namespace esk8s::plugin
