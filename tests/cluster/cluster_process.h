// esk8s-cluster as a child process for C++ tests: the real kube-apiserver, etcd, controllers and
// scheduler, with the process kubelet (docs/CLUSTER.md). Starts it on a temporary state directory,
// waits for its ready line, and gives the tests what they need to talk to it: the kubeconfig, the
// server URL, its CA, the admin's token, `kubectl`, and API requests as the admin or with any
// token. The scenario harness (tests/scenario) and the discovery, CSR and doctor tests share it.
//
// Everything waits with a deadline. Setup failures throw std::runtime_error naming what failed
// (with the last lines of the cluster's log).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace esk8s::testcluster {

struct ApiReply {
  int status = 0;  // 0: no answer (connection refused, timeout)
  std::string body;
};

class ClusterProcess {
 public:
  // Starts esk8s-cluster with `args` (e.g. {"--nodes", "0"}; the default is three Nodes and no
  // pod binaries: pass --pod-path to run pods) and waits at most 240 s for it to be ready.
  explicit ClusterProcess(const std::vector<std::string>& args = {});
  // Stops the cluster (SIGTERM, then SIGKILL after 60 s) and removes its directory unless
  // ESK8S_TEST_KEEP is set.
  ~ClusterProcess();
  ClusterProcess(const ClusterProcess&) = delete;
  ClusterProcess& operator=(const ClusterProcess&) = delete;

  const std::string& dir() const { return dir_; }  // temporary; the state is dir()/state
  std::string state_dir() const { return dir_ + "/state"; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  const std::string& server() const { return server_; }  // https://127.0.0.1:PORT
  std::string ca_file() const { return dir_ + "/state/ca.crt"; }
  const std::string& admin_token() const { return token_; }
  std::string log_tail(size_t lines = 40) const;  // the cluster's own output

  // Runs `kubectl --kubeconfig KUBECONFIG ARGS` through the shell; the exit code, and stdout +
  // stderr in `out`.
  int kubectl(const std::string& args, std::string* out = nullptr) const;
  // An API request (GET, POST, PUT, PATCH as merge-patch unless `content_type` says otherwise,
  // DELETE) as the admin, or with `token` when it is not empty. 5 s to connect, 10 s to answer.
  ApiReply api(const std::string& method, const std::string& path, const std::string& body = "",
               const std::string& token = "", const std::string& content_type = "") const;
  // GET as the admin: the parsed body, or null when the answer was not 200.
  nlohmann::json api_get(const std::string& path) const;

  // Stops the cluster now (idempotent).
  void stop();

 private:
  std::string dir_;
  std::string log_;
  std::string kubeconfig_;
  std::string server_;
  std::string host_;
  int port_ = 0;
  std::string token_;
  pid_t pid_ = -1;
};

}  // namespace esk8s::testcluster
