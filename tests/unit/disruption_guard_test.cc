// The disruption guard's decisions (plugin/disruption_guard.h): Lease parsing, who may take it,
// when a returning member frees it, and the bodies sent; and /health/disruptable's answer with
// the guard on.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"
#include "plugin/disruption_guard.h"
#include "plugin/health.h"

using namespace esk8s::plugin;
using nlohmann::json;
using std::chrono::seconds;

namespace {

WallTime at(const char* rfc3339) { return *esk8s::parse_rfc3339(rfc3339); }

std::string lease_json(const std::string& holder, const std::string& renew, int duration) {
  json spec = json::object();
  if (!holder.empty()) spec["holderIdentity"] = holder;
  if (!renew.empty()) spec["renewTime"] = renew;
  if (duration) spec["leaseDurationSeconds"] = duration;
  return json{{"metadata", {{"name", "g"}, {"namespace", "esdb-a"}, {"resourceVersion", "42"}}},
              {"spec", spec}}
      .dump();
}

const char* kSelf = "esdb-0.esdb.esdb-a.svc.cluster.local 0000-aaaa";
const char* kOther = "esdb-0.esdb.esdb-b.svc.cluster.local 0000-bbbb";

}  // namespace

TEST_CASE("disruption guard: no Lease is created, a free or expired one is taken") {
  const WallTime now = at("2026-12-07T18:00:00Z");
  CHECK(decide_acquire(std::nullopt, kSelf, now).step == GuardStep::kCreate);
  auto free = parse_lease(lease_json("", "", 0));
  REQUIRE(free);
  CHECK(decide_acquire(free.value(), kSelf, now).step == GuardStep::kTake);
  auto expired = parse_lease(lease_json(kOther, "2026-12-07T17:58:00.000000Z", 119));
  REQUIRE(expired);
  CHECK(decide_acquire(expired.value(), kSelf, now).step == GuardStep::kTake);
  // A holder without a time or a duration never blocks forever.
  auto timeless = parse_lease(lease_json(kOther, "", 0));
  REQUIRE(timeless);
  CHECK(decide_acquire(timeless.value(), kSelf, now).step == GuardStep::kTake);
}

TEST_CASE("disruption guard: another holder refuses until its expiry, our own is held") {
  const WallTime now = at("2026-12-07T18:00:00Z");
  auto held = parse_lease(lease_json(kOther, "2026-12-07T17:59:30.500000Z", 120));
  REQUIRE(held);
  GuardDecision d = decide_acquire(held.value(), kSelf, now);
  CHECK(d.step == GuardStep::kRefused);
  CHECK(d.holder == kOther);
  CHECK(d.expires == at("2026-12-07T18:01:30.5Z"));
  auto mine = parse_lease(lease_json(kSelf, "2026-12-07T17:59:30Z", 120));
  REQUIRE(mine);
  CHECK(decide_acquire(mine.value(), kSelf, now).step == GuardStep::kHeld);
}

TEST_CASE("disruption guard: a returning member frees what an earlier instance of it holds") {
  auto earlier = parse_lease(lease_json("esdb-0.esdb.esdb-a.svc.cluster.local 0000-old0",
                                        "2026-12-07T17:59:30Z", 120));
  REQUIRE(earlier);
  CHECK(should_release(earlier.value(), "esdb-0.esdb.esdb-a.svc.cluster.local", kSelf));
  // Not its own current hold, not another member's (even one whose name starts the same).
  auto mine = parse_lease(lease_json(kSelf, "2026-12-07T17:59:30Z", 120));
  CHECK_FALSE(should_release(mine.value(), "esdb-0.esdb.esdb-a.svc.cluster.local", kSelf));
  auto other = parse_lease(lease_json("esdb-0.esdb.esdb-a.svc.cluster.local.evil 1",
                                      "2026-12-07T17:59:30Z", 120));
  CHECK_FALSE(should_release(other.value(), "esdb-0.esdb.esdb-a.svc.cluster.local", kSelf));
  auto free = parse_lease(lease_json("", "", 0));
  CHECK_FALSE(should_release(free.value(), "esdb-0.esdb.esdb-a.svc.cluster.local", kSelf));
}

