#include <doctest/doctest.h>

#include "plugin/health.h"

using namespace esk8s::plugin;
using namespace std::chrono;

TEST_CASE("health: live is ok while the heartbeat is within the deadline and fails after") {
  auto t0 = steady_clock::time_point(seconds(100));
  auto r = live_report(t0, t0 + milliseconds(1999), milliseconds(2000));
  CHECK(r.http_status == 200);
  CHECK(r.body["status"] == "ok");
  r = live_report(t0, t0 + milliseconds(2001), milliseconds(2000));
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "event-loop-stalled");
  CHECK(r.body["heartbeat_age_ms"] == 2001);
}

TEST_CASE("health: startup fails before start completes and names the first failed check") {
  Snapshot s;
  auto r = startup_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "starting");

  s.started = true;
  s.startup_checks = {{"config", true, ""}, {"http-listener", true, "127.0.0.1:1"}};
  r = startup_report(s);
  CHECK(r.http_status == 200);
  CHECK(r.body["status"] == "ok");
  CHECK(r.body["checks"].size() == 2);

  s.startup_checks.push_back({"tls-material", false, "no certificate"});
  r = startup_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "tls-material");
}

namespace {

Snapshot running(ReadyMode mode, uint32_t size, uint32_t alive, uint32_t discovered) {
  Snapshot s;
  s.started = true;
  s.readiness.mode = mode;
  s.readiness.mode_reason = "test";
  s.readiness.cluster_size = size;
  s.readiness.cluster_size_source = "ESK8S_CLUSTER_SIZE";
  s.readiness.alive = alive;
  s.readiness.confirmed_alive = alive;
  s.readiness.discovered = discovered;
  s.readiness.gossip_running = true;
  return s;
}

}  // namespace

TEST_CASE("health: ready in quorum mode needs a majority of the cluster size alive") {
  auto s = running(ReadyMode::kQuorum, 3, 1, 3);
  auto r = ready_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["status"] == "not-ready");
  CHECK(r.body["reason"] == "quorum");
  CHECK(r.body["alive"] == 1);
  CHECK(r.body["needed"] == 2);
  CHECK(r.body["clusterSize"] == 3);
  CHECK(r.body["mode"] == "quorum");
  s.readiness.alive = 2;
  r = ready_report(s);
  CHECK(r.http_status == 200);
  CHECK(r.body["status"] == "ready");
  s = running(ReadyMode::kQuorum, 5, 2, 5);
  CHECK(ready_report(s).http_status == 503);
  s.readiness.alive = 3;
  CHECK(ready_report(s).http_status == 200);
}

TEST_CASE("health: bootstrap-latch is ready alone until quorum was seen, then quorum-aware") {
  auto s = running(ReadyMode::kBootstrapLatch, 3, 1, 1);
  auto r = ready_report(s);
  CHECK(r.http_status == 200);
  CHECK(r.body["reason"] == "bootstrapping");
  CHECK(r.body["mode"] == "bootstrap-latch");
  // Quorum seen once; all pods exist; a majority is lost: not ready.
  s = running(ReadyMode::kBootstrapLatch, 3, 1, 3);
  s.readiness.quorum_seen = true;
  r = ready_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "quorum");
  // The missing members' pods do not exist (deleted): ready, or OrderedReady never recreates them.
  s.readiness.discovered = 1;
  r = ready_report(s);
  CHECK(r.http_status == 200);
  CHECK(r.body["reason"] == "pods-missing");
  // With quorum it is plain ready.
  s = running(ReadyMode::kBootstrapLatch, 3, 3, 3);
  s.readiness.quorum_seen = true;
  r = ready_report(s);
  CHECK(r.http_status == 200);
  CHECK_FALSE(r.body.contains("reason"));
}

TEST_CASE("health: ready fails first for starting, superseded, gossip down and host not ready") {
  Snapshot s;
  CHECK(ready_report(s).body["reason"] == "starting");
  s = running(ReadyMode::kQuorum, 3, 3, 3);
  s.readiness.superseded = true;
  CHECK(ready_report(s).body["reason"] == "superseded");
  s = running(ReadyMode::kBootstrapLatch, 3, 3, 3);
  s.readiness.gossip_running = false;
  CHECK(ready_report(s).body["reason"] == "gossip-not-running");
  s = running(ReadyMode::kBootstrapLatch, 3, 3, 3);
  s.readiness.host_ready = false;
  auto r = ready_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "host-not-ready");
  CHECK(r.body["hostReady"] == false);
}

TEST_CASE("health: ready without a known cluster size says so in quorum mode") {
  auto s = running(ReadyMode::kQuorum, 0, 2, 2);
  auto r = ready_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "cluster-size-unknown");
}

