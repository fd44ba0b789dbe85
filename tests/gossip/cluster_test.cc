// Protocol tests: many cores on the simulated network (virtual time, deterministic seeds).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gossip/suspicion.h"
#include "simulator.h"

using namespace esk8s::gossip;
using namespace esk8s::gossip::sim;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

Simulator make_sim(uint64_t seed, Config config = Config::local()) {
  SimOptions o;
  o.seed = seed;
  o.config = std::move(config);
  return Simulator(std::move(o));
}

bool converged(const Simulator& s) {
  const auto nodes = s.running_nodes();
  return s.all_see(nodes, nodes, MemberState::kAlive);
}

std::vector<size_t> except(const Simulator& s, std::vector<size_t> out) {
  std::vector<size_t> r;
  for (size_t i : s.running_nodes()) {
    if (std::find(out.begin(), out.end(), i) == out.end()) r.push_back(i);
  }
  return r;
}

// Deaths declared (by anyone) about members other than `excluded`.
size_t deaths_of_others(const Simulator& s, const std::vector<std::string>& excluded) {
  size_t n = 0;
  for (const ObservedEvent& e : s.events()) {
    if (e.event.kind != MembershipEvent::Kind::kDied) continue;
    if (std::find(excluded.begin(), excluded.end(), e.event.member.identity) == excluded.end()) ++n;
  }
  return n;
}

// Worst case for a crashed member to be declared dead by everyone: it is probed within two
// rounds of the randomized round-robin, the suspicion runs at most its maximum, and the death
// spreads by gossip (a few gossip intervals; bounded here by one more probe interval).
Duration detection_bound(const Config& c, size_t n) {
  const Duration rounds = Duration(c.probe_interval) * static_cast<int64_t>(2 * n);
  return rounds + suspicion_max_timeout(c, n) + Duration(c.probe_interval) +
         Duration(c.gossip_interval) * 4;
}

}  // namespace

TEST_CASE("cluster: 5 nodes join through their seeds and every node sees every other alive") {
  Simulator s = make_sim(1);
  s.add_cluster(5);
  const RunResult r = s.run_until([&] { return converged(s); }, seconds(5));
  CHECK(r.satisfied);
  for (size_t i = 0; i < 5; ++i) CHECK(s.core(i).alive_count() == 5);
  CHECK(deaths_of_others(s, {}) == 0);
}

TEST_CASE("cluster: 10 nodes with 3 seeds each converge and every node sees every other alive") {
  Simulator s = make_sim(2);
  s.add_cluster(10, 3);
  const RunResult r = s.run_until([&] { return converged(s); }, seconds(10));
  CHECK(r.satisfied);
  for (size_t i = 0; i < 10; ++i) CHECK(s.core(i).alive_count() == 10);
  // Stays converged with nobody suspected.
  s.run_for(seconds(10));
  CHECK(converged(s));
  for (const ObservedEvent& e : s.events()) {
    CHECK(e.event.kind != MembershipEvent::Kind::kSuspected);
  }
}

