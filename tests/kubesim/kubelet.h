// kubesim's kubelet: runs every pod as a real process on this machine.
//
// - Scheduling: a pod without spec.nodeName is bound to the simulated node with the fewest pods.
// - Each pod gets its own loopback address (127.A.B.C, never reused while kubesim runs, so a
//   recreated pod really comes back with a new IP), a directory with its service-account token,
//   ca.crt and namespace (token rotated through a `..data` symlink swap as the kubelet does), and
//   the environment of its container (env, valueFrom fieldRef/configMapKeyRef/secretKeyRef,
//   envFrom) plus KUBERNETES_SERVICE_HOST/PORT and ESK8S_SERVICE_ACCOUNT_DIR.
// - Probes (startup gates readiness and liveness; httpGet with initialDelaySeconds,
//   periodSeconds, timeoutSeconds, successThreshold, failureThreshold) run as the kubelet runs
//   them; readiness sets the Ready condition; a failed liveness probe restarts the process.
// - restartPolicy Always/OnFailure restarts exited processes with back-off (1 s doubling to 10 s).
// - Deletion: preStop exec hook, SIGTERM, terminationGracePeriodSeconds, SIGKILL, then the pod
//   object is removed.
//
// Thread-safety: start/stop/kill from any thread; one sync thread plus one probe thread per pod.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/kubesim/auth.h"
#include "tests/kubesim/resources.h"
#include "tests/kubesim/store.h"

namespace kubesim {

struct KubeletOptions {
  std::string state_dir;  // pods/<ns>_<name>_<uid>/ live here
  std::string api_host = "127.0.0.1";
  uint16_t api_port = 0;
  std::string ca_pem;             // the API server's CA, mounted as ca.crt
  std::vector<std::string> path;  // directories searched for a container command
  int nodes = 3;                  // simulated nodes kubesim-node-0..N-1 (zones a, b, c, ...)
  std::chrono::seconds token_ttl{3600};
  // Pod IPs come from 127.<pod_network>.0.0/16 (1-254), so simulators running side by side
  // (tests, the demo) never hand out the same address.
  int pod_network = 1;
};

class Kubelet {
 public:
  Kubelet(KubeletOptions opts, Store& store, ResourceRegistry& registry, Authenticator& auth);
  ~Kubelet();

  void start();
  // Stops every pod process (SIGTERM, then SIGKILL after 2 s) and joins all threads.
  void stop();

  // SIGKILLs the pod's process (a crash); it restarts per restartPolicy. False if not running.
  bool kill_pod(const std::string& ns, const std::string& name);
  // Mints a fresh service-account token for every pod now and retires the old ones.
  void rotate_tokens();
  // The Node objects this kubelet simulates (created at start).
  int node_count() const { return opts_.nodes; }

 private:
  struct PodProcess;
  void sync_loop();
  void sync_once();
  void start_pod(const nlohmann::json& pod);
  void terminate_pod(const std::shared_ptr<PodProcess>& p, int64_t grace_seconds);
  void probe_loop(std::shared_ptr<PodProcess> p);
  void write_status(const std::shared_ptr<PodProcess>& p);
  void write_token(PodProcess& p);

  KubeletOptions opts_;
  Store& store_;
  ResourceRegistry& registry_;
  Authenticator& auth_;
  ResourceType pods_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::thread sync_thread_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<PodProcess>> pods_by_uid_;  // guarded by mu_
  uint32_t next_ip_ = 0;                                            // guarded by mu_
};

}  // namespace kubesim
