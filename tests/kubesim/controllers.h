// kubesim's controllers, each a level-triggered reconcile pass over the whole store (the
// controller manager in cluster.cc calls them after every change and periodically).
// They write through the Store directly, as in-process clients with full rights.
#pragma once

#include <cstddef>

#include "tests/kubesim/resources.h"
#include "tests/kubesim/store.h"

namespace kubesim {

// StatefulSet controller: pods <sts>-<ordinal> from the template (hostname/subdomain from
// serviceName, controller-revision-hash label), podManagementPolicy OrderedReady (create
// ordinal i only when 0..i-1 are Running and Ready; scale down from the highest ordinal one at a
// time) or Parallel (all at once), RollingUpdate from the highest ordinal, one pod at a time,
// each replacement waiting for the others to be Running and Ready (honouring partition), and
// the status block.
void reconcile_statefulsets(Store& store, const ResourceRegistry& registry);

// EndpointSlice controller: for every Service with a selector, discovery.k8s.io/v1 slices of
// at most `max_per_slice` endpoints for its pods (addresses, conditions ready/serving/
// terminating, hostname when the pod's subdomain is the service, targetRef, nodeName, zone),
// publishNotReadyAddresses honoured, labels kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by. Unchanged slices are not rewritten.
void reconcile_endpointslices(Store& store, const ResourceRegistry& registry, size_t max_per_slice);

// Garbage collector: objects whose controller ownerReference names a uid that no longer exists
// are deleted (pods gracefully).
void collect_garbage(Store& store, const ResourceRegistry& registry);

// A pod is Running with condition Ready=True and no deletionTimestamp.
bool pod_running_and_ready(const nlohmann::json& pod);

}  // namespace kubesim

namespace kubesim {

struct CsrSignerOptions {
  std::string signer_name;   // e.g. "esk8s.io/node"; empty disables the signer
  bool auto_approve = true;  // false: requests wait for `kubectl certificate approve`
  std::string ca_cert_pem, ca_key_pem;
};

// CSR approver and signer for one custom signerName (certificates.k8s.io/v1). The approver
// enforces that a service account may only ask for names of its own pods: every DNS SAN must be
// `<pod>.<service>.<namespace>.svc[...]` (or a shorter form) where the pod exists in the
// requester's namespace and runs as the requester's service account; IP SANs other than
// loopback are refused. Approved requests are signed for spec.expirationSeconds (default 1 day)
// with serverAuth/clientAuth per spec.usages; the certificate goes to status.certificate.
void reconcile_csrs(Store& store, const ResourceRegistry& registry, const CsrSignerOptions& opts);

}  // namespace kubesim
