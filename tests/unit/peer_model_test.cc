#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "discovery/peer_model.h"

using namespace esk8s::discovery;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

size_t count_containing(const std::vector<std::string>& warnings, const std::string& part) {
  size_t n = 0;
  for (const auto& w : warnings) n += contains(w, part) ? 1 : 0;
  return n;
}

PeerContext context() { return PeerContext{"esdb", "cluster.local", "esdb-0", "prod", 2114}; }

// A StatefulSet pod endpoint: hostname == pod name.
Endpoint pod(const std::string& name, const std::string& ip, const std::string& ns = "prod") {
  Endpoint ep;
  ep.addresses = {ip};
  ep.hostname = name;
  ep.target_kind = "Pod";
  ep.target_name = name;
  ep.target_namespace = ns;
  ep.target_uid = "uid-" + name;
  ep.node_name = "node-" + name;
  ep.zone = "zone-a";
  return ep;
}

EndpointSlice slice(const std::string& name, std::vector<Endpoint> endpoints,
                    const std::string& ns = "prod", const std::string& type = "IPv4") {
  EndpointSlice s;
  s.name = name;
  s.namespace_name = ns;
  s.service_name = "esdb";
  s.address_type = type;
  s.endpoints = std::move(endpoints);
  s.ports = {EndpointPort{"http", 2113, "TCP"}, EndpointPort{"gossip", 2115, "TCP"}};
  return s;
}

std::vector<std::string> identities(const PeerSet& peers) {
  std::vector<std::string> ids;
  for (const auto& p : peers) ids.push_back(p.identity);
  return ids;
}

}  // namespace

TEST_CASE("peer model: one slice gives sorted peers without the local pod") {
  std::vector<std::string> warnings;
  auto peers = peers_from_slices(
      {slice("esdb-a",
             {pod("esdb-2", "10.0.0.3"), pod("esdb-0", "10.0.0.1"), pod("esdb-1", "10.0.0.2")})},
      context(), &warnings);
  CHECK(warnings.empty());
  REQUIRE(identities(peers) == std::vector<std::string>{"esdb-1.esdb.prod.svc.cluster.local",
                                                        "esdb-2.esdb.prod.svc.cluster.local"});
  const Peer& p = peers[0];
  CHECK(p.address == "10.0.0.2");
  CHECK(p.addresses == std::vector<std::string>{"10.0.0.2"});
  CHECK(p.gossip_port == 2115);
  CHECK(p.ready);
  CHECK(p.serving);
  CHECK_FALSE(p.terminating);
  CHECK(p.zone == "zone-a");
  CHECK(p.node == "node-esdb-1");
  CHECK(p.pod_uid == "uid-esdb-1");
  CHECK(p.pod_name == "esdb-1");
}

TEST_CASE("peer model: without a port named gossip the default is used") {
  EndpointSlice s = slice("esdb-a", {pod("esdb-1", "10.0.0.2")});
  s.ports = {EndpointPort{"http", 2113, "TCP"}};
  auto peers = peers_from_slices({s}, context(), nullptr);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].gossip_port == 2114);

  s.ports.clear();
  peers = peers_from_slices({s}, context(), nullptr);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].gossip_port == 2114);

  std::vector<std::string> warnings;
  s.ports = {EndpointPort{"gossip", 0, "TCP"}};
  peers = peers_from_slices({s}, context(), &warnings);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].gossip_port == 2114);
  CHECK(count_containing(warnings, "port named gossip") == 1);
}

TEST_CASE("peer model: not-ready and terminating endpoints are peers") {
  Endpoint starting = pod("esdb-1", "10.0.0.2");
  starting.ready = false;
  starting.serving = false;
  Endpoint leaving = pod("esdb-2", "10.0.0.3");
  leaving.ready = false;
  leaving.terminating = true;
  auto peers = peers_from_slices({slice("esdb-a", {starting, leaving})}, context(), nullptr);
  REQUIRE(peers.size() == 2);
  CHECK_FALSE(peers[0].ready);
  CHECK_FALSE(peers[0].terminating);
  CHECK_FALSE(peers[1].ready);
  CHECK(peers[1].terminating);
}