TEST_CASE("health: disruptable only when the others keep a majority without this node") {
  auto s = running(ReadyMode::kQuorum, 3, 3, 3);
  auto r = disruptable_report(s, {});
  CHECK(r.http_status == 200);
  CHECK(r.body["status"] == "disruptable");
  s.readiness.alive = s.readiness.confirmed_alive = 2;
  r = disruptable_report(s, {});
  CHECK(r.http_status == 503);
  CHECK(r.body["status"] == "not-disruptable");
  CHECK(r.body["reason"] == "would-lose-quorum");
  CHECK(r.body["needed"] == 2);
  s = running(ReadyMode::kQuorum, 5, 4, 5);
  CHECK(disruptable_report(s, {}).http_status == 200);
  s.readiness.alive = s.readiness.confirmed_alive = 3;
  CHECK(disruptable_report(s, {}).http_status == 503);
  s = running(ReadyMode::kQuorum, 1, 1, 1);
  CHECK(disruptable_report(s, {}).body["reason"] == "would-lose-quorum");
  s = running(ReadyMode::kQuorum, 0, 3, 3);
  CHECK(disruptable_report(s, {}).body["reason"] == "cluster-size-unknown");
  s = running(ReadyMode::kQuorum, 3, 3, 3);
  s.readiness.gossip_running = false;
  CHECK(disruptable_report(s, {}).body["reason"] == "gossip-not-running");
}

TEST_CASE("health: a suspected peer counts as down for disruptable, not yet for ready") {
  // 3 of 3 alive, one of them suspected: ready still counts it (the failure detector has not
  // decided), but stopping this node could leave one confirmed member of three.
  auto s = running(ReadyMode::kQuorum, 3, 3, 3);
  s.readiness.confirmed_alive = 2;
  CHECK(ready_report(s).http_status == 200);
  auto r = disruptable_report(s, {});
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "would-lose-quorum");
  CHECK(r.body["confirmedAlive"] == 2);
  CHECK(r.body["alive"] == 3);
  s.readiness.confirmed_alive = 3;
  CHECK(disruptable_report(s, {}).http_status == 200);
}

TEST_CASE("health: ready waits while auto has not read the StatefulSet yet") {
  auto s = running(ReadyMode::kBootstrapLatch, 3, 1, 1);
  s.readiness.mode_pending = true;
  auto r = ready_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "resolving-ready-mode");
  s.readiness.mode_pending = false;
  CHECK(ready_report(s).http_status == 200);
}

// Every (mode, size known?, alive, discovered, quorum seen) combination that matters for a cluster
// of 3, with the size unknown (0) as it is before the StatefulSet read or after a 403 on it.
TEST_CASE("health: an unknown cluster size never yields a quorum, in every mode and count") {
  for (ReadyMode mode : {ReadyMode::kQuorum, ReadyMode::kBootstrapLatch}) {
    for (uint32_t alive = 1; alive <= 5; ++alive) {
      for (uint32_t discovered = 1; discovered <= 5; ++discovered) {
        CAPTURE(static_cast<int>(mode));
        CAPTURE(alive);
        CAPTURE(discovered);
        auto s = running(mode, 0, alive, discovered);
        s.readiness.cluster_size_source = "waiting for the pod's StatefulSet (spec.replicas)";
        // Nothing to latch: not even a node alone "is a majority of one".
        CHECK_FALSE(quorum_observed(s.readiness));
        CHECK(disruptable_report(s, {}).body["reason"] == "cluster-size-unknown");
        auto r = ready_report(s);
        CHECK(r.body["clusterSize"] == 0);
        CHECK(r.body["clusterSizeSource"] == s.readiness.cluster_size_source);
        if (mode == ReadyMode::kQuorum) {
          // A 403 on the StatefulSet never makes a node ready alone (or with anyone) here.
          CHECK(r.http_status == 503);
          CHECK(r.body["reason"] == "cluster-size-unknown");
        } else {
          // bootstrap-latch keeps answering as bootstrapping: OrderedReady must go on
          // creating the pods, and the latch can only close against a known size.
          CHECK(r.http_status == 200);
          CHECK(r.body["reason"] == "bootstrapping");
        }
      }
    }
  }
}

TEST_CASE("health: a quorum is observed only against a known size and a running gossip") {
  for (uint32_t size = 1; size <= 5; ++size) {
    for (uint32_t alive = 0; alive <= size; ++alive) {
      CAPTURE(size);
      CAPTURE(alive);
      auto s = running(ReadyMode::kBootstrapLatch, size, alive, size);
      CHECK(quorum_observed(s.readiness) == (alive >= size / 2 + 1));
      s.readiness.gossip_running = false;
      CHECK_FALSE(quorum_observed(s.readiness));
    }
  }
}

TEST_CASE("health: once the size is known, a latched node alone with its peers' pods present is "
          "ready only until quorum was seen") {
  // Pod 0 of an OrderedReady cluster of 3 whose StatefulSet read has just answered: nothing was
  // latched while the size was unknown, so it is still bootstrapping (ready), and pods 1 and 2 get
  // created. Had it latched a "quorum of one" earlier, it would now be not-ready: the deadlock.
  auto s = running(ReadyMode::kBootstrapLatch, 3, 1, 3);
  s.readiness.quorum_seen = false;
  CHECK(ready_report(s).http_status == 200);
  CHECK(ready_report(s).body["reason"] == "bootstrapping");
  s.readiness.quorum_seen = true;
  CHECK(ready_report(s).http_status == 503);
}
