#include "kube/kube_config_resolve.h"

#include <cstdlib>

namespace esk8s::kube {

KubeConfigInputs kube_config_inputs_from_env(std::string kube_api, std::string kubeconfig,
                                             std::string sa_dir) {
  auto env = [](const char* k) {
    const char* v = std::getenv(k);
    return std::string(v ? v : "");
  };
  KubeConfigInputs in;
  in.kube_api = std::move(kube_api);
  in.kubeconfig = std::move(kubeconfig);
  in.kubeconfig_env = env("KUBECONFIG");
  in.service_host = env("KUBERNETES_SERVICE_HOST");
  in.service_port = env("KUBERNETES_SERVICE_PORT");
  in.service_account_dir = std::move(sa_dir);
  return in;
}

Result<KubeConfig> resolve_kube_config(const KubeConfigInputs& in) {
  std::string path = in.kubeconfig;
  if (path.empty() && !in.kubeconfig_env.empty())
    path = in.kubeconfig_env.substr(0, in.kubeconfig_env.find(':'));
  Result<KubeConfig> cfg = Status::internal("unset");
  if (!path.empty()) {
    cfg = load_kubeconfig(path);
  } else if (!in.service_host.empty()) {
    cfg = in_cluster_config(in.service_host, in.service_port, in.service_account_dir);
  } else if (!in.kube_api.empty()) {
    // An explicit server with the mounted service-account credentials.
    cfg = in_cluster_config("127.0.0.1", "443", in.service_account_dir);
  } else {
    return Status::config(
        "no Kubernetes API to talk to: not in a cluster (KUBERNETES_SERVICE_HOST is not set) and "
        "no "
        "kubeconfig (set ESK8S_KUBECONFIG or KUBECONFIG), or use ESK8S_DISCOVERY=static|dns");
  }
  if (!cfg.is_ok()) return cfg.status();
  if (!in.kube_api.empty()) {
    cfg->server = in.kube_api;
    cfg->source += " with server " + in.kube_api + " (ESK8S_KUBE_API)";
  }
  return cfg;
}

}  // namespace esk8s::kube
