// The `kubernetes` discovery source: list+watch the EndpointSlices of the headless service in
// each configured namespace (one WatchState and one driver thread per namespace, so it works
// with per-namespace RoleBindings), and hand the union of their endpoints to the runtime as a
// PeerSet.
//
// Never a silent one-member cluster: 401/403/5xx/outages keep the last known peers and retry
// with backoff; a 403 runs the RBAC self-check, whose error names every missing
// (verb, resource, namespace), the user, and the manifest that grants it.
//
// Thread-safety: start/stop from one thread; `on_peers` is called from the driver threads,
// serialised by an internal mutex.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/logger.h"
#include "discovery/endpointslice.h"
#include "kube/kube_client.h"
#include "kube/permissions.h"
#include "discovery/peer.h"
#include "discovery/peer_model.h"
#include "kube/watch_state.h"

namespace esk8s::discovery {

struct KubernetesSourceOptions {
  std::string service;
  std::vector<std::string> namespaces;  // the own namespace first
  std::string cluster_domain;
  std::string self_pod;
  std::string self_namespace;
  uint16_t default_gossip_port = 0;
  kube::WatchConfig watch;
  uint64_t seed = 0;  // for the state machines' jitter
};

// One permission discovery needs (kube/permissions.h) and the API's answer.
using PermissionCheck = kube::AccessCheck;

// Who the API server says the client is (SelfSubjectReview).
struct SelfReview {
  std::string user;  // the username; empty when the review failed
  int status = 0;    // the review's HTTP status; 0 when there was no response
  std::string error;  // why `user` is empty: the API's message or the connection error
  // The API server refused the credentials themselves (401): every other request fails too.
  bool credentials_rejected() const { return status == 401; }
};

struct DiscoveryStats {
  uint64_t relists = 0, watch_restarts = 0, errors = 0, events = 0;
  // Failed API requests by HTTP code: 0 = no response (connection error, timeout), 200 = a
  // response that could not be used (a malformed or oversized list page or watch event).
  std::map<int, uint64_t> errors_by_code;
  int64_t last_sync_unix_ms = 0;           // last successful list or event
  bool synced = false;                     // every namespace listed at least once
  // Discovery latency: from an EndpointSlice's last-change-trigger-time annotation (when the
  // change happened in the cluster) to its watch event being applied here.
  uint64_t latency_count = 0;
  double latency_sum_seconds = 0;
  // The RBAC self-check: how many runs found permissions missing, and the last finding (one
  // sentence per permission, newline-separated; empty when the last run passed or none ran).
  uint64_t rbac_missing_checks = 0;
  std::string rbac_missing;
  // Unix ms since when some namespace's requests have failed with no success in between (0: none
  // failing). Successes: a list page, a watch event (bookmarks too), a clean watch end, and a
  // watch open longer than kWatchOpenCounts (the server answered it).
  int64_t failing_since_unix_ms = 0;
};

inline constexpr std::chrono::seconds kWatchOpenCounts{10};

// The API path and query of one page of the EndpointSlices of `service` in namespace `ns`:
// label selector kubernetes.io/service-name=<service>, `limit`, and `continue` when the token is
// not empty (values percent-encoded).
std::string slice_list_path(const std::string& ns, const std::string& service, uint32_t limit,
                            const std::string& continue_token);

class KubernetesSource {
 public:
  using PeersCallback = std::function<void(const PeerSet& peers)>;

  KubernetesSource(KubernetesSourceOptions opts, std::unique_ptr<kube::KubeClient> client,
                   Logger log, PeersCallback on_peers);
  ~KubernetesSource();

  void start();
  // Cancels in-flight requests and joins the driver threads.
  void stop();

  DiscoveryStats stats() const;

  // Who the client authenticates as (SelfSubjectReview), and why not when the API cannot say.
  static SelfReview review_self(kube::KubeClient& client);
  // review_self(client).user: "" when the API cannot say.
  static std::string whoami(kube::KubeClient& client);
  // SelfSubjectAccessReviews for what discovery needs of kube::required_permissions: list and
  // watch of endpointslices in every namespace (the first is the own one).
  static std::vector<PermissionCheck> check_permissions(kube::KubeClient& client,
                                                        const std::vector<std::string>& namespaces);
  // One error sentence per missing permission, e.g.
  // `cannot watch endpointslices.discovery.k8s.io in namespace "prod" as
  // system:serviceaccount:prod:esdb; apply rbac/role.yaml`.
  static std::vector<std::string> describe_missing(const std::vector<PermissionCheck>& checks,
                                                   const std::string& user, bool multi_namespace);

 private:
  void run_namespace(const std::string& ns, uint64_t seed);
  void publish(const std::string& ns, const std::map<std::string, EndpointSlice>& slices,
               bool synced);
  void rbac_self_check();
  // Sleeps until `until` or stop; false when stopping.
  bool sleep_until(std::chrono::steady_clock::time_point until);

  const KubernetesSourceOptions opts_;
  std::unique_ptr<kube::KubeClient> client_;
  Logger log_;
  PeersCallback on_peers_;
  std::atomic<bool> running_{false};
  std::vector<std::thread> threads_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, std::vector<EndpointSlice>> slices_by_ns_;  // guarded by mu_
  std::map<std::string, bool> synced_by_ns_;                        // guarded by mu_
  PeerSet last_peers_;                                              // guarded by mu_
  bool published_once_ = false;                                     // guarded by mu_
  ChangedWarnings peer_warnings_;                                   // guarded by mu_
  DiscoveryStats stats_;                                            // guarded by mu_
  std::map<std::string, std::array<uint64_t, 3>>
      counters_by_ns_;  // guarded by mu_: relists, watch restarts, errors
  std::chrono::steady_clock::time_point last_rbac_check_{};  // guarded by mu_
  std::map<std::string, int64_t> failing_since_by_ns_;       // guarded by mu_: unix ms, 0 none
  std::map<std::string, std::chrono::steady_clock::time_point>
      watch_open_since_by_ns_;  // guarded by mu_: the watch in flight, by namespace
};

}  // namespace esk8s::discovery
