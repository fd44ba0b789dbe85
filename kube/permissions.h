// The one list of Kubernetes permissions a member's service account needs, derived from what
// the configuration turns on, and the SelfSubjectAccessReview that checks one of them. The
// plugin's RBAC self-check (discovery/kubernetes_source), `esk8s discover` and `esk8s doctor`
// all ask required_permissions() and word its entries for their readers; none of them writes a
// verb or a resource of its own.
//
//   kubernetes discovery          list, watch endpointslices.discovery.k8s.io   each watched ns
//   pod and StatefulSet reads     get pods; get statefulsets.apps                own namespace
//   ESK8S_TLS_MODE=kubernetes-csr create, get, watch certificatesigningrequests cluster-wide
//   Events (ESK8S_EVENTS)         create, patch events.events.k8s.io (optional) own namespace
//   disruption guard Lease        create leases.coordination.k8s.io;             Lease's ns
//                                 get, update that Lease
//
// Thread-safety: required_permissions is pure; review_access blocks on the API server.
#pragma once

#include <string>
#include <vector>

namespace esk8s::kube {

class KubeClient;

// What a permission is needed for; each user words it (and its remedy) for its own reader.
enum class PermissionPurpose {
  kDiscovery,         // the EndpointSlices of the own namespace
  kPeerDiscovery,     // the EndpointSlices of an ESK8S_PEER_NAMESPACES entry
  kOwnWorkload,       // the own pod and its StatefulSet (readiness mode, cluster size)
  kCsr,               // certificates from CertificateSigningRequests
  kEvents,            // Kubernetes Events on the own pod
  kDisruptionLease,   // the cluster-wide disruption guard's Lease
};

struct Permission {
  std::string verb;
  std::string group;     // "" for the core group
  std::string resource;  // plural
  std::string namespace_name;  // "" for cluster-scoped
  std::string name;            // restricted to this object ("" for any)
  PermissionPurpose purpose = PermissionPurpose::kDiscovery;
  // The file of rbac/ that grants it.
  std::string rbac_file;
  // Missing it loses a feature, never the cluster (Events): a warning, not an error.
  bool optional = false;

  // "endpointslices.discovery.k8s.io", or "pods" for the core group: how kubectl and the API's
  // 403 messages name a resource.
  std::string resource_name() const;
  // "in namespace \"prod\"" or "cluster-wide".
  std::string where() const;
};

// What the configuration turns on.
struct PermissionNeeds {
  // The namespaces discovery watches, the own namespace first; empty when discovery does not
  // use the Kubernetes API (static or DNS discovery).
  std::vector<std::string> discovery_namespaces;
  // The own namespace (pod, StatefulSet and Events live there).
  std::string own_namespace;
  bool own_workload = false;  // ESK8S_READY_MODE=auto or ESK8S_CLUSTER_SIZE unset
  bool csr = false;           // ESK8S_TLS_MODE=kubernetes-csr
  bool events = false;        // ESK8S_EVENTS on with kubernetes discovery
  // ESK8S_DISRUPTION_LEASE=<namespace>/<name>; both empty when the guard is off.
  std::string lease_namespace;
  std::string lease_name;
};

// Every permission `needs` calls for, in this order: discovery (per namespace: list, watch),
// pod and StatefulSet, CSR, Events, Lease.
std::vector<Permission> required_permissions(const PermissionNeeds& needs);

// The outcome of asking the API server whether the client may do one of them.
struct AccessCheck {
  Permission permission;
  bool allowed = false;
  std::string error;  // set when the review itself failed (network, 5xx): not a verdict
};

// A SelfSubjectAccessReview for `check.permission` as the client's own user.
void review_access(KubeClient& client, AccessCheck& check);

}  // namespace esk8s::kube
