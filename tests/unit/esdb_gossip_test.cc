// EventStoreDB-compatible /gossip JSON and esk8s's /members JSON (plugin/esdb_gossip.h).
#include "plugin/esdb_gossip.h"

#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace esk8s::plugin {
namespace {

using namespace esk8s::gossip;

using namespace std::chrono;

system_clock::time_point at(int h, int m, int s, int64_t ticks_100ns) {
  return time_point_cast<system_clock::duration>(
      sys_days{year{2024} / May / 6} + hours{h} + minutes{m} + seconds{s} +
      duration<int64_t, std::ratio<1, 10'000'000>>{ticks_100ns});
}

std::array<uint8_t, 16> counting_id() {
  std::array<uint8_t, 16> id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i);
  return id;
}

// A leader (alive), a follower the gossip declared dead, and a suspect that sent no status.
std::vector<GossipViewMember> three_members() {
  std::vector<GossipViewMember> v(3);

  v[0].record.identity = "esdb-0.esdb.db.svc.cluster.local";
  v[0].record.instance = InstanceId{0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL};
  v[0].record.incarnation = 3;
  v[0].record.address = "10.1.0.10";
  v[0].record.port = 2112;
  v[0].record.state = MemberState::kAlive;
  HostStatus leader;
  leader.state = "Leader";
  leader.writer_checkpoint = 1000;
  leader.chaser_checkpoint = 1000;
  leader.last_commit_position = 900;
  leader.epoch_position = 500;
  leader.epoch_number = 3;
  leader.epoch_id = counting_id();
  leader.node_priority = 0;
  leader.internal_tcp_port = 1112;
  leader.http_port = 2113;
  leader.version = "24.10.0";
  v[0].status = leader;
  v[0].last_change = at(7, 8, 9, 1'234'567);

  v[1].record.identity = "esdb-1.esdb.db.svc.cluster.local";
  v[1].record.instance = InstanceId{1, 2};
  v[1].record.incarnation = 0;
  v[1].record.address = "10.1.0.11";
  v[1].record.port = 2112;
  v[1].record.state = MemberState::kDead;
  v[1].record.accuser = "esdb-0.esdb.db.svc.cluster.local";
  HostStatus follower = leader;
  follower.host_ready = false;
  follower.state = "Follower";
  follower.writer_checkpoint = 800;
  follower.chaser_checkpoint = 800;
  follower.last_commit_position = 700;
  follower.node_priority = 5;
  follower.external_tcp_port = 1113;
  v[1].status = follower;
  v[1].last_change = at(7, 8, 10, 0);

  v[2].record.identity = "esdb-2.esdb.db.svc.cluster.local";
  v[2].record.address = "10.1.0.12";
  v[2].record.port = 2112;
  v[2].record.state = MemberState::kSuspect;
  v[2].last_change = at(7, 8, 9, 5'000'000);
  return v;
}

