// Renders a membership view in EventStoreDB's `GET /gossip` JSON format (20.10+, as KurrentDB's
// ClientClusterInfo serializes it), so existing EventStoreDB tooling and clients can read an esk8s
// cluster. Advertised addresses are the members' stable DNS identities, never pod IPs.
//
// Thread-safety: pure function.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gossip/host_status.h"
#include "gossip/message.h"

namespace esk8s::gossip {

struct GossipViewMember {
  MemberRecord record;
  std::optional<HostStatus> status;  // decoded meta; nullopt when the member sent none
  // Wall-clock time this node last saw the member change (the `timeStamp` field).
  std::chrono::system_clock::time_point last_change;
};

// {"members":[...],"serverIp":..., "serverPort":...}. `server_ip`/`server_port` are this node's
// advertised HTTP endpoint (its identity and ESK8S_HTTP_PORT).
std::string render_esdb_gossip(const std::vector<GossipViewMember>& members,
                               const std::string& server_ip, uint16_t server_port);

}  // namespace esk8s::gossip
