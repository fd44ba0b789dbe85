// One Core driven by hand: the message-level contracts of core.h.
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "gossip/core.h"
#include "tests/gossip/simulator.h"

using namespace esk8s::gossip;
using std::chrono::milliseconds;

namespace {

const Time t0 = Time(std::chrono::hours(1));
constexpr uint64_t kWorld = 7;  // the SimAuthority key of these tests

// Node "a"'s authority: it signs as "a" and verifies everyone.
std::shared_ptr<ClaimAuthority> auth_a() { return std::make_shared<sim::SimAuthority>(kWorld, "a"); }

LocalMember local_a() { return LocalMember{"a", InstanceId{100, 1}, "10.0.0.1", 7946, "m0"}; }

Envelope from(const std::string& who, Body body, InstanceId inst = InstanceId{100, 2}) {
  Envelope e;
  e.cluster = "esk8s";
  e.from = who;
  e.from_instance = inst;
  e.body = std::move(body);
  return e;
}

MemberRecord alive(const std::string& id, InstanceId inst, uint64_t inc,
                   const std::string& addr = "10.0.0.9") {
  MemberRecord r;
  r.identity = id;
  r.instance = inst;
  r.incarnation = inc;
  r.address = addr;
  r.port = 7946;
  return sim::sign_as_owner(kWorld, "esk8s", r);  // as the member itself made it
}

std::vector<const Outgoing*> acks(const Ready& r) {
  std::vector<const Outgoing*> out;
  for (const Outgoing& o : r.messages) {
    if (std::holds_alternative<Ack>(o.envelope.body)) out.push_back(&o);
  }
  return out;
}

// A copy, so that it outlives the members() vector it came from.
std::optional<MemberView> find(const std::vector<MemberView>& v, const std::string& id) {
  for (const MemberView& m : v) {
    if (m.record.identity == id) return m;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("core: a ping for another identity is not acked and a ping for us is") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Ready r = c.step(from("b", Ping{7, "someone-else"}), "b", t0);
  CHECK(acks(r).empty());
  r = c.step(from("b", Ping{8, "a"}), "b", t0);
  REQUIRE(acks(r).size() == 1);
  const Outgoing& ack = *acks(r)[0];
  CHECK(ack.to == "b");
  CHECK(std::get<Ack>(ack.envelope.body).seq == 8);
  // b is not in our table: answer on the connection the ping came on.
  CHECK(ack.address.empty());
  CHECK(ack.envelope.from == "a");
  CHECK(ack.envelope.cluster == "esk8s");
}

TEST_CASE("core: acks go to the table address of the sender when its instance is the one we know") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ping{8, "a"}, InstanceId{100, 2});
  e.updates.push_back(alive("b", InstanceId{100, 2}, 0, "10.0.0.2"));
  Ready r = c.step(e, "b", t0);
  REQUIRE(acks(r).size() == 1);
  CHECK(acks(r)[0]->address == "10.0.0.2");
  CHECK(acks(r)[0]->port == 7946);
  // The same identity speaking from another (stale) instance is answered on its connection.
  r = c.step(from("b", Ping{9, "a"}, InstanceId{50, 2}), "b", t0);
  REQUIRE(acks(r).size() == 1);
  CHECK(acks(r)[0]->address.empty());
}

TEST_CASE(
    "core: envelopes from another cluster or an unsupported version are dropped and counted") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope other = from("b", Ping{1, "a"});
  other.cluster = "other";
  CHECK(c.step(other, "b", t0).messages.empty());
  CHECK(c.stats().dropped_other_cluster == 1);

  Envelope future = from("b", Ping{1, "a"});
  future.version_min = kProtocolVersionMax + 1;
  future.version_max = kProtocolVersionMax + 3;
  CHECK(c.step(future, "b", t0).messages.empty());
  Envelope past = from("b", Ping{1, "a"});
  past.version_min = 0;
  past.version_max = kProtocolVersionMin - 1;
  CHECK(c.step(past, "b", t0).messages.empty());
  CHECK(c.stats().dropped_bad_version == 2);

  // An overlapping range is fine.
  Envelope wide = from("b", Ping{1, "a"});
  wide.version_min = kProtocolVersionMin;
  wide.version_max = kProtocolVersionMax + 5;
  CHECK(acks(c.step(wide, "b", t0)).size() == 1);
}

TEST_CASE(
    "core: an envelope whose from differs from the authenticated identity is dropped and counted") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ping{1, "a"});
  e.updates.push_back(alive("b", InstanceId{100, 2}, 0));
  CHECK(c.step(e, "mallory", t0).messages.empty());
  CHECK(c.stats().dropped_unauthenticated == 1);
  CHECK(c.members().size() == 1);  // its updates were not merged either
}