TEST_CASE(
    "peer model: an endpoint in two slices is one peer, preferring ready, then not "
    "terminating") {
  Endpoint old_entry = pod("esdb-1", "10.0.0.2");
  old_entry.ready = false;
  Endpoint new_entry = pod("esdb-1", "10.0.0.9");
  for (bool new_first : {true, false}) {
    CAPTURE(new_first);
    std::vector<EndpointSlice> slices = {slice("esdb-a", {old_entry}),
                                         slice("esdb-b", {new_entry})};
    if (new_first) std::swap(slices[0], slices[1]);
    auto peers = peers_from_slices(slices, context(), nullptr);
    REQUIRE(peers.size() == 1);
    CHECK(peers[0].address == "10.0.0.9");
    CHECK(peers[0].ready);
  }

  Endpoint terminating = pod("esdb-2", "10.0.0.3");
  terminating.ready = false;
  terminating.terminating = true;
  Endpoint not_ready = pod("esdb-2", "10.0.0.4");
  not_ready.ready = false;
  auto peers = peers_from_slices({slice("esdb-a", {terminating}), slice("esdb-b", {not_ready})},
                                 context(), nullptr);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].address == "10.0.0.4");
  CHECK_FALSE(peers[0].terminating);

  // Equal entries: the first wins.
  peers = peers_from_slices(
      {slice("esdb-a", {pod("esdb-3", "10.0.0.5")}), slice("esdb-b", {pod("esdb-3", "10.0.0.6")})},
      context(), nullptr);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].address == "10.0.0.5");
}

TEST_CASE("peer model: IPv6 slices give peers, FQDN and unknown address types are skipped") {
  Endpoint v6 = pod("esdb-1", "fd00::2");
  v6.addresses.push_back("fd00::3");
  EndpointSlice fqdn = slice("esdb-f", {pod("esdb-2", "db.example.com")}, "prod", "FQDN");
  EndpointSlice odd = slice("esdb-o", {pod("esdb-3", "10.0.0.3")}, "prod", "");
  std::vector<std::string> warnings;
  auto peers =
      peers_from_slices({slice("esdb-6", {v6}, "prod", "IPv6"), fqdn, odd}, context(), &warnings);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].identity == "esdb-1.esdb.prod.svc.cluster.local");
  CHECK(peers[0].address == "fd00::2");
  CHECK(peers[0].addresses == std::vector<std::string>{"fd00::2", "fd00::3"});
  CHECK(count_containing(warnings, "EndpointSlice prod/esdb-f has addressType FQDN") == 1);
  CHECK(count_containing(warnings, "EndpointSlice prod/esdb-o has addressType \"\"") == 1);
}

TEST_CASE("peer model: a missing hostname falls back to the pod name, warning once") {
  Endpoint ep = pod("web-7f9c-abcde", "10.0.0.7");
  ep.hostname.clear();
  std::vector<std::string> warnings;
  auto peers =
      peers_from_slices({slice("esdb-a", {ep}), slice("esdb-b", {ep})}, context(), &warnings);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].identity == "web-7f9c-abcde.esdb.prod.svc.cluster.local");
  CHECK(peers[0].pod_name == "web-7f9c-abcde");
  REQUIRE(warnings.size() == 1);
  CHECK(contains(warnings[0], "10.0.0.7 (Pod prod/web-7f9c-abcde)"));
  CHECK(contains(warnings[0], "has no hostname"));
}

TEST_CASE("peer model: endpoints without any identity, address or valid name are skipped") {
  Endpoint anonymous;
  anonymous.addresses = {"10.0.0.8"};
  Endpoint node_ref = anonymous;
  node_ref.target_kind = "Node";
  node_ref.target_name = "worker-1";
  Endpoint no_address = pod("esdb-4", "x");
  no_address.addresses.clear();
  Endpoint bad_host = pod("Esdb_5", "10.0.0.10");
  std::vector<std::string> warnings;
  auto peers = peers_from_slices(
      {slice("esdb-a", {anonymous, node_ref, no_address, bad_host, pod("esdb-1", "10.0.0.2")})},
      context(), &warnings);
  CHECK(identities(peers) == std::vector<std::string>{"esdb-1.esdb.prod.svc.cluster.local"});
  CHECK(count_containing(warnings,
                         "endpoint 10.0.0.8 of EndpointSlice prod/esdb-a has no "
                         "hostname and no Pod targetRef") == 1);
  CHECK(count_containing(warnings, "endpoint 10.0.0.8 (Node prod/worker-1)") == 1);
  CHECK(count_containing(warnings, "has no address") == 1);
  CHECK(count_containing(warnings, "\"Esdb_5\", which is not a DNS label") == 1);
  CHECK(warnings.size() == 4);

  // An identity longer than a DNS name allows.
  PeerContext ctx = context();
  ctx.cluster_domain = std::string(60, 'd') + "." + std::string(60, 'd') + "." +
                       std::string(60, 'd') + "." + std::string(60, 'd');
  warnings.clear();
  peers = peers_from_slices({slice("esdb-a", {pod("esdb-1", "10.0.0.2")})}, ctx, &warnings);
  CHECK(peers.empty());
  CHECK(count_containing(warnings, "not a valid DNS name") == 1);
}

