// The metric families of the runtime's parts: every name, help text and label of the members,
// gossip core and transport, TLS and discovery samples /metrics serves. The runtime hands in its
// parts' statistics; these are pure functions of their arguments (the one clock reading, `now`,
// is one), so the names live in one place and tests can check them without a running node.
// (metrics.h renders the samples; it stays free of these dependencies for the HTTP fuzzer.)
#pragma once

#include <chrono>
#include <vector>

#include "plugin/metrics.h"

namespace esk8s::gossip {
struct CoreStats;
struct TransportStats;
}  // namespace esk8s::gossip

namespace esk8s::discovery {
struct DiscoveryStats;
struct Peer;
}  // namespace esk8s::discovery

namespace esk8s::plugin {

struct MemberView;
struct TlsState;

// esk8s_members by state (discovered, alive, suspect, dead, left; each present, self included).
void append_member_metrics(std::vector<Metric>& out, const std::vector<MemberView>& members);

// The gossip core's and transport's counters and gauges (esk8s_gossip_*); every reason label of
// a refusal or drop is present from the start at 0, so "alert on any growth" sees the first one.
void append_gossip_metrics(std::vector<Metric>& out, const gossip::CoreStats& core,
                           int awareness, const gossip::TransportStats& transport);

// The certificate's expiry (seconds from `now`, only once there is one), renewals, failures and
// warnings (esk8s_tls_*).
void append_tls_metrics(std::vector<Metric>& out, const TlsState& tls,
                        std::chrono::system_clock::time_point now);

// Kubernetes discovery's watch counters, API errors by code, latency, and the peers it lists by
// EndpointSlice condition (esk8s_discovery_*).
void append_discovery_metrics(std::vector<Metric>& out, const discovery::DiscoveryStats& stats,
                              const std::vector<discovery::Peer>& peers);

}  // namespace esk8s::plugin