TEST_CASE("esdb gossip JSON for three members matches the golden output") {
  const std::string expected =
      R"({"members":[)"
      R"({"instanceId":"01234567-89ab-cdef-fedc-ba9876543210",)"
      R"("timeStamp":"2024-05-06T07:08:09.1234567Z","state":"Leader","isAlive":true,)"
      R"("internalTcpIp":"esdb-0.esdb.db.svc.cluster.local","internalTcpPort":0,)"
      R"("internalSecureTcpPort":1112,)"
      R"("externalTcpIp":"esdb-0.esdb.db.svc.cluster.local","externalTcpPort":0,)"
      R"("externalSecureTcpPort":0,)"
      R"("internalHttpEndPointIp":"esdb-0.esdb.db.svc.cluster.local",)"
      R"("internalHttpEndPointPort":2113,)"
      R"("httpEndPointIp":"esdb-0.esdb.db.svc.cluster.local","httpEndPointPort":2113,)"
      R"("lastCommitPosition":900,"writerCheckpoint":1000,"chaserCheckpoint":1000,)"
      R"("epochPosition":500,"epochNumber":3,"epochId":"00010203-0405-0607-0809-0a0b0c0d0e0f",)"
      R"("nodePriority":0,"isReadOnlyReplica":false,"esVersion":"24.10.0"},)"
      R"({"instanceId":"00000000-0000-0001-0000-000000000002",)"
      R"("timeStamp":"2024-05-06T07:08:10Z","state":"Follower","isAlive":false,)"
      R"("internalTcpIp":"esdb-1.esdb.db.svc.cluster.local","internalTcpPort":0,)"
      R"("internalSecureTcpPort":1112,)"
      R"("externalTcpIp":"esdb-1.esdb.db.svc.cluster.local","externalTcpPort":0,)"
      R"("externalSecureTcpPort":1113,)"
      R"("internalHttpEndPointIp":"esdb-1.esdb.db.svc.cluster.local",)"
      R"("internalHttpEndPointPort":2113,)"
      R"("httpEndPointIp":"esdb-1.esdb.db.svc.cluster.local","httpEndPointPort":2113,)"
      R"("lastCommitPosition":700,"writerCheckpoint":800,"chaserCheckpoint":800,)"
      R"("epochPosition":500,"epochNumber":3,"epochId":"00010203-0405-0607-0809-0a0b0c0d0e0f",)"
      R"("nodePriority":5,"isReadOnlyReplica":false,"esVersion":"24.10.0"},)"
      R"({"instanceId":"00000000-0000-0000-0000-000000000000",)"
      R"("timeStamp":"2024-05-06T07:08:09.5Z","state":"Unknown","isAlive":true,)"
      R"("internalTcpIp":"esdb-2.esdb.db.svc.cluster.local","internalTcpPort":0,)"
      R"("internalSecureTcpPort":0,)"
      R"("externalTcpIp":"esdb-2.esdb.db.svc.cluster.local","externalTcpPort":0,)"
      R"("externalSecureTcpPort":0,)"
      R"("internalHttpEndPointIp":"esdb-2.esdb.db.svc.cluster.local",)"
      R"("internalHttpEndPointPort":0,)"
      R"("httpEndPointIp":"esdb-2.esdb.db.svc.cluster.local","httpEndPointPort":0,)"
      R"("lastCommitPosition":-1,"writerCheckpoint":-1,"chaserCheckpoint":-1,)"
      R"("epochPosition":-1,"epochNumber":-1,"epochId":"00000000-0000-0000-0000-000000000000",)"
      R"("nodePriority":0,"isReadOnlyReplica":false,"esVersion":"unknown_version"}],)"
      R"("serverIp":"esdb-0.esdb.db.svc.cluster.local","serverPort":2113})";
  CHECK(render_esdb_gossip(three_members(), "esdb-0.esdb.db.svc.cluster.local", 2113) == expected);
}

// One alive member whose host reports `s`, rendered and parsed.
nlohmann::json render_one(const HostStatus& s) {
  std::vector<GossipViewMember> v(1);
  v[0].record.identity = "esdb-0.esdb.db.svc.cluster.local";
  v[0].record.state = MemberState::kAlive;
  v[0].status = s;
  return nlohmann::json::parse(render_esdb_gossip(v, "s", 1))["members"][0];
}

// EventStoreDB's default (secure) node: internal and external TCP with TLS only.
HostStatus secure_node() {
  HostStatus s;
  s.internal_tcp_port = 1112;
  s.external_tcp_port = 1113;
  s.http_port = 2113;
  return s;
}

TEST_CASE("esdb gossip renders a secure node's TLS ports as the secure fields and 0 as the plain") {
  HostStatus s = secure_node();
  s.state = "Leader";
  const auto j = render_one(s);
  const std::string id = "esdb-0.esdb.db.svc.cluster.local";
  CHECK(j["internalTcpIp"] == id);
  CHECK(j["internalTcpPort"] == 0);
  CHECK(j["internalSecureTcpPort"] == 1112);
  CHECK(j["externalTcpIp"] == id);
  CHECK(j["externalTcpPort"] == 0);
  CHECK(j["externalSecureTcpPort"] == 1113);
  CHECK(j["internalHttpEndPointIp"] == id);
  CHECK(j["internalHttpEndPointPort"] == 2113);
  CHECK(j["httpEndPointIp"] == id);
  CHECK(j["httpEndPointPort"] == 2113);
}

