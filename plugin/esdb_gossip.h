// Renders a membership view in EventStoreDB's `GET /gossip` JSON format (20.10+, as KurrentDB's
// ClientClusterInfo serializes it), so existing EventStoreDB tooling and clients can read an esk8s
// cluster. Advertised addresses are the members' stable DNS identities, never pod IPs.
//
// Thread-safety: pure function.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gossip/host_status.h"
#include "gossip/message.h"

namespace esk8s::plugin {

struct GossipViewMember {
  gossip::MemberRecord record;
  std::optional<gossip::HostStatus> status;  // decoded meta; nullopt when the member sent none
  // Wall-clock time this node last saw the member change (the `timeStamp` field).
  std::chrono::system_clock::time_point last_change;
  // Known from discovery only, never heard from over gossip: /members says "discovered" (the
  // record's state is kDead, which is what /gossip's isAlive shows).
  bool discovered_only = false;
};

// {"members":[...],"serverIp":..., "serverPort":...}. `server_ip`/`server_port` are this node's
// advertised HTTP endpoint (its identity and ESK8S_HTTP_PORT).
std::string render_esdb_gossip(const std::vector<GossipViewMember>& members,
                               const std::string& server_ip, uint16_t server_port);

// esk8s's own, richer view (`GET /members`):
//   {"self": self_identity,
//    "members": [{"identity", "instanceId", "incarnation", "address", "port",
//                 "state" ("alive"|"suspect"|"dead"|"left"), "lastChange" (as timeStamp above),
//                 "isSelf", "status": {HostStatus fields in camelCase} or null}]}
std::string render_members_json(const std::vector<GossipViewMember>& members,
                                const std::string& self_identity);

// A wall-clock time the way EventStoreDB's JSON writes a UTC DateTime (Newtonsoft IsoDateFormat):
// "2024-05-06T07:08:09.1234567Z" - 100 ns resolution, trailing zeros of the fraction dropped and
// no fraction at all when it is zero.
std::string format_esdb_timestamp(std::chrono::system_clock::time_point t);

// A 16-byte id in RFC 4122 byte order as EventStoreDB prints a Guid: 8-4-4-4-12 lower-case hex.
std::string format_guid(const std::array<uint8_t, 16>& bytes);

}  // namespace esk8s::plugin
