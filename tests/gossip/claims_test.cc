// Signed self-claims under attack, on the simulated network: a member that is authenticated (it
// has its own valid credential) but malicious tries to speak for others. Each trace mounts one
// attack through Simulator::inject (the envelope arrives on a connection authenticated as the
// attacker) and checks that the cluster is unchanged and the refusal counted.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gossip/claim.h"
#include "simulator.h"

using namespace esk8s::gossip;
using namespace esk8s::gossip::sim;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr const char* kCluster = "esk8s";  // Config::local()'s cluster name

Simulator make_sim(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  return Simulator(std::move(o));
}

bool converged(const Simulator& s) {
  const auto nodes = s.running_nodes();
  return s.all_see(nodes, nodes, MemberState::kAlive);
}

Envelope carrier(const std::string& from, std::vector<MemberRecord> updates) {
  Envelope e;
  e.cluster = kCluster;
  e.from = from;
  e.from_instance = InstanceId{1, 1};
  e.body = Ack{0};
  e.updates = std::move(updates);
  return e;
}

Envelope push_pull(const std::string& from, std::vector<MemberRecord> members) {
  Envelope e = carrier(from, {});
  e.body = PushPull{false, false, std::move(members)};
  return e;
}

uint64_t rejected(const Simulator& s, size_t node, ClaimRejection r) {
  return s.core(node).stats().claims_rejected[static_cast<size_t>(r)];
}

// The attacker is node 3 of a 4-node cluster ("node-3"): it holds its own key only.
struct Attacked {
  Simulator sim = make_sim(11);
  Attacked() {
    sim.add_cluster(4);
    REQUIRE(sim.run_until([&] { return converged(sim); }, seconds(10)).satisfied);
  }
  const std::string& attacker() const { return sim.identity(3); }
  // node's current record of `identity` as node 0 sees it.
  MemberRecord seen(size_t observer, const std::string& identity) const {
    return sim.view(observer, identity).value();
  }
  // A record "signed" by the attacker's own key for somebody else's identity.
  MemberRecord signed_by_attacker(MemberRecord r) const {
    SimAuthority mine(sim.world_key(), attacker());
    ClaimAuthority::Proof p = mine.sign(signed_claim_bytes(kCluster, r));
    r.credential = p.credential;
    r.signature = p.signature;
    return r;
  }
};

}  // namespace

TEST_CASE("claims: a member cannot announce another member's identity at its own address") {
  Attacked a;
  const std::string victim = a.sim.identity(1);
  const MemberRecord before = a.seen(0, victim);
  // A newer instance of the victim at the attacker's address, with the attacker's proof, with
  // the victim's old proof, and with no proof at all.
  MemberRecord hijack = before;
  hijack.instance = InstanceId{UINT64_MAX, UINT64_MAX};  // would survive restarts if accepted
  hijack.address = a.sim.address(3);
  MemberRecord own_proof = a.signed_by_attacker(hijack);
  MemberRecord replayed_proof = hijack;  // keeps before's credential and signature
  MemberRecord no_proof = hijack;
  no_proof.credential.clear();
  no_proof.signature.clear();
  a.sim.inject(0, carrier(a.attacker(), {own_proof, replayed_proof, no_proof}), a.attacker());
  a.sim.inject(2, push_pull(a.attacker(), {own_proof}), a.attacker());
  a.sim.run_for(seconds(5));

  for (size_t n = 0; n < 3; ++n) {
    const MemberRecord now = a.seen(n, victim);
    CHECK(now.instance == before.instance);
    CHECK(now.address == before.address);
    CHECK(now.state == MemberState::kAlive);
  }
  CHECK(rejected(a.sim, 0, ClaimRejection::kNotAllowed) == 1);   // attacker's credential
  CHECK(rejected(a.sim, 0, ClaimRejection::kBadSignature) == 2);  // replayed / missing proof
  CHECK(rejected(a.sim, 2, ClaimRejection::kNotAllowed) == 1);
  // The victim was never told it is superseded.
  for (const ObservedEvent& e : a.sim.events()) {
    CHECK(e.event.kind != MembershipEvent::Kind::kSuperseded);
  }
}

