// The checks of `esk8s doctor`: pure functions from Kubernetes objects (and the answers of the
// live probes) to findings. No I/O, no clock: the caller fetches everything and passes `now`, so
// every pitfall can be tested from a fixture.
//
// What is checked, per esk8s StatefulSet (find_workloads, check_workload):
//   storage       volumeClaimTemplates present; the StorageClass exists and looks SSD-backed
//   statefulset   OrderedReady + ESK8S_READY_MODE=quorum (deadlock), probes on /health/*,
//                 required anti-affinity on kubernetes.io/hostname (over every namespace of the
//                 cluster), resources, the --pre-stop hook
//   service       the headless Service exists, is headless, publishes not-ready addresses,
//                 names its ports and selects the pods
//   pdb           a PodDisruptionBudget selects the pods and allows at most a minority of the
//                 whole cluster down
//   rbac          the SubjectAccessReview answers for needed_permissions()
//   tls           certificates in mounted Secrets (files mode), the local-ca CA's expiry
//   endpoints     not-ready endpoints of the headless Service
//   pods          members the scheduler cannot place (PodScheduled False), quoting its reason
// and per cluster (assemble_clusters, check_cluster), which may span namespaces:
//   cluster       members of one cluster watch each other's namespaces and share a cluster name;
//                 the namespaces they name hold members and could be read
//   replicas      the members summed over all StatefulSets: odd, equal to every member's
//                 ESK8S_CLUSTER_SIZE (a fix never names a size below the members that exist)
//   pdb           the budgets of several namespaces together (each counts only its own)
//   placement     two members on one node, whichever namespaces they are in
//   members       the pods' /members views: agreement and quorum
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/doctor_model.h"
#include "kube/permissions.h"

namespace esk8s::cli::doctor {

// The StatefulSets of `ns` whose pod template runs esk8s, with their ESK8S_* settings resolved
// from the container's env values and envFrom ConfigMaps (ns.configmaps).
std::vector<Workload> find_workloads(const NamespaceObjects& ns);

// The error finding for a namespace without any esk8s StatefulSet.
Finding no_workload_finding(const NamespaceObjects& ns);

// The namespaces the workload's members watch: ESK8S_NAMESPACE (default: the StatefulSet's) and
// then every ESK8S_PEER_NAMESPACES entry, without repeats.
std::vector<std::string> watched_namespaces(const Workload& w);

// Groups workloads into clusters. Two workloads are one cluster when their members watch the same
// headless Service (ESK8S_SERVICE, default spec.serviceName) and one of them watches the other's
// namespace. `unreadable` maps the namespaces the doctor could not read to why; watched ones among
// them become Cluster::unread. Clusters are ordered by their first workload. `members` is empty.
std::vector<Cluster> assemble_clusters(const std::vector<Workload>& workloads,
                                       const std::map<std::string, std::string>& unreadable);

// Secret names the pod template's volumes mount (secret and projected volumes), deduplicated, in
// volume order: the Secrets the command fetches for check_workload.
std::vector<std::string> referenced_secrets(const Workload& w);

// The permissions the members' service account needs for these settings:
//   ESK8S_DISCOVERY=kubernetes (default): list+watch endpointslices.discovery.k8s.io in the own
//     namespace and every ESK8S_PEER_NAMESPACES entry; get pods and get statefulsets.apps in the
//     own namespace when ESK8S_READY_MODE is auto or ESK8S_CLUSTER_SIZE is unset (what the
//     plugin reads them for);
//   ESK8S_TLS_MODE=kubernetes-csr: create/get/watch certificatesigningrequests.certificates.k8s.io
//     (cluster-scoped);
//   kubernetes discovery with ESK8S_EVENTS on (the default): create/patch events.events.k8s.io in
//     the own namespace (optional: missing is a warning, rbac.events-missing);
//   ESK8S_DISRUPTION_LEASE=NS/NAME: create leases.coordination.k8s.io in NS, get and update the
//     Lease NAME (rbac/disruption-lease.yaml).
// The list itself is kube::required_permissions (kube/permissions.h), the one the plugin's
// self-check and `esk8s discover` use; this adds the reasons and the commands that fix it.
std::vector<PermissionNeed> needed_permissions(const Workload& w);
// What the workload's settings turn on, for kube::required_permissions.
kube::PermissionNeeds permission_needs_of(const Workload& w);

// "system:serviceaccount:NS:SA" for the pod template's service account.
std::string service_account_user(const Workload& w);

// The SubjectAccessReview body asking whether the service account may do `need`.
nlohmann::json subject_access_review(const Workload& w, const PermissionNeed& need);

// The /members URLs of the workload's running pods (those with a status.podIP), sorted by pod
// name. Empty when ESK8S_HTTP_PORT is 0 or not a literal (the port cannot be known).
std::vector<MemberTarget> member_targets(const Workload& w, const NamespaceObjects& ns);

// The per-StatefulSet checks above for `w`, a workload of `cluster`, in a fixed order (not sorted
// by severity). `ns` holds w's namespace's objects.
std::vector<Finding> check_workload(const Workload& w, const Cluster& cluster,
                                    const NamespaceObjects& ns, const Observations& obs);

// The per-cluster checks above, in a fixed order. `namespaces` holds the objects of every
// namespace the doctor read, by name.
std::vector<Finding> check_cluster(const Cluster& cluster,
                                   const std::map<std::string, NamespaceObjects>& namespaces);

// Errors first, then warnings, then info; the order of the checks within a severity is kept.
void sort_findings(std::vector<Finding>& findings);

// 1 when any finding is an error, else 0.
int exit_code(const std::vector<Finding>& findings);

}  // namespace esk8s::cli::doctor
