// A whole simulated cluster: the object store, the API server, the kubelet and the controller
// manager (StatefulSet, EndpointSlice, ServiceAccount, garbage collector), plus the admin API
// under /kubesim/ that tests and scripts use to inject faults. The `kubesim` binary is a thin
// command line around it; tests embed it directly.
//
// Thread-safety: start/stop from one thread; everything else is internally synchronised.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "tests/kubesim/api_server.h"
#include "tests/kubesim/auth.h"
#include "tests/kubesim/controllers.h"
#include "tests/kubesim/kubelet.h"
#include "tests/kubesim/resources.h"
#include "tests/kubesim/store.h"

namespace kubesim {

struct ClusterOptions {
  std::string state_dir;                 // required; created if missing
  uint16_t port = 0;                     // API server port (0 = any free port)
  std::string tokens_file;               // optional --token-auth-file style CSV
  std::chrono::seconds token_grace{10};  // a rotated-out token keeps working this long
  std::chrono::seconds token_ttl{3600};  // lifetime of pods' service-account tokens
  std::vector<std::string> bin_path;     // where pod commands are looked up first
  int nodes = 3;
  int pod_network = 1;  // pod IPs from 127.<pod_network>.0.0/16 (1-254)
  size_t max_endpoints_per_slice = 100;
  size_t history = 1000;  // watch events kept per resource
  bool watch_gone_as_http_status = false;
  std::chrono::milliseconds bookmark_interval{5000};
  // The CSR signer (certificates.k8s.io/v1) for this custom signerName; empty disables it. Its
  // CA is generated at start and written to DIR/csr-ca.crt.
  std::string csr_signer_name = "esk8s.io/node";
  bool csr_auto_approve = true;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions opts);
  ~Cluster();

  esk8s::Status start();
  // Stops every pod process, closes every watch, stops serving.
  void stop();

  std::string url() const { return api_->url(); }
  std::string kubeconfig_path() const { return opts_.state_dir + "/kubeconfig"; }
  ApiServer& api() { return *api_; }
  Store& store() { return store_; }
  ResourceRegistry& registry() { return registry_; }
  Kubelet& kubelet() { return *kubelet_; }
  Authenticator& auth() { return auth_; }

 private:
  void controller_loop();
  void seed();
  void admin(const httplib::Request& req, httplib::Response& res);

  ClusterOptions opts_;
  Store store_;
  ResourceRegistry registry_;
  Authenticator auth_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<Kubelet> kubelet_;
  CsrSignerOptions csr_;
  std::atomic<bool> running_{false};
  std::thread controllers_;
};

}  // namespace kubesim
