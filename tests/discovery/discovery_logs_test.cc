// What the kubernetes discovery source logs and counts against the real kube-apiserver
// (esk8s-cluster): each problem once, as what it is. A malformed watch event is not also a
// connection error (nor counted as code 0), a real 410 (the ERROR event of a watch from a
// compacted resourceVersion, and the HTTP status of a list continued with a compacted token) is
// one warning, and a warning about a peer is logged when it appears, not at every EndpointSlice
// change.
#include <doctest/doctest.h>

#include "tests/discovery/cluster_env.h"
#include "tests/discovery/gateway.h"
#include "tests/discovery/watching_again.h"

using namespace discovery_env;
using esk8s::discoverytest::Gateway;

namespace {

// A gateway without a path prefix in front of the apiserver of `env`.
std::unique_ptr<Gateway> gateway(Env& env) {
  const std::string& s = env.cluster.server();
  return std::make_unique<Gateway>("", s.substr(8, s.rfind(':') - 8),
                                   std::stoi(s.substr(s.rfind(':') + 1)), env.cluster.ca_file());
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

TEST_CASE("discovery logs: a malformed watch event is one error, not a connection error") {
  Env env;
  env.prod_with_pods(2);
  auto gw = gateway(env);
  RunningSource s([&](esk8s::Logger log) { return env.client(log, gw->url(), gw->ca_file()); },
                  {"prod"});
  REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
  // The gateway garbles the next event the apiserver sends on the watch.
  gw->corrupt_next_watch_event();
  env.scale("prod", 3);
  // The broken line is dropped; the re-watch from the last good resourceVersion gets the change.
  CHECK_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 30s), s.sink->all());
  CHECK_MESSAGE(s.sink->count("the API server sent a malformed watch event") == 1, s.sink->all());
  CHECK(s.sink->count("no response") == 0);
  CHECK(s.sink->count("connection error") == 0);
  const auto stats = s.stats();
  CHECK(stats.errors_by_code.count(0) == 0);
  CHECK(stats.errors_by_code.count(200) == 1);
  CHECK(stats.relists == 0);
}

TEST_CASE("discovery logs: a 410 is one warning, as an ERROR event and as an HTTP status") {
  SUBCASE("an ERROR event: a watch resumed from a compacted resourceVersion") {
    Env env(compaction_args());
    env.prod_with_pods(2);
    RunningSource s(env);
    REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
    const uint64_t relists = s.stats().relists;
    env.expire_resume_point(3);
    CHECK_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 30s), s.sink->all());
    CHECK_MESSAGE(watching_again(env, s, "after-relist"), s.sink->all());
    REQUIRE_MESSAGE(s.stats().relists == relists + 1, s.sink->all());
    CHECK_MESSAGE(gone_warnings(*s.sink) == 1, s.sink->all());
  }
  SUBCASE("an HTTP status: a list continued with a compacted token") {
    Env env(compaction_args(), /*nodes=*/0);
    env.namespace_with_service("prod");
    // Two slices of the service, written here (the controller leaves slices it does not
    // manage alone), listed one per page.
    for (int i = 0; i < 2; ++i) {
      env.create("/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices",
                 {{"metadata",
                   {{"name", "esdb-" + std::to_string(i)},
                    {"labels",
                     {{"kubernetes.io/service-name", "esdb"},
                      {"endpointslice.kubernetes.io/managed-by", "test"}}}}},
                  {"addressType", "IPv4"},
                  {"endpoints",
                   {{{"addresses", {"10.244.9." + std::to_string(i + 1)}},
                     {"hostname", "esdb-" + std::to_string(i)},
                     {"conditions", {{"ready", true}}}}}},
                  {"ports", {{{"name", "gossip"}, {"port", 2114}}}}});
    }
    auto gw = gateway(env);
    // The second page waits at the gateway until its continue token is compacted away.
    gw->hold("continue=");
    RunningSource s([&](esk8s::Logger log) { return env.client(log, gw->url(), gw->ca_file()); },
                    {"prod"}, [](d::KubernetesSourceOptions& o) { o.watch.page_limit = 1; });
    REQUIRE(eventually([&] { return gw->held() == 1; }, 20s));
    const std::string held_at = env.revision();
    env.create("/api/v1/namespaces/prod/configmaps", {{"metadata", {{"name", "moves-on"}}}});
    REQUIRE(env.wait_compacted(held_at));
    gw->release();
    REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
    CHECK_MESSAGE(watching_again(env, s, "after-relist"), s.sink->all());
    // The first list counts as none; the one after the 410 is the relist.
    CHECK_MESSAGE(s.stats().relists == 1, s.sink->all());
    CHECK_MESSAGE(gone_warnings(*s.sink) == 1, s.sink->all());
    CHECK(s.sink->count("The provided continue parameter is too old") == 1);
    CHECK(s.stats().errors_by_code.count(410) == 1);
  }
}

TEST_CASE("discovery logs: a warning about a peer is logged when it appears, not at every change") {
  Env env;
  env.prod_with_pods(1);
  // A pod of the service that is not from the StatefulSet: no hostname, so its identity falls
  // back to its pod name, with a warning.
  const json stray = {{"metadata", {{"name", "stray"}, {"labels", {{"app", "esdb"}}}}},
                      {"spec", Env::sleeper_spec()}};
  const std::string warning = "has no hostname; using its pod name";
  env.create("/api/v1/namespaces/prod/pods", stray);
  RunningSource s(env);
  REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
  // Every scale step changes the slices and recomputes the peers; the warning stays the same.
  env.scale("prod", 2);
  REQUIRE(eventually([&] { return s.peers.size() == 3; }, 20s));
  env.scale("prod", 3);
  REQUIRE(eventually([&] { return s.peers.size() == 4; }, 20s));
  CHECK_MESSAGE(s.sink->count(warning) == 1, s.sink->all());
  // Gone and back: logged again.
  env.delete_pod("prod", "stray", 0);
  REQUIRE_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 20s), s.sink->all());
  REQUIRE(eventually(
      [&] { return env.cluster.api("GET", "/api/v1/namespaces/prod/pods/stray").status == 404; },
      20s));
  env.create("/api/v1/namespaces/prod/pods", stray);
  REQUIRE_MESSAGE(eventually([&] { return s.peers.size() == 4; }, 20s), s.sink->all());
  CHECK_MESSAGE(s.sink->count(warning) == 2, s.sink->all());
}
