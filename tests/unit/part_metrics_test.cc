// The metric families of the runtime's parts (plugin/part_metrics.h), from their statistics alone.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "discovery/kubernetes_source.h"
#include "discovery/peer.h"
#include "gossip/core.h"
#include "gossip/transport.h"
#include "plugin/part_metrics.h"
#include "plugin/snapshot.h"
#include "plugin/tls_manager.h"
#include "tls/peer_verify.h"

namespace esk8s::plugin {
namespace {

// "name{label=value}" -> value, for samples with at most one label.
std::map<std::string, double> by_key(const std::vector<Metric>& samples) {
  std::map<std::string, double> out;
  for (const auto& m : samples) {
    std::string key = m.name;
    if (!m.labels.empty()) key += "{" + m.labels[0].first + "=" + m.labels[0].second + "}";
    CHECK_MESSAGE(out.emplace(key, m.value).second, key, " appears twice");
  }
  return out;
}

}  // namespace

TEST_CASE("part metrics: members are counted by state, every state present") {
  std::vector<MemberView> members(4);
  members[0].state = MemberState::kAlive;
  members[1].state = MemberState::kAlive;
  members[2].state = MemberState::kSuspect;
  members[3].state = MemberState::kLeft;
  std::vector<Metric> out;
  append_member_metrics(out, members);
  const auto m = by_key(out);
  CHECK(m.size() == 5);
  CHECK(m.at("esk8s_members{state=alive}") == 2);
  CHECK(m.at("esk8s_members{state=suspect}") == 1);
  CHECK(m.at("esk8s_members{state=left}") == 1);
  CHECK(m.at("esk8s_members{state=dead}") == 0);
  CHECK(m.at("esk8s_members{state=discovered}") == 0);
}

TEST_CASE("part metrics: the certificate's expiry counts from the given now, and only once there "
          "is a certificate") {
  const auto now = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  TlsState t;
  t.mode = "local-ca";
  t.renewals = 3;
  t.renewal_failures = 1;
  std::vector<Metric> out;
  append_tls_metrics(out, t, now);
  auto m = by_key(out);
  CHECK_FALSE(m.contains("esk8s_tls_certificate_expiry_seconds"));
  CHECK(m.at("esk8s_tls_renewals_total{mode=local-ca}") == 3);
  CHECK(m.at("esk8s_tls_renewal_failures_total{mode=local-ca}") == 1);

  t.have_certificate = true;
  t.not_after = now + std::chrono::seconds(90);
  out.clear();
  append_tls_metrics(out, t, now);
  m = by_key(out);
  CHECK(m.at("esk8s_tls_certificate_expiry_seconds") == doctest::Approx(90));
}

TEST_CASE("part metrics: discovery's peers are counted by EndpointSlice condition and its API "
          "errors by code") {
  discovery::DiscoveryStats st;
  st.synced = true;
  st.errors_by_code = {{0, 2}, {429, 5}};
  std::vector<discovery::Peer> peers(4);
  peers[1].ready = false;
  peers[2].terminating = true;
  peers[3].ready = false;
  std::vector<Metric> out;
  append_discovery_metrics(out, st, peers);
  const auto m = by_key(out);
  CHECK(m.at("esk8s_discovery_synced") == 1);
  CHECK(m.at("esk8s_discovery_api_errors_total{code=0}") == 2);
  CHECK(m.at("esk8s_discovery_api_errors_total{code=429}") == 5);
  CHECK(m.at("esk8s_discovery_peers{condition=ready}") == 1);
  CHECK(m.at("esk8s_discovery_peers{condition=not_ready}") == 2);
  CHECK(m.at("esk8s_discovery_peers{condition=terminating}") == 1);
}

TEST_CASE("part metrics: every TLS rejection reason is present at 0 before the first one") {
  gossip::CoreStats core;
  gossip::TransportStats transport;
  std::vector<Metric> out;
  append_gossip_metrics(out, core, 0, transport);
  size_t reasons = 0;
  for (const auto& s : out) {
    if (s.name != "esk8s_gossip_tls_rejections_total") continue;
    ++reasons;
    CHECK(s.value == 0);
  }
  CHECK(reasons == std::size(tls::kPeerRefusals));
}

}  // namespace esk8s::plugin