TEST_CASE("disruption guard: hostile Lease objects are refused, not trusted") {
  CHECK_FALSE(parse_lease("not json"));
  CHECK_FALSE(parse_lease("[]"));
  CHECK_FALSE(parse_lease(R"({"metadata":{}})"));  // no resourceVersion to write back
  CHECK_FALSE(parse_lease(std::string(70000, ' ') + "{}"));
  auto wrong_types = parse_lease(
      R"({"metadata":{"resourceVersion":"1"},"spec":{"holderIdentity":7,"renewTime":"yesterday","leaseDurationSeconds":"120"}})");
  REQUIRE(wrong_types);
  CHECK(wrong_types->holder.empty());
  CHECK_FALSE(wrong_types->renew);
  CHECK(wrong_types->duration_seconds == 0);
}

TEST_CASE("disruption guard: the bodies carry the holder, MicroTimes and the resourceVersion") {
  const WallTime now = at("2026-12-07T18:00:00.123456Z");
  CHECK(esk8s::format_rfc3339(now, 6) == "2026-12-07T18:00:00.123456Z");
  json create = json::parse(lease_body("esdb-a", "g", kSelf, now, 120, ""));
  CHECK(create["kind"] == "Lease");
  CHECK(create["apiVersion"] == "coordination.k8s.io/v1");
  CHECK_FALSE(create["metadata"].contains("resourceVersion"));
  CHECK(create["spec"]["holderIdentity"] == kSelf);
  CHECK(create["spec"]["leaseDurationSeconds"] == 120);
  CHECK(create["spec"]["renewTime"] == "2026-12-07T18:00:00.123456Z");
  json take = json::parse(lease_body("esdb-a", "g", kSelf, now, 120, "42"));
  CHECK(take["metadata"]["resourceVersion"] == "42");
  auto lease = parse_lease(take.dump());
  REQUIRE(lease);
  CHECK(lease->expires() == now + seconds(120));
  json freed = json::parse(released_lease_body("esdb-a", "g", lease.value()));
  CHECK(freed["metadata"]["resourceVersion"] == "42");
  CHECK_FALSE(freed["spec"].contains("holderIdentity"));
}

TEST_CASE("health: with the guard on, disruptable needs the Lease held now, and asks for it") {
  Snapshot s;
  s.started = true;
  s.readiness.mode = ReadyMode::kQuorum;
  s.readiness.cluster_size = 3;
  s.readiness.alive = s.readiness.confirmed_alive = 3;
  s.readiness.gossip_running = true;
  s.guard.enabled = true;
  s.guard.lease = "esdb-a/esk8s-disruption";
  const WallTime now = at("2026-12-07T18:00:00Z");
  HealthReport r = disruptable_report(s, now);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "disruption-guard");
  CHECK(r.wants_guard);
  s.guard.holder = kOther;
  s.guard.holder_until = now + seconds(30);
  r = disruptable_report(s, now);
  CHECK(r.body["guard"]["holder"] == kOther);
  CHECK(r.body["guard"]["holderSecondsLeft"] == 30);
  s.guard.held = true;
  s.guard.held_until = now + seconds(60);
  r = disruptable_report(s, now);
  CHECK(r.http_status == 200);
  CHECK_FALSE(r.wants_guard);
  CHECK(disruptable_report(s, now + seconds(61)).http_status == 503);  // the hold ran out
  // The local check comes first: a held guard never overrides a lost majority.
  s.readiness.confirmed_alive = 2;
  r = disruptable_report(s, now);
  CHECK(r.body["reason"] == "would-lose-quorum");
  CHECK_FALSE(r.wants_guard);
}
