// What the plugin learns from the pod's owning StatefulSet (RBAC: get pods, get statefulsets in
// the own namespace): its pod management policy, which decides what `ESK8S_READY_MODE=auto`
// means, and its replicas, the default cluster size.
//
// Thread-safety: fetch_statefulset_info blocks on the API; call it from a thread that may wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "kube/kube_client.h"

namespace esk8s::plugin {

struct StatefulSetInfo {
  std::string name;
  std::string pod_management_policy;  // "OrderedReady" (the API default) or "Parallel"
  uint32_t replicas = 1;              // spec.replicas (default 1)
};

// The StatefulSet named by a Pod object's controller ownerReference, or not_found when the pod
// has none (an error message says so). Pure: parses the Pod JSON.
Result<std::string> owning_statefulset(const std::string& pod_json);
// Parses a StatefulSet object. Pure.
Result<StatefulSetInfo> parse_statefulset(const std::string& statefulset_json);

// What the failed request of a read answered, for the caller's retry (kube/backoff.h honours a
// 429's Retry-After). http_status is 0 for a connection error or a read that failed after its
// answers (an object that does not parse).
struct ReadFailure {
  int http_status = 0;
  std::optional<std::chrono::seconds> retry_after;
};

// GET the pod, then its StatefulSet. A 403 names the missing permission and rbac/role.yaml.
// On an HTTP failure, `failure` (when given) receives its status and Retry-After.
Result<StatefulSetInfo> fetch_statefulset_info(kube::KubeClient& kube,
                                               const std::string& namespace_name,
                                               const std::string& pod_name,
                                               ReadFailure* failure = nullptr);

}  // namespace esk8s::plugin