// A node started with --insecure: plain TCP only.
TEST_CASE("esdb gossip renders an insecure node's plain ports as the plain fields and 0 as secure") {
  HostStatus s;
  s.internal_insecure_tcp_port = 1112;
  s.external_insecure_tcp_port = 1113;
  s.http_port = 2113;
  const auto j = render_one(s);
  CHECK(j["internalTcpPort"] == 1112);
  CHECK(j["internalSecureTcpPort"] == 0);
  CHECK(j["externalTcpPort"] == 1113);
  CHECK(j["externalSecureTcpPort"] == 0);
  CHECK(j["externalTcpIp"] == "esdb-0.esdb.db.svc.cluster.local");
}

TEST_CASE("esdb gossip uses the hosts the node sets for each endpoint") {
  HostStatus s = secure_node();
  s.internal_tcp_host = "10.0.0.1";
  s.external_tcp_host = "esdb-0.example.com";
  s.http_host = "10.0.0.2";
  const auto j = render_one(s);
  CHECK(j["internalTcpIp"] == "10.0.0.1");
  CHECK(j["externalTcpIp"] == "esdb-0.example.com");
  CHECK(j["internalHttpEndPointIp"] == "10.0.0.2");
  CHECK(j["httpEndPointIp"] == "10.0.0.2");
}

// ClientMemberInfo: without external TCP, externalTcpIp falls back to the HTTP endpoint's host.
TEST_CASE("esdb gossip reports the HTTP host as externalTcpIp when external TCP is not served") {
  HostStatus s;
  s.internal_tcp_port = 1112;
  s.http_port = 2113;
  s.external_tcp_host = "unused.example.com";
  s.http_host = "esdb-0.example.com";
  const auto j = render_one(s);
  CHECK(j["externalTcpIp"] == "esdb-0.example.com");
  CHECK(j["externalTcpPort"] == 0);
  CHECK(j["externalSecureTcpPort"] == 0);
}

// AdvertiseHostToClientAs / AdvertiseHttpPortToClientAs / AdvertiseTcpPortToClientAs: clients see
// the advertised host and ports; the internal HTTP endpoint keeps the node's own.
TEST_CASE("esdb gossip tells clients the advertise-to-client host and ports") {
  HostStatus s = secure_node();
  s.http_host = "10.0.0.2";
  s.advertise_host_to_client_as = "lb.example.com";
  s.advertise_http_port_to_client_as = 443;
  s.advertise_tcp_port_to_client_as = 8113;
  const auto j = render_one(s);
  CHECK(j["externalTcpIp"] == "lb.example.com");
  CHECK(j["externalTcpPort"] == 8113);
  CHECK(j["externalSecureTcpPort"] == 8113);
  CHECK(j["httpEndPointIp"] == "lb.example.com");
  CHECK(j["httpEndPointPort"] == 443);
  CHECK(j["internalHttpEndPointIp"] == "10.0.0.2");
  CHECK(j["internalHttpEndPointPort"] == 2113);
  CHECK(j["internalTcpIp"] == "esdb-0.esdb.db.svc.cluster.local");
}

TEST_CASE("esdb gossip JSON for no members is an empty list") {
  CHECK(render_esdb_gossip({}, "self", 2113) ==
        R"({"members":[],"serverIp":"self","serverPort":2113})");
}

TEST_CASE("esdb gossip reports a left member as not alive and an empty state as Unknown") {
  std::vector<GossipViewMember> v = three_members();
  v[0].record.state = MemberState::kLeft;
  v[0].status->state.clear();
  v[0].status->version.clear();
  const auto j = nlohmann::json::parse(render_esdb_gossip(v, "s", 1));
  CHECK(j["members"][0]["isAlive"] == false);
  CHECK(j["members"][0]["state"] == "Unknown");
  CHECK(j["members"][0]["esVersion"] == "unknown_version");
}