TEST_CASE("peer model: only the local pod in its own namespace is excluded") {
  Endpoint self_by_ref = pod("esdb-0", "10.0.0.1");
  self_by_ref.hostname = "other-host";  // matched by targetRef
  Endpoint self_by_name = pod("esdb-0", "10.0.0.1");
  self_by_name.target_name.clear();  // matched by identity, no targetRef
  self_by_name.target_kind.clear();
  std::vector<std::string> warnings;
  auto peers = peers_from_slices(
      {slice("esdb-a", {self_by_ref, pod("esdb-1", "10.0.0.2")}), slice("esdb-b", {self_by_name}),
       slice("esdb-c", {pod("esdb-0", "10.1.0.1", "staging")}, "staging")},
      context(), &warnings);
  CHECK(warnings.empty());
  CHECK(identities(peers) == std::vector<std::string>{"esdb-0.esdb.staging.svc.cluster.local",
                                                      "esdb-1.esdb.prod.svc.cluster.local"});
}

TEST_CASE("peer model: the union of slices across namespaces, other services ignored") {
  EndpointSlice other = slice("web-a", {pod("web-0", "10.0.0.50")});
  other.service_name = "web";
  EndpointSlice west = slice(
      "esdb-w", {pod("esdb-0", "10.2.0.1", "west"), pod("esdb-1", "10.2.0.2", "west")}, "west");
  west.ports.clear();
  auto peers =
      peers_from_slices({slice("esdb-a", {pod("esdb-1", "10.0.0.2"), pod("esdb-2", "10.0.0.3")}),
                         other, west, slice("esdb-e", {pod("esdb-0", "10.3.0.1", "east")}, "east")},
                        context(), nullptr);
  REQUIRE(identities(peers) == std::vector<std::string>{"esdb-0.esdb.east.svc.cluster.local",
                                                        "esdb-0.esdb.west.svc.cluster.local",
                                                        "esdb-1.esdb.prod.svc.cluster.local",
                                                        "esdb-1.esdb.west.svc.cluster.local",
                                                        "esdb-2.esdb.prod.svc.cluster.local"});
  CHECK(peers[1].gossip_port == 2114);  // west has no gossip port
  CHECK(peers[0].gossip_port == 2115);
  CHECK(peers[1].address == "10.2.0.1");
}

TEST_CASE("peer model: no slices, or only empty ones, give no peers") {
  CHECK(peers_from_slices({}, context(), nullptr).empty());
  std::vector<std::string> warnings;
  CHECK(peers_from_slices({slice("esdb-a", {})}, context(), &warnings).empty());
  CHECK(warnings.empty());
}

TEST_CASE("peer model: ChangedWarnings passes a warning when it appears, not while it stays") {
  ChangedWarnings log;
  CHECK(log.fresh({"a", "b", "a"}) == std::vector<std::string>{"a", "b"});
  CHECK(log.fresh({"b", "a"}).empty());
  CHECK(log.fresh({"b", "a", "c"}) == std::vector<std::string>{"c"});
  CHECK(log.fresh({"c"}).empty());
  // "a" was gone for one computation: it is news again.
  CHECK(log.fresh({"a", "c"}) == std::vector<std::string>{"a"});
  CHECK(log.fresh({}).empty());
  CHECK(log.fresh({"a", "c"}) == std::vector<std::string>{"a", "c"});
}
