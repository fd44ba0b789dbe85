// The probes' decisions over what the failure detector sees: for every up/down combination of
// 3, 5 and 7 members, simulated cores run until the survivors agree who is dead, and
// /health/ready and /health/disruptable (plugin/health's ready_report, disruptable_report) are
// asked with each survivor's counts. The expectation is stated as a user would state it (more
// than half of the members are up; stopping this one leaves more than half up), not by calling
// gossip/quorum.h's arithmetic again.
#include <doctest/doctest.h>

#include <vector>

#include "plugin/health.h"
#include "simulator.h"

using namespace esk8s::gossip;
using namespace esk8s::gossip::sim;
using esk8s::plugin::ReadyMode;
using esk8s::plugin::Snapshot;
using std::chrono::seconds;

namespace {

Snapshot snapshot_of(const esk8s::gossip::Core& core, uint32_t cluster_size, ReadyMode mode) {
  Snapshot s;
  s.started = true;
  auto& r = s.readiness;
  r.mode = mode;
  r.cluster_size = cluster_size;
  r.cluster_size_source = "test";
  r.alive = core.alive_count();
  r.confirmed_alive = core.confirmed_alive_count();
  r.discovered = cluster_size;  // every pod exists; only processes crashed
  r.gossip_running = true;
  r.quorum_seen = true;  // the cluster was whole before the crashes
  return s;
}

void check_every_subset(uint32_t n) {
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    std::vector<size_t> up, down;
    for (uint32_t i = 0; i < n; ++i) ((mask >> i) & 1u ? up : down).push_back(i);
    if (up.empty()) continue;
    CAPTURE(n);
    CAPTURE(mask);
    SimOptions o;
    o.seed = n * 1000 + mask;
    o.config = Config::local();
    o.record_events = false;
    Simulator s(o);
    s.add_cluster(n);
    auto all = s.running_nodes();
    REQUIRE(s.run_until([&] { return s.all_see(all, all, MemberState::kAlive); }, seconds(5))
                .satisfied);
    for (size_t d : down) s.crash(d);
    REQUIRE(s.run_until([&] { return s.all_see(up, down, MemberState::kDead); }, seconds(30))
                .satisfied);
    const bool majority_up = 2 * up.size() > n;
    const bool majority_without_one = 2 * (up.size() - 1) > n;
    for (size_t u : up) {
      for (ReadyMode mode : {ReadyMode::kQuorum, ReadyMode::kBootstrapLatch}) {
        CAPTURE(static_cast<int>(mode));
        const Snapshot snap = snapshot_of(s.core(u), n, mode);
        CHECK(snap.readiness.alive == up.size());
        CHECK(esk8s::plugin::ready_report(snap).http_status == (majority_up ? 200 : 503));
        const auto d = esk8s::plugin::disruptable_report(snap, std::chrono::system_clock::now());
        CHECK(d.http_status == (majority_without_one ? 200 : 503));
      }
    }
  }
}

}  // namespace

TEST_CASE("quorum decisions: every up/down combination of a 3-member cluster") {
  check_every_subset(3);
}

TEST_CASE("quorum decisions: every up/down combination of a 5-member cluster") {
  check_every_subset(5);
}

TEST_CASE("quorum decisions: every up/down combination of a 7-member cluster") {
  check_every_subset(7);
}