TEST_CASE("core: records that break the limits are dropped and counted") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ack{0});
  e.updates.push_back(alive("", InstanceId{1, 1}, 0));
  e.updates.push_back(alive(std::string(kMaxIdentityBytes + 1, 'x'), InstanceId{1, 1}, 0));
  MemberRecord fat = alive("fat", InstanceId{1, 1}, 0);
  fat.meta.assign(kMaxMetaBytes + 1, 'm');
  e.updates.push_back(fat);
  e.updates.push_back(alive("zero-instance", InstanceId{}, 0));
  e.updates.push_back(alive("ok", InstanceId{1, 1}, 0));
  c.step(e, "b", t0);
  CHECK(c.stats().dropped_invalid_records == 4);
  const auto members = c.members();
  CHECK(members.size() == 2);
  CHECK(find(members, "ok").has_value());
}

TEST_CASE(
    "core: a record from an older instance with a higher incarnation does not replace the newer "
    "one") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ack{0});
  e.updates.push_back(alive("x", InstanceId{300, 1}, 0, "10.0.0.30"));
  c.step(e, "b", t0);
  Envelope stale = from("b", Ack{0});
  stale.updates.push_back(alive("x", InstanceId{200, 1}, 99, "10.0.0.20"));
  Ready r = c.step(stale, "b", t0);
  CHECK(r.events.empty());
  CHECK(c.stats().dropped_stale == 1);
  const std::optional<MemberView> x = find(c.members(), "x");
  REQUIRE(x.has_value());
  CHECK(x->record.instance == InstanceId{300, 1});
  CHECK(x->record.address == "10.0.0.30");
}

TEST_CASE(
    "core: a suspicion about ourselves is refuted with a higher incarnation and raises awareness") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  // An accusation names our current record, proof included (the only one it can name).
  MemberRecord me = find(c.members(), "a")->record;
  me.state = MemberState::kSuspect;
  me.accuser = "b";
  Envelope e = from("b", Ack{0});
  e.updates.push_back(me);
  c.step(e, "b", t0);
  CHECK(c.stats().refutations == 1);
  CHECK(c.awareness() == 1);
  const std::optional<MemberView> self = find(c.members(), "a");
  REQUIRE(self.has_value());
  CHECK(self->is_self);
  CHECK(self->record.incarnation == 1);
  CHECK(self->record.state == MemberState::kAlive);
  // The refutation rides on the next message we send.
  e = from("b", Ping{3, "a"});
  e.updates.push_back(alive("b", InstanceId{100, 2}, 0));
  Ready r = c.step(e, "b", t0);
  REQUIRE(acks(r).size() == 1);
  const auto& updates = acks(r)[0]->envelope.updates;
  CHECK(std::any_of(updates.begin(), updates.end(), [](const MemberRecord& u) {
    return u.identity == "a" && u.incarnation == 1 && u.state == MemberState::kAlive;
  }));
  // An old accusation (below our incarnation) changes nothing.
  e = from("b", Ack{0});
  e.updates.push_back(me);
  c.step(e, "b", t0);
  CHECK(c.stats().refutations == 1);
}

TEST_CASE(
    "core: a newer instance claiming our identity emits superseded once and the core goes quiet") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ack{0});
  e.updates.push_back(alive("b", InstanceId{100, 2}, 0));
  e.updates.push_back(alive("a", InstanceId{200, 1}, 0, "10.0.0.77"));
  Ready r = c.step(e, "b", t0);
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[1].kind == MembershipEvent::Kind::kSuperseded);
  CHECK(r.events[1].member.instance == InstanceId{200, 1});
  // Again: no second event, no answers, no refutation, no timers sending anything.
  Envelope again = from("b", Ping{5, "a"});
  again.updates.push_back(alive("a", InstanceId{200, 1}, 3, "10.0.0.77"));
  r = c.step(again, "b", t0);
  CHECK(r.events.empty());
  CHECK(r.messages.empty());
  for (int i = 1; i <= 50; ++i) {
    r = c.tick(t0 + milliseconds(100) * i);
    CHECK(r.messages.empty());
  }
  CHECK(c.stats().refutations == 0);
  CHECK(c.next_deadline() > t0);
}

TEST_CASE("core: a stale claim about our own identity from an older instance is ignored") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ack{0});
  MemberRecord old = alive("a", InstanceId{50, 1}, 99, "10.0.0.5");
  e.updates.push_back(old);
  Ready r = c.step(e, "b", t0);
  CHECK(r.events.empty());
  CHECK(c.stats().dropped_stale == 1);
  CHECK(find(c.members(), "a")->record.instance == InstanceId{100, 1});
}

