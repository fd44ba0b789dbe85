// The peer model of the `kubernetes` discovery source: which members the EndpointSlices of the
// headless service describe, as the PeerSet gossip consumes. A pure function of the slices, so
// the same slices always give the same peers (and the same warnings).
//
// Contract of peers_from_slices:
//   - only slices whose service_name equals ctx.service are read; they may come from several
//     namespaces and the result is the union of their endpoints;
//   - only IPv4 and IPv6 slices are read; FQDN slices (and unknown address types) are skipped
//     with a warning;
//   - identity = <hostname>.<service>.<namespace>.svc.<cluster_domain>, namespace being the
//     slice's. Without a hostname the endpoint's targetRef.name (a Pod) stands in, with a warning
//     naming the endpoint (once per endpoint, however many slices repeat it). Endpoints with
//     neither, with no address, or whose identity would not be a valid DNS name are skipped with
//     a warning;
//   - an endpoint listed by several slices (normal while the controller moves it) becomes one
//     peer: the ready entry wins, then the one not terminating, then the serving one, then the
//     first in input order;
//   - not-ready endpoints are peers (ready=false); terminating endpoints are peers with
//     terminating=true, which gossip reports as leaving;
//   - the local pod (ctx.self_pod_name in ctx.self_namespace, matched by targetRef or by
//     identity) is excluded;
//   - gossip_port is the slice's port named "gossip" (when 1-65535), else
//     ctx.default_gossip_port;
//   - the result is sorted by identity; warnings are sentences for the operator, appended to
//     *warnings when it is not null.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "discovery/endpointslice.h"
#include "discovery/peer.h"

namespace esk8s::discovery {

struct PeerContext {
  std::string service;               // headless service name
  std::string cluster_domain;        // e.g. cluster.local
  std::string self_pod_name;         // the local pod, excluded
  std::string self_namespace;        // the local pod's namespace
  uint16_t default_gossip_port = 0;  // when no slice port named "gossip"
};

PeerSet peers_from_slices(const std::vector<EndpointSlice>& slices, const PeerContext& ctx,
                          std::vector<std::string>* warnings);

// Remembers the warnings of the last peer computation, so that a driver that recomputes peers at
// every EndpointSlice change logs a warning when it appears (or reappears after it was gone),
// not at every recomputation. Thread-safety: none; a plain value.
class ChangedWarnings {
 public:
  // The warnings of `current` that the previous call's `current` did not hold, in their order,
  // each once. Remembers `current` for the next call.
  std::vector<std::string> fresh(const std::vector<std::string>& current);

 private:
  std::set<std::string> last_;
};

}  // namespace esk8s::discovery
