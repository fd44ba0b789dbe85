// The kubernetes discovery source against the real kube-apiserver (esk8s-cluster) over real
// HTTPS, with a bound service-account token and real RBAC: peers follow pods, a compacted
// history (a real 410) relists once, outages keep peers, 429s from API Priority and Fairness
// are retried after Retry-After, tokens rotate, missing RBAC is named, several namespaces are
// unioned. Pods here run `sleep` (discovery only needs the EndpointSlices
// the real controller writes). The source talks to the apiserver through a TCP proxy
// (tcp_proxy.h) that the outage tests cut and refuse.
#include <doctest/doctest.h>

#include <atomic>

#include "tests/discovery/cluster_env.h"
#include "tests/discovery/watching_again.h"
#include "tests/unit/test_util.h"

using namespace discovery_env;

TEST_CASE("discovery: peers follow pods, a recreated pod keeps its identity with a new IP") {
  Env env;
  env.prod_with_pods(2);
  RunningSource s(env);
  REQUIRE_MESSAGE(eventually([&] { return s.peers.size() == 2; }, 30s), s.sink->all());
  auto ids = s.peers.identities();
  CHECK_MESSAGE(ids[0].rfind("esdb-0.esdb.prod.svc.cluster.local@10.244.", 0) == 0, ids[0]);

  env.scale("prod", 3);
  CHECK(eventually([&] { return s.peers.size() == 3; }, 20s));
  std::string before;
  for (const auto& i : s.peers.identities()) {
    if (i.rfind("esdb-1.", 0) == 0) before = i;
  }
  env.delete_pod("prod", "esdb-1", 1);
  bool moved = eventually(
      [&] {
        for (const auto& i : s.peers.identities()) {
          if (i.rfind("esdb-1.", 0) == 0 && i != before) return true;
        }
        return false;
      },
      30s);
  CHECK_MESSAGE(moved, s.sink->all());
  env.scale("prod", 1);
  CHECK(eventually([&] { return s.peers.size() == 1; }, 20s));
  auto stats = s.stats();
  CHECK(stats.relists == 0);  // the initial list only; every change arrived by watch
  // Latency measured from the controller's last-change-trigger-time annotation.
  CHECK(stats.latency_count >= 2);
  CHECK(stats.latency_sum_seconds / static_cast<double>(stats.latency_count) < 5.0);
}

TEST_CASE("discovery: a compacted history makes a resumed watch relist exactly once") {
  Env env(compaction_args());
  env.prod_with_pods(2);
  RunningSource s(env);
  REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
  const uint64_t relists = s.stats().relists;
  // The watch is cut and kept away while the service changes and the compactor passes the
  // revision it would resume from.
  env.expire_resume_point(3);
  CHECK_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 30s), s.sink->all());
  CHECK_MESSAGE(watching_again(env, s, "after-relist"), s.sink->all());
  CHECK_MESSAGE(s.stats().relists == relists + 1, s.sink->all());
  CHECK(s.sink->count("The resourceVersion for the provided watch is too old.") == 1);
  CHECK(s.peers.size() == 3);
}

TEST_CASE(
    "discovery: an API outage keeps the last known peers and resumes without a relist storm") {
  Env env;
  env.prod_with_pods(3);
  // Retries back off up to 4 s rather than the default 30 s, so that the test does not wait for
  // the cap after the outage (the backoff itself is watch_state_test's concern).
  RunningSource s(env, {"prod"}, [](d::KubernetesSourceOptions& o) {
    o.watch.backoff_cap = std::chrono::seconds(4);
  });
  REQUIRE_MESSAGE(s.synced_with(3), s.sink->all());
  const uint64_t relists = s.stats().relists;
  // Every connection to the apiserver is cut and refused for 8 s: peers never drop.
  env.proxy->set_refusing(true);
  env.proxy->cut();
  const uint64_t before = env.proxy->connections();
  const int64_t cut_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  for (int i = 0; i < 16; ++i) {
    std::this_thread::sleep_for(500ms);
    CHECK(s.peers.size() == 3);
  }
  // Failing since the cut (what the DiscoveryStale Event is made from).
  const int64_t failing_since = s.stats().failing_since_unix_ms;
  CHECK(failing_since >= cut_at_ms - 1000);
  CHECK(failing_since <= cut_at_ms + 5000);
  // The source kept retrying, with backoff: a few attempts in 8 s, not a tight loop.
  const uint64_t attempts = env.proxy->connections() - before;
  CHECK(attempts >= 3);
  CHECK(attempts <= 16);
  env.proxy->set_refusing(false);
  env.scale("prod", 2);
  CHECK_MESSAGE(eventually([&] { return s.peers.size() == 2; }, 30s), s.sink->all());
  // Resumed from the last resourceVersion: at most one relist, not one per retry.
  CHECK(s.stats().relists <= relists + 1);
  CHECK(s.stats().failing_since_unix_ms == 0);
  // Refused connections are failures without an answer (code 0), as when the apiserver is down.
  CHECK(s.stats().errors_by_code.count(0) == 1);
}

