#include "plugin/permission_needs.h"

namespace esk8s::plugin {

kube::PermissionNeeds permission_needs(const Config& c) {
  kube::PermissionNeeds n;
  n.own_namespace = c.namespace_name;
  const bool kubernetes = c.discovery == DiscoveryMode::kKubernetes;
  if (kubernetes) {
    n.discovery_namespaces.push_back(c.namespace_name);
    for (const auto& ns : c.peer_namespaces) {
      if (ns != c.namespace_name) n.discovery_namespaces.push_back(ns);
    }
  }
  n.own_workload = kubernetes && (c.ready_mode == ReadyMode::kAuto || !c.cluster_size);
  n.csr = c.tls_mode == TlsMode::kKubernetesCsr;
  n.events = kubernetes && c.events;
  n.lease_namespace = c.disruption_lease_namespace;
  n.lease_name = c.disruption_lease_name;
  return n;
}

}  // namespace esk8s::plugin
