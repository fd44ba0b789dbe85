// `esk8s discover`: what the plugin would see from here — the API server and credentials it
// would use, who it authenticates as, the RBAC self-check, and the peers of each namespace. The
// first thing to run when peers are not found.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "kube/permissions.h"
#include "plugin/config.h"

namespace esk8s::cli {

struct DiscoverOptions {
  std::vector<std::string>
      namespaces;          // --namespace (repeatable): replaces ESK8S_NAMESPACE/PEER_NAMESPACES
  std::string service;     // --service: replaces ESK8S_SERVICE
  std::string kubeconfig;  // --kubeconfig: replaces ESK8S_KUBECONFIG
  bool json = false;
};

// Prints the report (text, or JSON with --json). Every failure is a problem in it (a `problem:`
// line, or the "problems" array): credentials the API server rejects, an unreachable server, a
// missing permission, a permission check that could not run, a list that failed or could not be
// used (malformed, oversized), no endpoints at all. Returns 1 when there is a problem, else 0.
int discover(const plugin::ConfigInput& env, const DiscoverOptions& opts, std::ostream& out,
             std::ostream& err);

// The problem (or, for an optional one, the warning) `discover` reports when `who` lacks `p`, one
// of kube::required_permissions(plugin::permission_needs(c)) beyond the EndpointSlice reads:
// the verb, the resource, where, what the configuration needs it for and what to apply.
std::string missing_permission_sentence(const plugin::Config& c, const kube::Permission& p,
                                        const std::string& who);

}  // namespace esk8s::cli