TEST_CASE(
    "discovery: 429s from API Priority and Fairness keep the peers and are retried after "
    "Retry-After, without a relist") {
  Env env;
  env.prod_with_pods(2);
  RunningSource s(env);
  REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
  // A priority level with no seats of its own that rejects rather than queues, for the
  // service account's requests: while one of them holds its only seat, the others get 429.
  env.create("/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations",
             {{"metadata", {{"name", "esdb-tiny"}}},
              {"spec",
               {{"type", "Limited"},
                {"limited",
                 {{"nominalConcurrencyShares", 0},
                  {"lendablePercent", 0},
                  {"borrowingLimitPercent", 0},
                  {"limitResponse", {{"type", "Reject"}}}}}}}});
  env.create("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
             {{"metadata", {{"name", "esdb-tiny"}}},
              {"spec",
               {{"priorityLevelConfiguration", {{"name", "esdb-tiny"}}},
                {"matchingPrecedence", 100},
                {"distinguisherMethod", {{"type", "ByUser"}}},
                {"rules",
                 {{{"subjects",
                    {{{"kind", "ServiceAccount"},
                      {"serviceAccount", {{"name", "esdb"}, {"namespace", "prod"}}}}}},
                   {"resourceRules",
                    {{{"verbs", {"*"}},
                      {"apiGroups", {"*"}},
                      {"resources", {"*"}},
                      {"namespaces", {"*"}},
                      {"clusterScope", true}}}}}}}}}});
  // The seat holders: lists as the service account from a resourceVersion far ahead, which the
  // apiserver waits 3 s for before it answers 504. Two of them, so that when one's list ends
  // the other is already asking for the seat.
  std::string token;
  std::getline(std::ifstream(env.token_file), token);
  std::atomic<bool> holding{true};
  std::atomic<int> held{0};
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&] {
      while (holding) {
        auto r = env.cluster.api("GET",
                                 "/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices"
                                 "?resourceVersion=999999999&resourceVersionMatch=NotOlderThan",
                                 "", token);
        held += r.status == 504;
      }
    });
  }
  REQUIRE(eventually(
      [&] {
        return env.cluster.api("GET", "/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices",
                               "", token)
                   .status == 429;
      },
      20s));
  // The watch is cut; every new request of the source is throttled while the service grows.
  const uint64_t relists = s.stats().relists;
  env.proxy->cut();
  env.scale("prod", 3);
  REQUIRE(eventually([&] { return env.endpoints() == 3; }, 20s));
  const bool throttled = eventually([&] { return s.stats().errors_by_code.count(429) == 1; }, 10s);
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(500ms);
    CHECK(s.peers.size() >= 2);  // the last known peers, nothing dropped
  }
  holding = false;
  for (auto& t : holders) t.join();
  CHECK(held > 0);
  CHECK_MESSAGE(throttled, s.sink->all());
  // Each retry waits what the apiserver's Retry-After says (APF grows it while it keeps
  // rejecting the flow: 1, 2, 4 s, ...), not the error backoff.
  CHECK_MESSAGE(s.sink->count("(HTTP 429 Too Many Requests); retrying it in ") >= 2,
                s.sink->all());
  // The seat is free: the next retry watches again and sees the third pod.
  CHECK_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 20s), s.sink->all());
  CHECK(s.stats().relists == relists);
}

TEST_CASE("discovery: a rotated service-account token causes no lasting outage") {
  Env env;
  env.prod_with_pods(1);
  // The source starts with a token bound to a Secret: deleting the Secret invalidates it, as a
  // bound token stops working when its pod is gone or it expires.
  env.create("/api/v1/namespaces/prod/secrets",
             {{"metadata", {{"name", "token-anchor"}}}, {"data", json::object()}});
  const std::string old_token = env.token("token-anchor");
  env.write_token(old_token);
  RunningSource s(env);
  REQUIRE_MESSAGE(s.synced_with(1), s.sink->all());
  // The kubelet writes a new token; the old one is then rejected by the apiserver (after its
  // authentication cache, 10 s, forgets it).
  env.write_token(env.token());
  env.call("DELETE", "/api/v1/namespaces/prod/secrets/token-anchor");
  REQUIRE(eventually(
      [&] {
        return env.cluster.api("GET", "/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices",
                               "", old_token)
                   .status == 401;
      },
      30s));
  // The watch was authenticated when it began; new connections must present the new token.
  env.proxy->cut();
  env.scale("prod", 2);
  CHECK_MESSAGE(eventually([&] { return s.peers.size() == 2; }, 30s), s.sink->all());
  CHECK(s.sink->count("service-account token changed; using the new one") == 1);
  // One real 401 for the old token, then the re-read token works.
  CHECK_MESSAGE(s.stats().errors_by_code.count(401) == 1, s.sink->all());
}

