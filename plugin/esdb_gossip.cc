// EventStoreDB-compatible `GET /gossip` JSON, and esk8s's `/members` JSON.
//
// What was checked against EventStoreDB's sources (EventStore/EventStore, now kurrent-io/KurrentDB;
// read for the format only):
//  - src/EventStore.Core/Cluster/ClientClusterInfo.cs: the /gossip body is ClientClusterInfo
//    {Members, ServerIp, ServerPort}; each ClientMemberInfo has, in this order: InstanceId,
//    TimeStamp, State, IsAlive, InternalTcpIp, InternalTcpPort, InternalSecureTcpPort,
//    ExternalTcpIp, ExternalTcpPort, ExternalSecureTcpPort, InternalHttpEndPointIp,
//    InternalHttpEndPointPort, HttpEndPointIp, HttpEndPointPort, LastCommitPosition,
//    WriterCheckpoint, ChaserCheckpoint, EpochPosition, EpochNumber, EpochId, NodePriority,
//    IsReadOnlyReplica, ESVersion. Newtonsoft writes properties in declaration order.
//  - src/EventStore.Core/Services/Transport/Http/Controllers/GossipController.cs and
//    src/EventStore.Core/Services/Transport/Http/Format.cs (SendPublicGossip): GET /gossip
//    serializes that object with the response codec.
//  - src/EventStore.Transport.Http/Codecs/JsonCodec.cs (ToSettings): camelCase property names
//    (CamelCasePropertyNamesContractResolver, so "ESVersion" becomes "esVersion"),
//    StringEnumConverter (State is the VNodeState name, e.g. "Leader"), IsoDateFormat,
//    DefaultValueHandling.Include (zeros and false are written), nulls omitted.
//  - Newtonsoft.Json Src/Newtonsoft.Json/Utilities/DateTimeUtils.cs (WriteDefaultIsoDate): a UTC
//    DateTime is "yyyy-MM-ddTHH:mm:ss" + ".fffffff" with trailing zeros removed (no fraction
//    when it is zero) + "Z". Guids are written as Guid.ToString("D"): 8-4-4-4-12 lower-case hex.
//  - ClientClusterInfo.cs, ClientMemberInfo(MemberInfo): where each endpoint field comes from.
//    InternalTcpIp is the internal TCP endpoint's host (plain, else secure); InternalTcpPort and
//    InternalSecureTcpPort are the plain and the TLS endpoint's ports, 0 for the one not served.
//    InternalHttpEndPointIp/Port are the HTTP endpoint's. HttpEndPointIp is AdvertiseHostToClientAs
//    when set, else the HTTP endpoint's host; HttpEndPointPort is AdvertiseHttpPortToClientAs
//    when non-zero, else the HTTP port. ExternalTcpIp is AdvertiseHostToClientAs when set, else
//    the external TLS endpoint's host, else the plain one's, else the HTTP endpoint's host.
//    ExternalTcpPort and ExternalSecureTcpPort are both AdvertiseTcpPortToClientAs when it is
//    non-zero, else the plain and the TLS endpoint's ports (0 when not served).
//  - ClusterVNode (the node builder): a secure node (the default) serves internal TCP with TLS
//    only, so it reports internalTcpPort 0 and internalSecureTcpPort = the port, and external TCP
//    (when enabled) likewise; a node started with --insecure reports the plain ports and 0 for
//    the secure ones. The host says which (plugin.h: *_tcp_port are the TLS ports, ABI 1.1's
//    *_insecure_tcp_port the plain ones).
//  - MemberInfo.cs: IsAlive is the node's current belief that the member is up (clients skip
//    members with IsAlive false). A suspect member has not been declared down yet, so esk8s
//    reports alive and suspect members as alive, dead and left ones as not alive.
//  - VNodeState has a member named "Unknown"; it is used when a member sent no status.
//  - VersionInfo.cs: UnknownVersion is "unknown_version"; used when a member sent no version.
//  - The epoch id travels in RFC 4122 byte order (host_status.h), which is the order of the
//    textual Guid form, so it is printed byte by byte.
//
// Addresses: an endpoint whose host the member's host left empty (every ABI 1.0 host) is the
// member's identity (its stable DNS name), never its pod IP; a host may set names or addresses of
// its own, as EventStoreDB's advertise-as options do. Unknown numbers stay -1 (as
// MemberInfo.Initial does); missing ports are 0.
#include "plugin/esdb_gossip.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace esk8s::plugin {
namespace {

using gossip::HostStatus;
using gossip::MemberRecord;
using gossip::MemberState;

using nlohmann::ordered_json;

constexpr const char* kUnknownState = "Unknown";
constexpr const char* kUnknownVersion = "unknown_version";

bool is_alive(MemberState s) { return s == MemberState::kAlive || s == MemberState::kSuspect; }

// Invalid UTF-8 (identities come from the network) is replaced rather than thrown on.
std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

ordered_json esdb_member(const GossipViewMember& m) {
  const MemberRecord& r = m.record;
  const HostStatus s = m.status.value_or(HostStatus{});
  const bool has = m.status.has_value();
  auto host = [&](const std::string& h) -> const std::string& {
    return h.empty() ? r.identity : h;
  };
  const bool external_tcp_served = s.external_tcp_port != 0 || s.external_insecure_tcp_port != 0;
  const std::string& external_tcp_ip =
      !s.advertise_host_to_client_as.empty() ? s.advertise_host_to_client_as
      : external_tcp_served                  ? host(s.external_tcp_host)
                                             : host(s.http_host);
  const std::string& http_ip = !s.advertise_host_to_client_as.empty()
                                   ? s.advertise_host_to_client_as
                                   : host(s.http_host);
  const uint16_t atp = s.advertise_tcp_port_to_client_as;
  ordered_json j;
  j["instanceId"] = r.instance.to_guid();
  j["timeStamp"] = format_esdb_timestamp(m.last_change);
  j["state"] = has && !s.state.empty() ? s.state : kUnknownState;
  j["isAlive"] = is_alive(r.state);
  j["internalTcpIp"] = host(s.internal_tcp_host);
  j["internalTcpPort"] = s.internal_insecure_tcp_port;
  j["internalSecureTcpPort"] = s.internal_tcp_port;
  j["externalTcpIp"] = external_tcp_ip;
  j["externalTcpPort"] = atp != 0 ? atp : s.external_insecure_tcp_port;
  j["externalSecureTcpPort"] = atp != 0 ? atp : s.external_tcp_port;
  j["internalHttpEndPointIp"] = host(s.http_host);
  j["internalHttpEndPointPort"] = s.http_port;
  j["httpEndPointIp"] = http_ip;
  j["httpEndPointPort"] =
      s.advertise_http_port_to_client_as != 0 ? s.advertise_http_port_to_client_as : s.http_port;
  j["lastCommitPosition"] = s.last_commit_position;
  j["writerCheckpoint"] = s.writer_checkpoint;
  j["chaserCheckpoint"] = s.chaser_checkpoint;
  j["epochPosition"] = s.epoch_position;
  j["epochNumber"] = s.epoch_number;
  j["epochId"] = format_guid(s.epoch_id);
  j["nodePriority"] = s.node_priority;
  j["isReadOnlyReplica"] = s.read_only_replica;
  j["esVersion"] = has && !s.version.empty() ? s.version : kUnknownVersion;
  return j;
}

ordered_json status_json(const HostStatus& s) {
  ordered_json j;
  j["hostReady"] = s.host_ready;
  j["state"] = s.state;
  j["writerCheckpoint"] = s.writer_checkpoint;
  j["chaserCheckpoint"] = s.chaser_checkpoint;
  j["lastCommitPosition"] = s.last_commit_position;
  j["epochPosition"] = s.epoch_position;
  j["epochNumber"] = s.epoch_number;
  j["nodePriority"] = s.node_priority;
  j["epochId"] = format_guid(s.epoch_id);
  j["readOnlyReplica"] = s.read_only_replica;
  j["internalTcpPort"] = s.internal_tcp_port;
  j["externalTcpPort"] = s.external_tcp_port;
  j["httpPort"] = s.http_port;
  j["version"] = s.version;
  j["internalInsecureTcpPort"] = s.internal_insecure_tcp_port;
  j["externalInsecureTcpPort"] = s.external_insecure_tcp_port;
  j["advertiseHttpPortToClientAs"] = s.advertise_http_port_to_client_as;
  j["advertiseTcpPortToClientAs"] = s.advertise_tcp_port_to_client_as;
  j["internalTcpHost"] = s.internal_tcp_host;
  j["externalTcpHost"] = s.external_tcp_host;
  j["httpHost"] = s.http_host;
  j["advertiseHostToClientAs"] = s.advertise_host_to_client_as;
  return j;
}

}  // namespace

