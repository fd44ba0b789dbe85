// The values `esk8s doctor` works with: a Finding (what is wrong, why it matters, how to fix it),
// the Kubernetes objects fetched from one namespace, the esk8s workloads found among them, the
// clusters those workloads form (one namespace or several), and the results of the live probes
// (SubjectAccessReviews, /members). The checks (doctor_checks.h) are pure functions of these
// values; doctor_command.cc fills them from the API and the pods.
//
// Objects are kept as the API returned them (nlohmann::json), so a check reads exactly the fields
// it needs and a missing field means the API default.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace esk8s::cli::doctor {

enum class Severity { kError, kWarning, kInfo };

// "error", "warning", "info".
const char* severity_name(Severity s);

struct Finding {
  Severity severity = Severity::kInfo;
  std::string check;    // stable id of the check, e.g. "service.publish-not-ready"
  std::string object;   // "Kind namespace/name", e.g. "StatefulSet esdb/esdb"
  std::string message;  // what was found, naming the bad value
  std::string why;      // one sentence: why it matters
  std::string fix;      // one sentence: the concrete fix
  // A shell command that applies the fix, run from a checkout of esk8s with kubectl pointed at the
  // cluster; empty when the fix needs a person's judgement.
  std::string command;
};

// Everything listed in one namespace. A kind the doctor may not list is an empty vector and its
// name in `unavailable` (with the reason), so checks that need it can skip instead of reporting a
// false "missing".
struct NamespaceObjects {
  std::string name;
  std::vector<nlohmann::json> statefulsets, services, pdbs, pods, configmaps, endpointslices;
  // Secrets named by the pod templates' volumes, fetched one by one (listing every Secret of a
  // namespace would need more privilege than the doctor should ask for).
  std::map<std::string, nlohmann::json> secrets;
  std::set<std::string> missing_secrets;             // named but 404
  std::map<std::string, std::string> secret_errors;  // name -> why it could not be read
  std::map<std::string, std::string> unavailable;    // resource ("poddisruptionbudgets") -> why
};

// A StatefulSet whose pod template runs esk8s: a container with an ESK8S_* variable in `env` or
// in a ConfigMap of `envFrom`.
struct Workload {
  std::string namespace_name;
  std::string name;
  nlohmann::json statefulset;
  nlohmann::json container;  // the container that carries the ESK8S_* settings
  // ESK8S_* settings as the container would see them (env overrides envFrom). nullopt = set from
  // the downward API or a Secret, so the doctor cannot know the value.
  std::map<std::string, std::optional<std::string>> settings;
  // Where each setting comes from, for fixes: "ConfigMap esdb/esk8s-config" or "the env of
  // container node".
  std::map<std::string, std::string> setting_sources;
  std::vector<std::string> missing_configmaps;  // envFrom ConfigMaps that do not exist

  std::string object() const { return "StatefulSet " + namespace_name + "/" + name; }
  // The literal value of `key`, or `fallback` when unset, empty or not knowable.
  std::string setting(const std::string& key, const std::string& fallback = "") const;
  // Whether `key` is set at all (to a literal or from the downward API).
  bool has_setting(const std::string& key) const;
  int replicas() const;  // spec.replicas, default 1
  std::string service_name() const;
  std::string service_account() const;  // default "default"
  const nlohmann::json& pod_spec() const;
};

// One permission the members' service account needs, and the SubjectAccessReview answer.
struct PermissionNeed {
  std::string verb, group, resource;
  std::string namespace_name;  // empty = cluster-scoped
  std::string rbac_file;       // what to apply when it is missing
  std::string reason;          // what esk8s uses it for
  std::string command;         // applies rbac_file for this account (Finding::command)
  // Missing it loses a feature, never the cluster (Events): a warning, not an error.
  bool optional = false;
  std::string name;  // restricted to this object (the disruption guard's Lease); "" for any
};
struct PermissionResult {
  PermissionNeed need;
  bool allowed = false;
  std::string error;  // the review itself failed (network, 5xx); not a verdict
};
struct PermissionReport {
  std::string user;  // system:serviceaccount:NS:SA
  std::vector<PermissionResult> results;
  // Set when the doctor could not ask at all (no permission to create SubjectAccessReviews).
  std::string skipped;
};

// A pod's /members endpoint and what it answered.
struct MemberTarget {
  std::string pod, url;
  std::string namespace_name;  // the pod's
};
struct MemberFetch {
  MemberTarget target;
  bool reachable = false;
  int status = 0;
  std::string body;   // the response body when reachable
  std::string error;  // why not reachable
};

// What the checks of one workload read besides its namespace's objects.
struct Observations {
  std::vector<nlohmann::json> storage_classes;
  std::string storage_classes_unavailable;  // non-empty: could not list them (why)
  std::optional<PermissionReport> permissions;
  std::chrono::system_clock::time_point now;
};

// One esk8s cluster as the doctor assembles it (assemble_clusters): the workloads whose members
// find each other, in one namespace or in several joined by ESK8S_PEER_NAMESPACES. Size, quorum,
// disruption budgets and the members' views are judged over the whole cluster, never over one
// StatefulSet of a cluster that spans namespaces.
struct Cluster {
  std::vector<Workload> workloads;      // sorted by namespace, then name
  std::vector<std::string> namespaces;  // every namespace a member watches, sorted
  // Namespaces members watch that the doctor could not read -> why: the members there are
  // unknown, so the cluster's size cannot be judged.
  std::map<std::string, std::string> unread;
  std::vector<MemberFetch> members;  // the /members answers of all workloads' pods

  int replicas() const;          // spec.replicas summed over the workloads
  bool multi_namespace() const;  // workloads in more than one namespace
  // The one workload's object ("StatefulSet esdb/esdb"), or "StatefulSets esdb-a/esdb,
  // esdb-b/esdb" for a cluster of several.
  std::string object() const;
};

}  // namespace esk8s::cli::doctor