TEST_CASE("claims: a forged claim about the receiver itself neither supersedes nor kills it") {
  Attacked a;
  MemberRecord self = a.seen(0, a.sim.identity(0));
  MemberRecord newer = self;
  newer.instance = InstanceId{UINT64_MAX, UINT64_MAX};
  newer.address = a.sim.address(3);
  MemberRecord wrap = self;  // Dead at 2^64-1: a refutation would wrap to 0
  wrap.state = MemberState::kDead;
  wrap.incarnation = UINT64_MAX;
  wrap.accuser = a.attacker();
  MemberRecord left = self;  // Left at our incarnation: we never signed it
  left.state = MemberState::kLeft;
  a.sim.inject(0,
               carrier(a.attacker(), {a.signed_by_attacker(newer), a.signed_by_attacker(wrap),
                                      a.signed_by_attacker(left)}),
               a.attacker());
  a.sim.run_for(seconds(5));
  CHECK(rejected(a.sim, 0, ClaimRejection::kNotAllowed) == 1);
  CHECK(rejected(a.sim, 0, ClaimRejection::kForgedSelf) == 2);
  CHECK(a.seen(0, a.sim.identity(0)).instance == a.sim.instance(0));
  CHECK(a.sim.core(0).stats().refutations == 0);
  CHECK(converged(a.sim));
}

TEST_CASE("claims: death claims at incarnations nobody signed about every member change nothing") {
  Attacked a;
  // One frame to each honest node naming every member dead at 2^64-1.
  for (size_t target = 0; target < 3; ++target) {
    std::vector<MemberRecord> deaths;
    for (size_t m = 0; m < 3; ++m) {
      MemberRecord r = a.seen(target, a.sim.identity(m));
      r.state = MemberState::kDead;
      r.incarnation = UINT64_MAX;
      r.accuser = a.attacker();
      deaths.push_back(r);
    }
    a.sim.inject(target, carrier(a.attacker(), deaths), a.attacker());
  }
  a.sim.run_for(seconds(10));
  CHECK(converged(a.sim));
  for (const ObservedEvent& e : a.sim.events()) CHECK(e.event.kind != MembershipEvent::Kind::kDied);
  for (size_t n = 0; n < 3; ++n) {
    CHECK(a.sim.core(n).alive_count() == 4);
    CHECK(rejected(a.sim, n, ClaimRejection::kBadSignature) +
              rejected(a.sim, n, ClaimRejection::kForgedSelf) ==
          3);
  }
}

TEST_CASE("claims: an accusation that carries the member's own proof is always refuted") {
  Attacked a;
  // The attacker may accuse a member at the incarnation the member signed (it holds that proof):
  // the member out-bids it and stays alive everywhere.
  MemberRecord accused = a.seen(0, a.sim.identity(1));
  accused.state = MemberState::kDead;
  accused.accuser = a.attacker();
  a.sim.inject(0, carrier(a.attacker(), {accused}), a.attacker());
  const RunResult r = a.sim.run_until(
      [&] {
        return converged(a.sim) && a.seen(0, a.sim.identity(1)).incarnation > accused.incarnation;
      },
      seconds(10));
  CHECK(r.satisfied);
  CHECK(a.sim.core(1).stats().refutations >= 1);
}