TEST_CASE("cluster: the same seed gives the same run") {
  auto run = [](uint64_t seed) {
    Simulator s = make_sim(seed);
    s.add_cluster(6);
    s.run_for(seconds(3));
    s.crash(2);
    s.run_for(seconds(5));
    std::vector<std::string> trace;
    for (const ObservedEvent& e : s.events()) {
      trace.push_back(std::to_string(e.at.time_since_epoch().count()) + "/" +
                      std::to_string(e.node) + "/" + to_string(e.event.kind) + "/" +
                      e.event.member.identity);
    }
    std::vector<uint64_t> counts;
    for (size_t i = 0; i < s.size(); ++i) counts.push_back(s.counters(i).bytes_sent);
    return std::make_pair(trace, counts);
  };
  const auto a = run(11), b = run(11), c = run(12);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("cluster: a crashed member is declared dead by every survivor within the config bound") {
  Simulator s = make_sim(3);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  const Time crashed_at = s.now();
  s.crash(2);
  const auto survivors = except(s, {2});
  const Duration bound = detection_bound(s.core(0).config(), 5);
  const RunResult r =
      s.run_until([&] { return s.all_see(survivors, {2}, MemberState::kDead); }, bound);
  CHECK(r.satisfied);
  CHECK(r.at - crashed_at <= bound);
  CHECK(deaths_of_others(s, {"node-2"}) == 0);
  for (size_t i : survivors) {
    CHECK(s.core(i).alive_count() == 4);
  }
  uint64_t declared = 0;
  for (size_t i : survivors) declared += s.core(i).stats().deaths_declared;
  CHECK(declared >= 1);
}

TEST_CASE(
    "cluster: a falsely suspected member refutes with a higher incarnation and ends alive "
    "everywhere") {
  Simulator s = make_sim(4);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  const std::string victim = s.identity(3);
  // Everything node 3 sends is lost (its acks included); it still hears everyone.
  for (size_t i : except(s, {3})) s.cut(3, i);
  auto suspected = [&] {
    for (const ObservedEvent& e : s.events()) {
      if (e.event.kind == MembershipEvent::Kind::kSuspected && e.event.member.identity == victim) {
        return true;
      }
    }
    return false;
  };
  REQUIRE(s.run_until(suspected, seconds(5)).satisfied);
  // An observer that suspects it still counts it alive (quorum for readiness) but not confirmed
  // alive (what a disruption decision counts).
  for (const ObservedEvent& e : s.events()) {
    if (e.event.kind == MembershipEvent::Kind::kSuspected && e.event.member.identity == victim &&
        s.view(e.node, victim)->state == MemberState::kSuspect) {
      CHECK(s.core(e.node).alive_count() == 5);
      CHECK(s.core(e.node).confirmed_alive_count() == 4);
      break;
    }
  }
  // It heard the suspicion and refuted it, but nobody could hear that yet.
  REQUIRE(s.run_until([&] { return s.core(3).stats().refutations >= 1; }, seconds(1)).satisfied);
  for (size_t i : except(s, {3})) s.uncut(3, i);
  const RunResult r = s.run_until(
      [&] {
        if (!converged(s)) return false;
        for (size_t i : except(s, {3})) {
          if (s.view(i, victim)->incarnation < 1) return false;
        }
        return true;
      },
      seconds(5));
  CHECK(r.satisfied);
  for (size_t i = 0; i < 5; ++i) CHECK(s.core(i).confirmed_alive_count() == 5);
  CHECK(deaths_of_others(s, {}) == 0);
  bool recovered = false;
  for (const ObservedEvent& e : s.events()) {
    recovered |=
        e.event.kind == MembershipEvent::Kind::kRecovered && e.event.member.identity == victim;
  }
  CHECK(recovered);
}

TEST_CASE(
    "cluster: a paused node does not get healthy members declared dead and its awareness rises") {
  Simulator s = make_sim(5);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  s.clear_events();
  const Config& c = s.core(0).config();
  CHECK(s.counters(1).max_awareness == 0);
  s.pause(1);
  s.run_for(Duration(c.probe_interval) * 5);
  s.resume(1);
  s.run_for(milliseconds(5));
  CHECK(s.counters(1).max_awareness >= 1);  // it had to refute what the others suspected
  const RunResult r = s.run_until([&] { return converged(s); }, seconds(10));
  CHECK(r.satisfied);
  s.run_for(seconds(5));
  // Whatever happened to the paused node itself, nobody healthy was declared dead by anyone.
  CHECK(deaths_of_others(s, {s.identity(1)}) == 0);
  CHECK(converged(s));
}

TEST_CASE(
    "cluster: both sides of a partition declare the other dead and all are alive again after the "
    "heal") {
  Simulator s = make_sim(6);
  s.add_cluster(6);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  const std::vector<size_t> a{0, 1, 2}, b{3, 4, 5};
  s.partition({a, b});
  const RunResult split = s.run_until(
      [&] { return s.all_see(a, b, MemberState::kDead) && s.all_see(b, a, MemberState::kDead); },
      seconds(20));
  REQUIRE(split.satisfied);
  for (size_t i = 0; i < 6; ++i) CHECK(s.core(i).alive_count() == 3);
  s.heal();
  const RunResult healed = s.run_until([&] { return converged(s); }, seconds(10));
  CHECK(healed.satisfied);
  for (size_t i = 0; i < 6; ++i) CHECK(s.core(i).alive_count() == 6);
  // They came back by refuting (same instances, higher incarnations), not by restarting.
  for (size_t i : a) CHECK(s.view(i, s.identity(4))->incarnation >= 1);
}

TEST_CASE(
    "cluster: a restart with a new address replaces the old instance everywhere and the old one "
    "never returns") {
  Simulator s = make_sim(7);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  const InstanceId old_instance = s.instance(2);
  const std::string old_address = s.address(2);
  s.restart(2);
  CHECK(s.address(2) != old_address);
  CHECK(s.instance(2) > old_instance);
  const RunResult r = s.run_until([&] { return converged(s); }, seconds(5));
  CHECK(r.satisfied);
  for (size_t i : except(s, {2})) CHECK(s.view(i, s.identity(2))->address == s.address(2));
  const Time switched = s.now();
  size_t old_seen = 0;
  s.on_event([&](const ObservedEvent& e) {
    if (e.event.member.identity == s.identity(2) && e.event.member.instance == old_instance) {
      ++old_seen;
    }
  });
  s.run_for(seconds(20));
  CHECK(old_seen == 0);
  CHECK(converged(s));
  for (const ObservedEvent& e : s.events()) {
    if (e.at >= switched) CHECK(e.event.member.instance != old_instance);
  }
}

TEST_CASE("cluster: a member declared dead rejoins at once with a new instance id") {
  Simulator s = make_sim(8);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  s.crash(4);
  const auto survivors = except(s, {4});
  REQUIRE(s.run_until([&] { return s.all_see(survivors, {4}, MemberState::kDead); }, seconds(20))
              .satisfied);
  const Time restarted = s.now();
  s.restart(4);
  const RunResult r = s.run_until([&] { return converged(s); }, seconds(5));
  REQUIRE(r.satisfied);
  // "At once": within a few gossip intervals, no waiting for the tombstone to expire.
  CHECK(r.at - restarted <= milliseconds(500));
  bool joined = false;
  for (const ObservedEvent& e : s.events()) {
    joined |= e.at >= restarted && e.event.kind == MembershipEvent::Kind::kJoined &&
              e.event.member.identity == s.identity(4) && e.event.member.instance == s.instance(4);
  }
  CHECK(joined);
}

TEST_CASE("cluster: a graceful leave is learned by every member within one probe interval") {
  Simulator s = make_sim(9);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  const uint64_t probes_before = s.core(0).stats().probes_sent;
  s.leave(0);
  s.run_for(s.core(0).config().probe_interval);
  CHECK(s.all_see(except(s, {0}), {0}, MemberState::kLeft));
  for (size_t i : except(s, {0})) CHECK(s.core(i).alive_count() == 4);
  s.run_for(seconds(5));
  CHECK(s.core(0).stats().probes_sent == probes_before);
  CHECK(s.all_see(except(s, {0}), {0}, MemberState::kLeft));
  CHECK(deaths_of_others(s, {}) == 0);
}

TEST_CASE(
    "cluster: a replacement for a member that left is contacted by its peers even when it cannot "
    "discover them itself") {
  Simulator s = make_sim(13);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  s.leave(2);
  REQUIRE(s.run_until([&] { return s.all_see(except(s, {2}), {2}, MemberState::kLeft); },
                      seconds(2))
              .satisfied);
  // The pod comes back at a new address under the same identity; its peers' discovery lists it
  // there, but its own discovery finds nobody (a missing RoleBinding, say).
  s.restart(2, /*update_discovery=*/true, /*self_discovers=*/false);
  const RunResult r = s.run_until([&] { return converged(s); }, seconds(5));
  CHECK(r.satisfied);
  CHECK(s.all_see(except(s, {2}), {2}, MemberState::kAlive));
}

TEST_CASE(
    "cluster: a newer process under the same identity makes the old one report superseded once") {
  Simulator s = make_sim(10);
  s.add_cluster(4);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  s.run_for(milliseconds(3));  // the newcomer starts later than the first
  // A second process for node-1 (say, a pod rescheduled while the old one still runs).
  const size_t dup = s.add_node(s.identity(1));
  s.seed_all();
  const RunResult r = s.run_until(
      [&] {
        for (size_t i : {size_t{0}, size_t{2}, size_t{3}}) {
          auto v = s.view(i, s.identity(1));
          if (!v || v->instance != s.instance(dup)) return false;
        }
        return true;
      },
      seconds(5));
  CHECK(r.satisfied);
  s.run_for(seconds(5));
  size_t superseded = 0;
  for (const ObservedEvent& e : s.events()) {
    if (e.event.kind == MembershipEvent::Kind::kSuperseded) {
      ++superseded;
      CHECK(e.node == 1);
      CHECK(e.event.member.instance == s.instance(dup));
    }
  }
  CHECK(superseded == 1);
  for (size_t i : {size_t{0}, size_t{2}, size_t{3}}) {
    CHECK(s.view(i, s.identity(1))->instance == s.instance(dup));
  }
}

TEST_CASE("cluster: meta changes reach every member") {
  Simulator s = make_sim(12);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  s.set_meta(3, "leader");
  const RunResult r = s.run_until(
      [&] {
        for (size_t i : except(s, {3})) {
          if (s.view(i, s.identity(3))->meta != "leader") return false;
        }
        return true;
      },
      seconds(2));
  CHECK(r.satisfied);
}

TEST_CASE(
    "cluster: a broken link between two members does not get either suspected because indirect "
    "probes get through") {
  Simulator s = make_sim(13);
  s.add_cluster(5);
  REQUIRE(s.run_until([&] { return converged(s); }, seconds(5)).satisfied);
  s.clear_events();
  s.cut(0, 3);
  s.cut(3, 0);
  s.run_for(seconds(15));
  for (const ObservedEvent& e : s.events()) {
    CHECK(e.event.kind != MembershipEvent::Kind::kSuspected);
    CHECK(e.event.kind != MembershipEvent::Kind::kDied);
  }
  CHECK(converged(s));
  CHECK(s.core(0).stats().indirect_probes_sent > 0);
}