std::string format_esdb_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  using ticks = duration<int64_t, std::ratio<1, 10'000'000>>;  // .NET DateTime ticks
  const ticks tk = floor<ticks>(t.time_since_epoch());
  const days d = floor<days>(tk);
  const year_month_day ymd{sys_days{d}};
  ticks rem = tk - d;
  const hours h = floor<hours>(rem);
  rem -= h;
  const minutes mi = floor<minutes>(rem);
  rem -= mi;
  const seconds se = floor<seconds>(rem);
  rem -= se;
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), static_cast<int>(h.count()),
                        static_cast<int>(mi.count()), static_cast<int>(se.count()));
  std::string out(buf, static_cast<size_t>(n));
  int64_t fraction = rem.count();  // 0 .. 9'999'999
  if (fraction != 0) {
    int digits = 7;
    while (fraction % 10 == 0) {
      fraction /= 10;
      --digits;
    }
    n = std::snprintf(buf, sizeof buf, ".%0*lld", digits, static_cast<long long>(fraction));
    out.append(buf, static_cast<size_t>(n));
  }
  out += 'Z';
  return out;
}

std::string format_guid(const std::array<uint8_t, 16>& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0xF];
  }
  return out;
}

std::string render_esdb_gossip(const std::vector<GossipViewMember>& members,
                               const std::string& server_ip, uint16_t server_port) {
  ordered_json j;
  ordered_json list = ordered_json::array();
  for (const GossipViewMember& m : members) list.push_back(esdb_member(m));
  j["members"] = std::move(list);
  j["serverIp"] = server_ip;
  j["serverPort"] = server_port;
  return dump(j);
}

std::string render_members_json(const std::vector<GossipViewMember>& members,
                                const std::string& self_identity) {
  ordered_json j;
  j["self"] = self_identity;
  ordered_json list = ordered_json::array();
  for (const GossipViewMember& m : members) {
    const MemberRecord& r = m.record;
    ordered_json e;
    e["identity"] = r.identity;
    e["instanceId"] = r.instance.to_guid();
    e["incarnation"] = r.incarnation;
    e["address"] = r.address;
    e["port"] = r.port;
    e["state"] = m.discovered_only ? "discovered" : to_string(r.state);
    e["lastChange"] = format_esdb_timestamp(m.last_change);
    e["isSelf"] = r.identity == self_identity;
    e["status"] = m.status ? status_json(*m.status) : ordered_json(nullptr);
    list.push_back(std::move(e));
  }
  j["members"] = std::move(list);
  return dump(j);
}

}  // namespace esk8s::plugin