TEST_CASE("claims: made-up identities in a push-pull are dropped before they reach the table") {
  Attacked a;
  std::vector<MemberRecord> junk;
  const std::vector<std::string> names = {"UPPER.case",     "trailing.dot.", "<script>",
                                          "new\nline",      "\xff\xfe",      "-dash.start",
                                          "a..b",           std::string(64, 'x') + ".long-label"};
  for (const std::string& name : names) {
    MemberRecord r;
    r.identity = name;
    r.instance = InstanceId{5, 5};
    r.address = "10.9.9.9";
    r.port = 1;
    junk.push_back(sign_as_owner(a.sim.world_key(), kCluster, r));  // even "validly" signed
  }
  // Valid names the attacker has no key for.
  for (int i = 0; i < 1000; ++i) {
    MemberRecord r;
    r.identity = "ghost-" + std::to_string(i) + ".example";
    r.instance = InstanceId{5, 5};
    r.address = "10.9.9.9";
    r.port = 1;
    junk.push_back(a.signed_by_attacker(r));
  }
  a.sim.inject(0, push_pull(a.attacker(), junk), a.attacker());
  a.sim.run_for(seconds(5));
  CHECK(rejected(a.sim, 0, ClaimRejection::kInvalidIdentity) == names.size());
  CHECK(rejected(a.sim, 0, ClaimRejection::kNotAllowed) == 1000);
  CHECK(a.sim.core(0).members().size() == 4);
  CHECK(a.sim.core(1).members().size() == 4);  // nothing spread either
}

TEST_CASE("claims: the table never grows past max_members, even with validly signed records") {
  SimOptions o;
  o.seed = 5;
  o.config.max_members = 8;
  Simulator sim(std::move(o));
  sim.add_cluster(3);
  REQUIRE(sim.run_until([&] { return converged(sim); }, seconds(10)).satisfied);
  // A CA that issues too much (modelled by signing as each identity) admits 100 identities.
  std::vector<MemberRecord> flood;
  for (int i = 0; i < 100; ++i) {
    MemberRecord r;
    r.identity = "extra-" + std::to_string(i);
    r.instance = InstanceId{5, 5};
    r.address = "10.9.9.9";
    r.port = 1;
    flood.push_back(sign_as_owner(sim.world_key(), kCluster, r));
  }
  sim.inject(0, push_pull(sim.identity(2), flood), sim.identity(2));
  sim.run_for(seconds(2));
  CHECK(sim.core(0).members().size() == 8);
  CHECK(rejected(sim, 0, ClaimRejection::kTableFull) == 95);
}

TEST_CASE("claims: an indirect probe is relayed only to a member at the address it signed") {
  Attacked a;
  const MemberRecord target = a.seen(0, a.sim.identity(1));
  Envelope e = carrier(a.attacker(), {});
  // Another port, another host, an unknown identity: each refused.
  e.body = IndirectPing{77, target.identity, target.address, static_cast<uint16_t>(target.port + 1),
                        true};
  a.sim.inject(0, e, a.attacker());
  e.body = IndirectPing{78, target.identity, "192.0.2.1", target.port, true};
  a.sim.inject(0, e, a.attacker());
  e.body = IndirectPing{79, "stranger", "192.0.2.1", 22, true};
  a.sim.inject(0, e, a.attacker());
  CHECK(a.sim.core(0).stats().indirect_pings_refused == 3);
  // The real address is relayed.
  e.body = IndirectPing{80, target.identity, target.address, target.port, true};
  a.sim.inject(0, e, a.attacker());
  CHECK(a.sim.core(0).stats().indirect_pings_refused == 3);
}

TEST_CASE("claims: after refresh_signature the member's record carries a new proof everyone accepts") {
  Simulator sim = make_sim(3);
  sim.add_cluster(3);
  REQUIRE(sim.run_until([&] { return converged(sim); }, seconds(10)).satisfied);
  const MemberRecord before = sim.view(1, sim.identity(0)).value();
  sim.core(0).refresh_signature(sim.now());
  const RunResult r = sim.run_until(
      [&] {
        auto v1 = sim.view(1, sim.identity(0));
        auto v2 = sim.view(2, sim.identity(0));
        return v1 && v2 && v1->incarnation == before.incarnation + 1 &&
               v2->incarnation == before.incarnation + 1;
      },
      seconds(5));
  CHECK(r.satisfied);
  CHECK(sim.view(1, sim.identity(0))->signature != before.signature);
}
