// Which API server and credentials the plugin uses, in this order:
//   1. ESK8S_KUBECONFIG, else the KUBECONFIG environment variable: that kubeconfig;
//   2. otherwise in-cluster: KUBERNETES_SERVICE_HOST/PORT and the service-account directory;
// and ESK8S_KUBE_API, when set, replaces the server of either (credentials stay).
#pragma once

#include <string>

#include "common/status.h"
#include "kube/kube_config.h"

namespace esk8s::kube {

struct KubeConfigInputs {
  std::string kube_api;        // ESK8S_KUBE_API
  std::string kubeconfig;      // ESK8S_KUBECONFIG
  std::string kubeconfig_env;  // KUBECONFIG (first path of a colon-separated list is used)
  std::string service_host, service_port;  // KUBERNETES_SERVICE_HOST / _PORT
  std::string service_account_dir;         // ESK8S_SERVICE_ACCOUNT_DIR
};

// The inputs of this process (environment variables) plus the given ESK8S_* values.
KubeConfigInputs kube_config_inputs_from_env(std::string kube_api, std::string kubeconfig,
                                             std::string sa_dir);

Result<KubeConfig> resolve_kube_config(const KubeConfigInputs& in);

}  // namespace esk8s::kube
