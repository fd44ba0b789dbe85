// `esk8s discover`: what the plugin would see from here — the API server and credentials it
// would use, who it authenticates as, the RBAC self-check, and the peers of each namespace. The
// first thing to run when peers are not found.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "plugin/config.h"

namespace esk8s::cli {

struct DiscoverOptions {
  std::vector<std::string>
      namespaces;          // --namespace (repeatable): replaces ESK8S_NAMESPACE/PEER_NAMESPACES
  std::string service;     // --service: replaces ESK8S_SERVICE
  std::string kubeconfig;  // --kubeconfig: replaces ESK8S_KUBECONFIG
  bool json = false;
};

// Returns 0 when every namespace could be listed with the needed permissions, 1 otherwise.
int discover(const plugin::ConfigInput& env, const DiscoverOptions& opts, std::ostream& out,
             std::ostream& err);

}  // namespace esk8s::cli