TEST_CASE("esdb timestamps use 100 ns ticks with trailing zeros dropped") {
  CHECK(format_esdb_timestamp(at(0, 0, 0, 0)) == "2024-05-06T00:00:00Z");
  CHECK(format_esdb_timestamp(at(23, 59, 59, 9'999'999)) == "2024-05-06T23:59:59.9999999Z");
  CHECK(format_esdb_timestamp(at(1, 2, 3, 100'000)) == "2024-05-06T01:02:03.01Z");
  CHECK(format_esdb_timestamp(at(1, 2, 3, 1)) == "2024-05-06T01:02:03.0000001Z");
  // Below 100 ns is cut, not rounded.
  CHECK(format_esdb_timestamp(at(1, 2, 3, 0) + nanoseconds(99)) == "2024-05-06T01:02:03Z");
  CHECK(format_esdb_timestamp(system_clock::time_point{}) == "1970-01-01T00:00:00Z");
}

TEST_CASE("guids print in RFC 4122 byte order as lower-case 8-4-4-4-12") {
  std::array<uint8_t, 16> id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xA0 + i);
  CHECK(format_guid(id) == "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
  CHECK(format_guid({}) == "00000000-0000-0000-0000-000000000000");
}

TEST_CASE("members JSON lists every member with its status or null") {
  const std::string expected =
      R"({"self":"esdb-0.esdb.db.svc.cluster.local","members":[)"
      R"({"identity":"esdb-0.esdb.db.svc.cluster.local",)"
      R"("instanceId":"01234567-89ab-cdef-fedc-ba9876543210","incarnation":3,)"
      R"("address":"10.1.0.10","port":2112,"state":"alive",)"
      R"("lastChange":"2024-05-06T07:08:09.1234567Z","isSelf":true,)"
      R"("status":{"hostReady":true,"state":"Leader","writerCheckpoint":1000,)"
      R"("chaserCheckpoint":1000,"lastCommitPosition":900,"epochPosition":500,)"
      R"("epochNumber":3,"nodePriority":0,"epochId":"00010203-0405-0607-0809-0a0b0c0d0e0f",)"
      R"("readOnlyReplica":false,"internalTcpPort":1112,"externalTcpPort":0,"httpPort":2113,)"
      R"("version":"24.10.0","internalInsecureTcpPort":0,"externalInsecureTcpPort":0,)"
      R"("advertiseHttpPortToClientAs":0,"advertiseTcpPortToClientAs":0,"internalTcpHost":"",)"
      R"("externalTcpHost":"","httpHost":"","advertiseHostToClientAs":""}},)"
      R"({"identity":"esdb-1.esdb.db.svc.cluster.local",)"
      R"("instanceId":"00000000-0000-0001-0000-000000000002","incarnation":0,)"
      R"("address":"10.1.0.11","port":2112,"state":"dead",)"
      R"("lastChange":"2024-05-06T07:08:10Z","isSelf":false,)"
      R"("status":{"hostReady":false,"state":"Follower","writerCheckpoint":800,)"
      R"("chaserCheckpoint":800,"lastCommitPosition":700,"epochPosition":500,)"
      R"("epochNumber":3,"nodePriority":5,"epochId":"00010203-0405-0607-0809-0a0b0c0d0e0f",)"
      R"("readOnlyReplica":false,"internalTcpPort":1112,"externalTcpPort":1113,"httpPort":2113,)"
      R"("version":"24.10.0","internalInsecureTcpPort":0,"externalInsecureTcpPort":0,)"
      R"("advertiseHttpPortToClientAs":0,"advertiseTcpPortToClientAs":0,"internalTcpHost":"",)"
      R"("externalTcpHost":"","httpHost":"","advertiseHostToClientAs":""}},)"
      R"({"identity":"esdb-2.esdb.db.svc.cluster.local",)"
      R"("instanceId":"00000000-0000-0000-0000-000000000000","incarnation":0,)"
      R"("address":"10.1.0.12","port":2112,"state":"suspect",)"
      R"("lastChange":"2024-05-06T07:08:09.5Z","isSelf":false,"status":null}]})";
  CHECK(render_members_json(three_members(), "esdb-0.esdb.db.svc.cluster.local") == expected);
}

TEST_CASE("rendering invalid UTF-8 from the network does not throw") {
  std::vector<GossipViewMember> v = three_members();
  v[2].record.identity = "bad\xff\xfe";
  v[0].status->version = "\xc3";
  std::string gossip;
  std::string members;
  CHECK_NOTHROW(gossip = render_esdb_gossip(v, "self\xff", 1));
  CHECK_NOTHROW(members = render_members_json(v, "self"));
  CHECK(nlohmann::json::accept(gossip));
  CHECK(nlohmann::json::accept(members));
  CHECK(gossip.find("bad\xef\xbf\xbd\xef\xbf\xbd") != std::string::npos);  // U+FFFD each
}

}  // namespace
}  // namespace esk8s::plugin