TEST_CASE("core: set_local_meta bumps our incarnation and gossips the new meta") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ack{0});
  e.updates.push_back(alive("b", InstanceId{100, 2}, 0));
  c.step(e, "b", t0);
  c.set_local_meta("m1", t0);
  const std::optional<MemberView> self = find(c.members(), "a");
  CHECK(self->record.meta == "m1");
  CHECK(self->record.incarnation == 1);
  c.set_local_meta("m1", t0);  // unchanged: nothing
  CHECK(find(c.members(), "a")->record.incarnation == 1);
  // Within one gossip interval the update goes out to b.
  bool seen = false;
  for (Time t = t0; t < t0 + milliseconds(200) && !seen; t += milliseconds(10)) {
    for (const Outgoing& o : c.tick(t).messages) {
      for (const MemberRecord& u : o.envelope.updates) {
        seen |= u.identity == "a" && u.meta == "m1" && u.incarnation == 1;
      }
    }
  }
  CHECK(seen);
}

TEST_CASE("core: next_deadline is never later than one probe interval ahead") {
  Core c(Config::local(), local_a(), auth_a(), 1, t0);
  Time now = t0;
  for (int i = 0; i < 100; ++i) {
    const Time d = c.next_deadline();
    CHECK(d <= now + Config::local().probe_interval);
    now = std::max(now, d);
    c.tick(now);
  }
}

TEST_CASE("core: tombstones are removed after dead_retention unless the identity is still a seed") {
  Config cfg = Config::local();
  Core c(cfg, local_a(), auth_a(), 1, t0);
  Envelope e = from("b", Ack{0});
  e.updates.push_back(alive("x", InstanceId{100, 3}, 0));
  e.updates.push_back(alive("y", InstanceId{100, 4}, 0));
  c.step(e, "b", t0);
  c.set_seeds({Seed{"y", "10.0.0.4", 7946}}, t0);
  Envelope dead = from("b", Ack{0});
  for (const char* id : {"x", "y"}) {
    MemberRecord r = alive(id, id[0] == 'x' ? InstanceId{100, 3} : InstanceId{100, 4}, 0);
    r.state = MemberState::kDead;
    r.accuser = "b";
    dead.updates.push_back(r);
  }
  Ready r = c.step(dead, "b", t0);
  CHECK(r.events.size() == 2);
  std::vector<MembershipEvent> events;
  Time now = t0;
  while (now < t0 + cfg.dead_retention + milliseconds(500)) {
    now = std::max(now + milliseconds(1), c.next_deadline());
    for (auto& ev : c.tick(now).events) events.push_back(ev);
  }
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == MembershipEvent::Kind::kRemoved);
  CHECK(events[0].member.identity == "x");
  const auto members = c.members();
  CHECK_FALSE(find(members, "x").has_value());
  REQUIRE(find(members, "y").has_value());
  CHECK(find(members, "y")->record.state == MemberState::kDead);
  // y leaves discovery: its tombstone expires too.
  r = c.set_seeds({}, now);
  now += milliseconds(1);
  r = c.tick(now);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].kind == MembershipEvent::Kind::kRemoved);
  CHECK_FALSE(find(c.members(), "y").has_value());
}

TEST_CASE("core: a relay forwards the target's ack and sends a nack when the target stays silent") {
  Config cfg = Config::local();
  Core c(cfg, local_a(), auth_a(), 1, t0);
  Envelope known = from("b", Ack{0});
  known.updates.push_back(alive("t", InstanceId{100, 9}, 0, "10.0.0.20"));
  c.step(known, "b", t0);
  // b asks us to probe t.
  Ready r = c.step(from("b", IndirectPing{41, "t", "10.0.0.20", 7946, true}), "b", t0);
  REQUIRE(r.messages.size() == 1);
  const Outgoing& ping = r.messages[0];
  CHECK(ping.to == "t");
  CHECK(ping.address == "10.0.0.20");
  const uint32_t relay_seq = std::get<Ping>(ping.envelope.body).seq;
  // t answers: b gets an Ack with its own seq.
  r = c.step(from("t", Ack{relay_seq}, InstanceId{100, 9}), "t", t0 + milliseconds(5));
  REQUIRE(acks(r).size() == 1);
  CHECK(acks(r)[0]->to == "b");
  CHECK(std::get<Ack>(acks(r)[0]->envelope.body).seq == 41);

  // Again, but t never answers: a Nack after our probe timeout.
  r = c.step(from("b", IndirectPing{42, "t", "10.0.0.20", 7946, true}), "b", t0);
  REQUIRE(r.messages.size() == 1);
  bool nacked = false;
  for (Time t = t0; t <= t0 + cfg.probe_timeout + milliseconds(1); t += milliseconds(10)) {
    for (const Outgoing& o : c.tick(t).messages) {
      if (const Nack* n = std::get_if<Nack>(&o.envelope.body)) {
        CHECK(o.to == "b");
        CHECK(n->seq == 42);
        CHECK(t >= t0 + cfg.probe_timeout * 4 / 5);
        nacked = true;
      }
    }
  }
  CHECK(nacked);
}
