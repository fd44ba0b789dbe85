// What the kubernetes discovery source logs and counts against kubesim: each problem once, as
// what it is. A malformed watch event is not also a connection error (nor counted as code 0), a
// 410 (as an ERROR event or as an HTTP status) is one warning, and a warning about a peer is
// logged when it appears, not at every EndpointSlice change.
#include <doctest/doctest.h>

#include "tests/kubesim/discovery_env.h"

using namespace discovery_env;

TEST_CASE("discovery logs: a malformed watch event is one error, not a connection error") {
  Env env;
  env.namespace_with_service("prod");
  env.statefulset("prod", 2);
  RunningSource s(env);
  REQUIRE(s.synced_with(2));
  env.cluster->api().faults().malformed_events = 1;
  env.scale("prod", 3);
  // The broken line is dropped; the re-watch from the last good resourceVersion gets the change.
  CHECK_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 20s), s.sink->all());
  CHECK_MESSAGE(s.sink->count("the API server sent a malformed watch event") == 1, s.sink->all());
  CHECK(s.sink->count("no response") == 0);
  CHECK(s.sink->count("connection error") == 0);
  const auto stats = s.stats();
  CHECK(stats.errors_by_code.count(0) == 0);
  CHECK(stats.errors_by_code.count(200) == 1);
  CHECK(stats.relists == 0);
}

namespace {

// Disconnects the watch of `env`, changes the service while it is away and compacts the
// history, so that the watch's resume point is gone; then the API comes back.
void expire_resume_point(Env& env) {
  env.cluster->api().faults().outage = true;
  ++env.cluster->api().faults().close_watches_generation;
  std::this_thread::sleep_for(300ms);
  env.scale("prod", 3);
  REQUIRE(eventually(
      [&] {
        auto s = env.cluster->store().all("endpointslices.discovery.k8s.io");
        return !s.empty() && s[0]["endpoints"].is_array() && s[0]["endpoints"].size() == 3;
      },
      10s));
  env.cluster->store().compact();
  env.cluster->api().faults().outage = false;
}

// A warning record that mentions 410.
size_t gone_warnings(CaptureSink& sink) {
  std::lock_guard lock(sink.mu);
  size_t n = 0;
  for (const auto& l : sink.lines) {
    n += l.rfind("warn ", 0) == 0 && l.find("410") != std::string::npos;
  }
  return n;
}

}  // namespace

TEST_CASE("discovery logs: a 410 is one warning, as an ERROR event and as an HTTP status") {
  for (bool as_status : {false, true}) {
    CAPTURE(as_status);
    Env env(10s, [&](ClusterOptions& o) { o.watch_gone_as_http_status = as_status; });
    env.namespace_with_service("prod");
    env.statefulset("prod", 2);
    RunningSource s(env);
    REQUIRE(s.synced_with(2));
    const uint64_t relists = s.stats().relists;
    expire_resume_point(env);
    CHECK_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 20s), s.sink->all());
    std::this_thread::sleep_for(1s);
    REQUIRE_MESSAGE(s.stats().relists == relists + 1, s.sink->all());
    CHECK_MESSAGE(gone_warnings(*s.sink) == 1, s.sink->all());
  }
}

TEST_CASE("discovery logs: a warning about a peer is logged when it appears, not at every change") {
  Env env;
  env.namespace_with_service("prod");
  env.statefulset("prod", 1);
  // A pod of the service that is not from the StatefulSet: no hostname, so its identity falls
  // back to its pod name, with a warning.
  const json stray = {{"metadata", {{"name", "stray"}, {"labels", {{"app", "esdb"}}}}},
                      {"spec",
                       {{"terminationGracePeriodSeconds", 1},
                        {"containers", {{{"name", "c"}, {"command", {"sleep", "600"}}}}}}}};
  const std::string warning = "has no hostname; using its pod name";
  env.create("", "pods", "prod", stray);
  RunningSource s(env);
  REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
  // Every scale step changes the slices and recomputes the peers; the warning stays the same.
  env.scale("prod", 2);
  REQUIRE(eventually([&] { return s.peers.size() == 3; }, 15s));
  env.scale("prod", 3);
  REQUIRE(eventually([&] { return s.peers.size() == 4; }, 15s));
  CHECK_MESSAGE(s.sink->count(warning) == 1, s.sink->all());
  // Gone and back: logged again.
  REQUIRE(env.cluster->store().mark_deleting(env.type("", "pods"), "prod", "stray", 0).ok());
  REQUIRE_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 15s), s.sink->all());
  env.create("", "pods", "prod", stray);
  REQUIRE_MESSAGE(eventually([&] { return s.peers.size() == 4; }, 15s), s.sink->all());
  CHECK_MESSAGE(s.sink->count(warning) == 2, s.sink->all());
}
