// The `static` discovery source: a fixed list of identities and addresses, for tests, demos and
// clusters outside Kubernetes. Configured with ESK8S_STATIC_PEERS.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "discovery/peer.h"

namespace esk8s::discovery {

// Parses a comma-separated list of `identity=address[:port]` entries, e.g.
//   "esdb-0.esdb.demo.svc.cluster.local=127.0.10.1:2114,esdb-1.esdb.demo.svc.cluster.local=[::1]"
// The identity must be a DNS subdomain; the address an IPv4 literal, a bracketed IPv6 literal or
// a DNS name; the port 1-65535 (default `default_port`). Identities must be unique. Whitespace
// around entries is ignored, and so are empty entries, but a list without any entry ("", ",",
// " , ") is an error: it would make a node a ready cluster of one. Errors name the offending
// entry (escaped and cut at 200 bytes) and the expected format.
Result<PeerSet> parse_static_peers(std::string_view text, uint16_t default_port);

}  // namespace esk8s::discovery