TEST_CASE("discovery: missing RBAC is named exactly, and peers are not faked") {
  Env env;
  env.namespace_with_service("prod", /*grant=*/false);
  env.statefulset("prod", 2);
  RunningSource s(env);
  CHECK(eventually([&] { return s.sink->count("missing Kubernetes permissions") > 0; }, 20s));
  std::string logs = s.sink->all();
  CHECK_MESSAGE(
      logs.find("cannot watch endpointslices.discovery.k8s.io in namespace \"prod\" as "
                "system:serviceaccount:prod:esdb; apply rbac/role.yaml") != std::string::npos,
      logs);
  CHECK(logs.find("cannot list endpointslices.discovery.k8s.io in namespace \"prod\"") !=
        std::string::npos);
  // The apiserver's own 403 message is in the record of the failed list.
  CHECK(eventually(
      [&] {
        return s.sink->count(
                   "endpointslices.discovery.k8s.io is forbidden: User "
                   "\\\"system:serviceaccount:prod:esdb\\\" cannot list resource "
                   "\\\"endpointslices\\\" in API group \\\"discovery.k8s.io\\\" in the "
                   "namespace \\\"prod\\\"") > 0;
      },
      5s));
  CHECK(s.stats().errors_by_code.count(403) == 1);
  CHECK(s.peers.updates == 0);  // never a silent empty peer set
  // What the RBACMissing Event is made from.
  CHECK(s.stats().rbac_missing_checks >= 1);
  CHECK(s.stats().rbac_missing.find("cannot list endpointslices.discovery.k8s.io in namespace "
                                    "\"prod\"") != std::string::npos);
  CHECK(s.stats().failing_since_unix_ms != 0);
}

TEST_CASE("discovery: two namespaces with per-namespace RoleBindings give the union") {
  Env env;
  env.namespace_with_service("prod");
  env.namespace_with_service("dr");
  env.statefulset("prod", 2);
  env.statefulset("dr", 1);
  RunningSource s(env, {"prod", "dr"});
  REQUIRE_MESSAGE(s.synced_with(3), s.sink->all());
  int dr = 0;
  for (const auto& i : s.peers.identities()) {
    dr += i.find(".esdb.dr.svc.cluster.local@") != std::string::npos;
  }
  CHECK(dr == 1);
}

TEST_CASE(
    "esk8s discover: prints the user, the RBAC check and the peers, and exits 1 naming missing "
    "permissions") {
  Env env;
  env.prod_with_pods(2);
  const std::string kubeconfig = env.kubeconfig(env.cluster.server(), env.cluster.ca_file());
  REQUIRE(eventually([&] { return env.endpoints() == 2; }, 30s));
  auto [rc, out] = esk8s::test::run_command(
      std::string(ESK8S_CLI) + " discover --service esdb --namespace prod --kubeconfig " +
      kubeconfig);
  CHECK_MESSAGE(rc == 0, out);
  CHECK(out.find("system:serviceaccount:prod:esdb") != std::string::npos);
  CHECK(out.find("ok      watch endpointslices.discovery.k8s.io in prod") != std::string::npos);
  CHECK(out.find("esdb-0.esdb.prod.svc.cluster.local") != std::string::npos);
  CHECK(out.find("PEERS (2)") != std::string::npos);

  // Namespace "dr" does not exist and nothing grants the service account anything there.
  auto [rc2, out2] = esk8s::test::run_command(
      std::string(ESK8S_CLI) +
      " discover --service esdb --namespace prod --namespace dr --kubeconfig " + kubeconfig +
      " --json");
  CHECK(rc2 == 1);
  json report = json::parse(out2, nullptr, false);
  REQUIRE_MESSAGE(report.is_object(), out2);
  bool named = false;
  for (const auto& p : report["problems"]) {
    named = named || p.get<std::string>() ==
                         "cannot list endpointslices.discovery.k8s.io in namespace \"dr\" as "
                         "system:serviceaccount:prod:esdb; apply rbac/role.yaml if that is "
                         "this pod's own namespace, else rbac/clusterrole.yaml and "
                         "rbac/rolebinding-per-namespace.yaml with PEER_NAMESPACE set to it";
  }
  CHECK_MESSAGE(named, out2);
}
