// What a plugin configuration asks of the Kubernetes API, for the one permission list
// (kube/permissions.h): `esk8s discover` checks exactly what a member with this configuration
// will do.
#pragma once

#include "kube/permissions.h"
#include "plugin/config.h"

namespace esk8s::plugin {

// Kubernetes discovery watches the own namespace and ESK8S_PEER_NAMESPACES; the pod and its
// StatefulSet are read when ESK8S_READY_MODE=auto or ESK8S_CLUSTER_SIZE is unset (kubernetes
// discovery only, as runtime.cc does); CSRs in kubernetes-csr mode; Events with ESK8S_EVENTS on
// and kubernetes discovery; the Lease of ESK8S_DISRUPTION_LEASE when set.
kube::PermissionNeeds permission_needs(const Config& c);

}  // namespace esk8s::plugin
