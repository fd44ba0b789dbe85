// Scenario harness: esk8s-cluster (the real kube-apiserver, controllers and scheduler, with the
// process kubelet, docs/CLUSTER.md) running real esk8s-node pods from the manifests users apply
// (examples/kubernetes, rendered by the real `kubectl kustomize` and applied by the real
// `kubectl`), plus what the scenarios observe: pods, their readiness, and each node's HTTP view.
// Pods have addresses of 10.244.0.0/16, local only inside tests/cluster/netns-run's network
// namespace: the scenario tests and the cold-start benchmark run inside it.
//
// Everything waits with a deadline; nothing here sleeps unbounded. Setup failures throw
// std::runtime_error (doctest reports them; the benchmark prints them).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cluster/cluster_process.h"

namespace esk8s::scenario {

struct PodView {
  std::string name;
  std::string uid;
  std::string ip;
  std::string revision;  // controller-revision-hash
  bool ready = false;
  bool deleting = false;
};

struct HttpAnswer {
  int status = 0;  // 0: no answer
  nlohmann::json body;
};

// One scenario's world. The namespace is "esdb" (the single-namespace overlay).
class Sim {
 public:
  // Starts esk8s-cluster, creates the CA Secret and the StorageClass the base names (fast-ssd, on
  // the cluster's local provisioner) and applies the single-namespace overlay after
  // `edit` has rewritten the rendered YAML (e.g. the pod management policy).
  // With `defer_statefulset`, the StatefulSet is left out until apply_statefulset().
  // `cluster_args` are extra esk8s-cluster flags (e.g. --apiserver-arg=...).
  explicit Sim(const std::function<void(std::string& rendered_yaml)>& edit = {},
               bool defer_statefulset = false, const std::vector<std::string>& cluster_args = {});
  // Applies the deferred StatefulSet (kubectl apply); returns when the API accepted it.
  void apply_statefulset();
  ~Sim();

  // Runs `kubectl --kubeconfig ... ARGS`; returns the exit code and fills `out` (stdout+stderr).
  int kubectl(const std::string& args, std::string* out = nullptr);

  std::vector<PodView> pods();  // sorted by name
  // GET http://<ip>:2115<path>, 1 s timeout.
  static HttpAnswer get(const std::string& ip, const std::string& path);
  // Alive members in this node's /members view (self included); -1 when it does not answer.
  static int alive_seen_by(const std::string& ip);

  // All `n` pods exist, are Ready and each sees `n` members alive.
  bool wait_converged(size_t n, std::chrono::milliseconds limit,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(200));
  // Polls until pred() or the limit; true when pred() held.
  static bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit,
                         std::chrono::milliseconds poll = std::chrono::milliseconds(200));

  // GET an API path as the cluster admin: the parsed body, or null when it did not answer 200.
  nlohmann::json api_get(const std::string& path);

  // Rewrites every EndpointSlice in "esdb" once (annotation flood=<round>): a watch event that
  // every node decodes and diffs. Returns how many updates the API server accepted.
  int touch_endpointslices(int round);

  // The file ESK8S_FAULT_FILE names for a pod (on its data claim's volume, so it outlives the
  // pod).
  std::string fault_file(const std::string& pod);
  std::string dir() const { return dir_; }

 private:
  // An API request as the cluster admin: the status (0: no answer) and the body.
  std::pair<int, std::string> api(const std::string& method, const std::string& path,
                                  const std::string& body = "");

  std::unique_ptr<testcluster::ClusterProcess> cluster_;
  std::string dir_;
};

// Text replacement that must hit: throws when `from` is not in `text`.
void replace_once(std::string& text, const std::string& from, const std::string& to);

}  // namespace esk8s::scenario
