// Unit tests of the core's concerns, one section per file under gossip/.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gossip/awareness.h"
#include "gossip/broadcast_queue.h"
#include "gossip/config.h"
#include "gossip/membership.h"
#include "gossip/probe_scheduler.h"
#include "gossip/push_pull.h"
#include "gossip/rng.h"
#include "gossip/suspicion.h"

using namespace esk8s::gossip;
using std::chrono::milliseconds;

namespace {

MemberRecord rec(const std::string& id, uint64_t inst, uint64_t inc, MemberState st,
                 const std::string& addr = "10.0.0.1") {
  MemberRecord r;
  r.identity = id;
  r.instance = InstanceId{inst, 1};
  r.incarnation = inc;
  r.address = addr;
  r.port = 7946;
  r.state = st;
  return r;
}

const Time t0 = Time(std::chrono::hours(1));

}  // namespace

TEST_CASE("rng: the same seed gives the same sequence and below() stays in range") {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    CHECK(x == b.next());
    differs |= x != c.next();
  }
  CHECK(differs);
  for (int i = 0; i < 1000; ++i) CHECK(a.below(7) < 7);
  std::vector<int> v{1, 2, 3, 4, 5, 6, 7, 8};
  a.shuffle(v);
  std::sort(v.begin(), v.end());
  CHECK(v == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE(
    "suspicion: min and max follow suspicion_mult times max(1, log10 N) times probe_interval") {
  const Config c = Config::lan();  // mult 4, max mult 6, interval 1 s
  CHECK(suspicion_min_timeout(c, 1) == milliseconds(4000));
  CHECK(suspicion_min_timeout(c, 10) == milliseconds(4000));
  CHECK(suspicion_min_timeout(c, 100) == milliseconds(8000));
  CHECK(suspicion_min_timeout(c, 1000) == milliseconds(12000));
  CHECK(suspicion_max_timeout(c, 100) == milliseconds(48000));
  CHECK(suspicion_expected_confirmations(c, 100) == 3);
  CHECK(suspicion_expected_confirmations(c, 4) == 2);
  CHECK(suspicion_expected_confirmations(c, 2) == 0);
}

TEST_CASE("suspicion: the timeout shrinks from max toward min as log(C+1)/log(K+1)") {
  const Duration min = milliseconds(1000), max = milliseconds(6000);
  CHECK(suspicion_timeout(min, max, 3, 0) == max);
  CHECK(suspicion_timeout(min, max, 3, 3) == min);
  CHECK(suspicion_timeout(min, max, 3, 10) == min);
  const double frac1 = std::log(2.0) / std::log(4.0);
  const auto expect1 = Duration(
      static_cast<Duration::rep>(std::floor(static_cast<double>(max.count()) - 5e9 * frac1)));
  CHECK(suspicion_timeout(min, max, 3, 1) == expect1);
  CHECK(suspicion_timeout(min, max, 3, 1) > suspicion_timeout(min, max, 3, 2));
  // K <= 0: nobody can confirm, so the floor applies at once.
  CHECK(suspicion_timeout(min, max, 0, 0) == min);
  CHECK(suspicion_timeout(min, max, -1, 0) == min);
}

TEST_CASE("suspicion: only distinct accusers confirm and each moves the deadline earlier") {
  const Duration min = milliseconds(1000), max = milliseconds(6000);
  Suspicion s(t0, min, max, 3, "a");
  CHECK(s.deadline() == t0 + max);
  CHECK_FALSE(s.confirm("a"));  // the first accuser again
  CHECK(s.confirm("b"));
  const Time d1 = s.deadline();
  CHECK(d1 < t0 + max);
  CHECK_FALSE(s.confirm("b"));
  CHECK(s.deadline() == d1);
  CHECK(s.confirm("c"));
  CHECK(s.deadline() < d1);
  CHECK(s.confirm("d"));
  CHECK(s.deadline() == t0 + min);
  CHECK_FALSE(s.confirm("e"));  // already at K
  CHECK(s.confirmations() == 3);
}

TEST_CASE(
    "awareness: failures raise it, successes lower it, clamped to 0..max-1, scales timeouts") {
  Awareness a(8);
  CHECK(a.score() == 0);
  CHECK(a.scale(milliseconds(100)) == milliseconds(100));
  a.apply_delta(-1);
  CHECK(a.score() == 0);
  a.apply_delta(1);
  a.apply_delta(1);
  CHECK(a.score() == 2);
  CHECK(a.scale(milliseconds(100)) == milliseconds(300));
  for (int i = 0; i < 20; ++i) a.apply_delta(1);
  CHECK(a.score() == 7);
  CHECK(a.scale(milliseconds(100)) == milliseconds(800));
  a.apply_delta(-1);
  CHECK(a.score() == 6);
  Awareness off(1);
  off.apply_delta(5);
  CHECK(off.score() == 0);
}

TEST_CASE("broadcast queue: retransmit limit is retransmit_mult times ceil(log10(N+1))") {
  CHECK(BroadcastQueue::transmit_limit(4, 1) == 4);
  CHECK(BroadcastQueue::transmit_limit(4, 9) == 4);
  CHECK(BroadcastQueue::transmit_limit(4, 10) == 8);
  CHECK(BroadcastQueue::transmit_limit(4, 99) == 8);
  CHECK(BroadcastQueue::transmit_limit(4, 100) == 12);
  CHECK(BroadcastQueue::transmit_limit(3, 10000) == 15);
  CHECK(BroadcastQueue::transmit_limit(1, 0) == 1);
}

TEST_CASE("broadcast queue: least transmitted first then newest first, dropped after the limit") {
  BroadcastQueue q(100);
  q.push(rec("a", 1, 1, MemberState::kAlive));
  q.push(rec("b", 1, 1, MemberState::kAlive));
  q.push(rec("c", 1, 1, MemberState::kAlive));
  auto first = q.take(2, 3);
  REQUIRE(first.size() == 2);
  CHECK(first[0].identity == "c");  // newest first
  CHECK(first[1].identity == "b");
  auto second = q.take(2, 3);
  REQUIRE(second.size() == 2);
  CHECK(second[0].identity == "a");  // never sent before the others' second time
  CHECK(second[1].identity == "c");
  CHECK(q.transmits("a") == 1);
  CHECK(q.transmits("c") == 2);
  // Drain: every update goes out exactly `limit` times.
  std::map<std::string, int> sent;
  for (const auto& r : first) sent[r.identity]++;
  for (const auto& r : second) sent[r.identity]++;
  while (!q.empty()) {
    for (const auto& r : q.take(2, 3)) sent[r.identity]++;
  }
  CHECK(sent == std::map<std::string, int>{{"a", 3}, {"b", 3}, {"c", 3}});
}

TEST_CASE("broadcast queue: a newer update about an identity replaces the queued one") {
  BroadcastQueue q(100);
  q.push(rec("a", 1, 1, MemberState::kAlive));
  q.take(1, 5);
  CHECK(q.transmits("a") == 1);
  q.push(rec("a", 1, 1, MemberState::kSuspect));
  CHECK(q.size() == 1);
  CHECK(q.transmits("a") == 0);
  auto out = q.take(10, 5);
  REQUIRE(out.size() == 1);
  CHECK(out[0].state == MemberState::kSuspect);
}

TEST_CASE("broadcast queue: bounded, evicting the most transmitted oldest entry") {
  BroadcastQueue q(2);
  q.push(rec("a", 1, 1, MemberState::kAlive));
  q.take(1, 5);  // a transmitted once
  q.push(rec("b", 1, 1, MemberState::kAlive));
  q.push(rec("c", 1, 1, MemberState::kAlive));
  CHECK(q.size() == 2);
  CHECK(q.transmits("a") == -1);
  CHECK(q.transmits("b") == 0);
  CHECK(q.transmits("c") == 0);
}

TEST_CASE(
    "membership: merge follows instance then incarnation then Left over Dead over Suspect over "
    "Alive") {
  using S = MemberState;
  struct Row {
    MemberRecord known, claim;
    bool applied;
  };
  const Row rows[] = {
      // newer instance wins whatever the incarnation and state
      {rec("x", 2, 9, S::kDead), rec("x", 3, 0, S::kAlive), true},
      {rec("x", 2, 0, S::kAlive), rec("x", 3, 0, S::kDead), true},
      // stale instance never takes the identity back
      {rec("x", 3, 0, S::kAlive), rec("x", 2, 99, S::kAlive), false},
      {rec("x", 3, 0, S::kDead), rec("x", 2, 99, S::kAlive), false},
      // same instance: higher incarnation wins
      {rec("x", 2, 5, S::kSuspect), rec("x", 2, 6, S::kAlive), true},
      {rec("x", 2, 5, S::kDead), rec("x", 2, 6, S::kAlive), true},
      {rec("x", 2, 6, S::kAlive), rec("x", 2, 5, S::kDead), false},
      // same instance and incarnation: Left > Dead > Suspect > Alive
      {rec("x", 2, 5, S::kAlive), rec("x", 2, 5, S::kSuspect), true},
      {rec("x", 2, 5, S::kSuspect), rec("x", 2, 5, S::kDead), true},
      {rec("x", 2, 5, S::kDead), rec("x", 2, 5, S::kLeft), true},
      {rec("x", 2, 5, S::kSuspect), rec("x", 2, 5, S::kAlive), false},
      {rec("x", 2, 5, S::kDead), rec("x", 2, 5, S::kSuspect), false},
      {rec("x", 2, 5, S::kLeft), rec("x", 2, 5, S::kDead), false},
      {rec("x", 2, 5, S::kAlive), rec("x", 2, 5, S::kAlive, "10.9.9.9"), false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.known.instance.hi);
    CAPTURE(r.known.incarnation);
    CAPTURE(to_string(r.known.state));
    CAPTURE(r.claim.instance.hi);
    CAPTURE(r.claim.incarnation);
    CAPTURE(to_string(r.claim.state));
    Membership m(rec("self", 1, 0, S::kAlive), t0);
    // Seed the table: an alive record of the instance, then the known claim.
    MemberRecord boot = r.known;
    boot.state = S::kAlive;
    boot.incarnation = 0;
    m.merge(boot, t0);
    m.merge(r.known, t0);
    REQUIRE(m.find("x")->record == r.known);
    const auto res = m.merge(r.claim, t0 + milliseconds(1));
    CHECK((res.outcome == Membership::Outcome::kApplied) == r.applied);
    CHECK(m.find("x")->record == (r.applied ? r.claim : r.known));
    CHECK((compare_claims(r.claim, r.known) > 0) == r.applied);
  }
}

TEST_CASE("membership: unknown identities are learned only from alive claims") {
  Membership m(rec("self", 1, 0, MemberState::kAlive), t0);
  CHECK(m.merge(rec("x", 1, 0, MemberState::kDead), t0).outcome ==
        Membership::Outcome::kIgnoredUnknown);
  CHECK(m.merge(rec("x", 1, 0, MemberState::kSuspect), t0).outcome ==
        Membership::Outcome::kIgnoredUnknown);
  CHECK(m.find("x") == nullptr);
  const auto r = m.merge(rec("x", 1, 0, MemberState::kAlive), t0);
  CHECK(r.outcome == Membership::Outcome::kApplied);
  CHECK(r.change == MemberChange::kJoined);
  CHECK(m.live_peers().size() == 1);
}

TEST_CASE("membership: changes are classified for events and the live list follows the state") {
  using S = MemberState;
  Membership m(rec("self", 1, 0, S::kAlive), t0);
  CHECK(m.merge(rec("x", 1, 0, S::kAlive), t0).change == MemberChange::kJoined);
  CHECK(m.merge(rec("y", 1, 0, S::kAlive), t0).change == MemberChange::kJoined);
  CHECK(m.merge(rec("x", 1, 0, S::kSuspect), t0).change == MemberChange::kSuspected);
  CHECK(m.live_peers().size() == 2);
  CHECK(m.merge(rec("x", 1, 1, S::kAlive), t0).change == MemberChange::kRecovered);
  CHECK(m.merge(rec("x", 1, 2, S::kAlive, "10.0.0.2"), t0).change == MemberChange::kUpdated);
  CHECK(m.merge(rec("x", 1, 2, S::kDead), t0).change == MemberChange::kDied);
  CHECK(m.live_peers().size() == 1);
  CHECK(*m.live_peers()[0] == "y");
  CHECK(m.merge(rec("x", 1, 2, S::kLeft), t0).change == MemberChange::kNone);
  CHECK(m.merge(rec("x", 2, 0, S::kAlive), t0).change == MemberChange::kJoined);
  CHECK(m.merge(rec("y", 1, 0, S::kLeft), t0).change == MemberChange::kLeft);
  CHECK(m.merge(rec("x", 3, 0, S::kAlive), t0).change == MemberChange::kJoined);  // new instance
  CHECK(m.live_peers().size() == 1);
  CHECK(m.erase("x"));
  CHECK(m.live_peers().empty());
  CHECK_FALSE(m.erase("self"));
  CHECK(m.size() == 2);
}

TEST_CASE(
    "probe scheduler: every live member is probed once per round and newcomers within the round") {
  Rng rng(7);
  ProbeScheduler p;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back("m" + std::to_string(i));
  p.reset(ids, rng);
  std::set<std::string> dead{"m3", "m4"};
  auto probeable = [&](const std::string& id) { return dead.count(id) == 0; };
  std::vector<std::string> round;
  for (int i = 0; i < 5; ++i) round.push_back(*p.next(probeable));
  p.add("new", rng);
  while (auto id = p.next(probeable)) round.push_back(*id);
  std::vector<std::string> sorted = round;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(round.size() == 19);  // 20 - 2 dead + 1 new
  CHECK(std::find(round.begin(), round.end(), "new") != round.end());
  CHECK(std::find(round.begin(), round.end(), "m3") == round.end());
  // The order is shuffled, not the input order.
  std::vector<std::string> first_five(round.begin(), round.begin() + 5);
  CHECK(first_five != std::vector<std::string>(ids.begin(), ids.begin() + 5));
}

TEST_CASE("push-pull: the full view holds every row including self and tombstones") {
  Membership m(rec("self", 1, 0, MemberState::kAlive), t0);
  m.merge(rec("a", 1, 0, MemberState::kAlive), t0);
  m.merge(rec("b", 1, 0, MemberState::kAlive), t0);
  m.merge(rec("b", 1, 0, MemberState::kDead), t0);
  const PushPull pp = make_push_pull(m, true, false);
  CHECK(pp.join);
  CHECK_FALSE(pp.reply);
  REQUIRE(pp.members.size() == 3);
  CHECK(pp.members[0].identity == "a");
  CHECK(pp.members[1].state == MemberState::kDead);
  CHECK(pp.members[2].identity == "self");
  std::vector<std::string> seen;
  CHECK(merge_push_pull(pp, [&](const MemberRecord& r) { seen.push_back(r.identity); }) == 3);
  CHECK(seen == std::vector<std::string>{"a", "b", "self"});
}
