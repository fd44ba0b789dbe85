// The kubernetes discovery source against kubesim over real HTTPS, with a service-account token
// and RBAC: peers follow pods, 410 relists once, outages keep peers, tokens rotate, missing RBAC
// is named, several namespaces are unioned. Pods here run `sleep` (discovery only needs their
// EndpointSlices).
#include <doctest/doctest.h>

#include "tests/kubesim/discovery_env.h"
#include "tests/unit/test_util.h"

using namespace discovery_env;

TEST_CASE("discovery: peers follow pods, a recreated pod keeps its identity with a new IP") {
  Env env;
  env.namespace_with_service("prod");
  env.statefulset("prod", 2);
  auto sink = std::make_shared<CaptureSink>();
  esk8s::Logger log(sink, "discovery");
  PeerRecorder w;
  d::KubernetesSource src(options({"prod"}), env.client(log), log, w.callback());
  src.start();
  REQUIRE_MESSAGE(eventually([&] { return w.size() == 2; }, 15s), sink->all());
  auto ids = w.identities();
  CHECK(ids[0].rfind("esdb-0.esdb.prod.svc.cluster.local@127.", 0) == 0);

  env.scale("prod", 3);
  CHECK(eventually([&] { return w.size() == 3; }, 10s));
  std::string before;
  for (const auto& i : w.identities()) {
    if (i.rfind("esdb-1.", 0) == 0) before = i;
  }
  auto pods = env.type("", "pods");
  REQUIRE(env.cluster->store().mark_deleting(pods, "prod", "esdb-1", 1).ok());
  bool moved = eventually(
      [&] {
        for (const auto& i : w.identities()) {
          if (i.rfind("esdb-1.", 0) == 0 && i != before) return true;
        }
        return false;
      },
      20s);
  CHECK_MESSAGE(moved, sink->all());
  env.scale("prod", 1);
  CHECK(eventually([&] { return w.size() == 1; }, 15s));
  auto stats = src.stats();
  CHECK(stats.relists == 0);  // the initial list only; every change arrived by watch
  // Latency measured from the controller's last-change-trigger-time annotation.
  CHECK(stats.latency_count >= 2);
  CHECK(stats.latency_sum_seconds / static_cast<double>(stats.latency_count) < 5.0);
  src.stop();
}

TEST_CASE("discovery: a compacted history makes a resumed watch relist exactly once") {
  Env env;
  env.namespace_with_service("prod");
  env.statefulset("prod", 2);
  auto sink = std::make_shared<CaptureSink>();
  esk8s::Logger log(sink, "discovery");
  PeerRecorder w;
  d::KubernetesSource src(options({"prod"}), env.client(log), log, w.callback());
  src.start();
  REQUIRE(eventually([&] { return w.size() == 2 && src.stats().synced; }, 15s));
  std::this_thread::sleep_for(300ms);
  uint64_t relists = src.stats().relists;
  // Disconnect the watch, change things while it is away, then compact: its resume point is
  // now older than the history.
  env.cluster->api().faults().outage = true;
  ++env.cluster->api().faults().close_watches_generation;
  std::this_thread::sleep_for(300ms);
  env.scale("prod", 3);
  CHECK(eventually(
      [&] { return env.cluster->store().all("endpointslices.discovery.k8s.io").size() == 1; }, 5s));
  std::this_thread::sleep_for(1s);
  env.cluster->store().compact();
  env.cluster->api().faults().outage = false;
  CHECK(eventually([&] { return w.size() == 3; }, 15s));
  std::this_thread::sleep_for(2s);
  CHECK_MESSAGE(src.stats().relists == relists + 1, sink->all());
  CHECK(w.size() == 3);
  src.stop();
}

TEST_CASE(
    "discovery: an API outage keeps the last known peers and resumes without a relist storm") {
  Env env;
  env.namespace_with_service("prod");
  env.statefulset("prod", 3);
  auto sink = std::make_shared<CaptureSink>();
  esk8s::Logger log(sink, "discovery");
  PeerRecorder w;
  d::KubernetesSource src(options({"prod"}), env.client(log), log, w.callback());
  src.start();
  REQUIRE(eventually([&] { return w.size() == 3 && src.stats().synced; }, 15s));
  uint64_t relists = src.stats().relists;
  env.cluster->api().faults().outage = true;
  ++env.cluster->api().faults().close_watches_generation;
  // A 60 s outage: peers never drop.
  for (int i = 0; i < 120; ++i) {
    std::this_thread::sleep_for(500ms);
    CHECK(w.size() == 3);
  }
  env.cluster->api().faults().outage = false;
  env.scale("prod", 2);
  CHECK_MESSAGE(eventually([&] { return w.size() == 2; }, 40s), sink->all());
  // Resumed from the last resourceVersion: at most one relist, not one per retry.
  CHECK(src.stats().relists <= relists + 1);
  CHECK(src.stats().errors_by_code.count(503) == 1);
  src.stop();
}

TEST_CASE("discovery: a rotated service-account token causes no lasting outage") {
  Env env(2s);
  env.namespace_with_service("prod");
  env.statefulset("prod", 1);
  auto sink = std::make_shared<CaptureSink>();
  esk8s::Logger log(sink, "discovery");
  PeerRecorder w;
  d::KubernetesSource src(options({"prod"}), env.client(log), log, w.callback());
  src.start();
  REQUIRE(eventually([&] { return w.size() == 1; }, 15s));
  // The kubelet writes a new token; the API server retires the old one after its grace period.
  std::ofstream(env.token_file + ".new") << "t2\n";
  std::filesystem::rename(env.token_file + ".new", env.token_file);
  std::ofstream(env.dir + "/tokens.csv.new")
      << "t2,system:serviceaccount:prod:esdb,u1,\"system:serviceaccounts\"\n";
  std::filesystem::rename(env.dir + "/tokens.csv.new", env.dir + "/tokens.csv");
  std::this_thread::sleep_for(3s);  // t1 is now rejected
  ++env.cluster->api().faults().close_watches_generation;
  env.scale("prod", 2);
  CHECK_MESSAGE(eventually([&] { return w.size() == 2; }, 20s), sink->all());
  src.stop();
}

TEST_CASE("discovery: missing RBAC is named exactly, and peers are not faked") {
  Env env;
  env.namespace_with_service("prod", /*grant=*/false);
  env.statefulset("prod", 2);
  auto sink = std::make_shared<CaptureSink>();
  esk8s::Logger log(sink, "discovery");
  PeerRecorder w;
  d::KubernetesSource src(options({"prod"}), env.client(log), log, w.callback());
  src.start();
  CHECK(eventually(
      [&] { return sink->all().find("missing Kubernetes permissions") != std::string::npos; },
      10s));
  std::string logs = sink->all();
  CHECK_MESSAGE(
      logs.find("cannot watch endpointslices.discovery.k8s.io in namespace \"prod\" as "
                "system:serviceaccount:prod:esdb; apply rbac/role.yaml") != std::string::npos,
      logs);
  CHECK(logs.find("cannot list endpointslices.discovery.k8s.io in namespace \"prod\"") !=
        std::string::npos);
  CHECK(w.updates == 0);  // never a silent empty peer set
  src.stop();
}

TEST_CASE("discovery: two namespaces with per-namespace RoleBindings give the union") {
  Env env;
  env.namespace_with_service("prod");
  env.namespace_with_service("dr");
  env.statefulset("prod", 2);
  env.statefulset("dr", 1);
  auto sink = std::make_shared<CaptureSink>();
  esk8s::Logger log(sink, "discovery");
  PeerRecorder w;
  d::KubernetesSource src(options({"prod", "dr"}), env.client(log), log, w.callback());
  src.start();
  REQUIRE_MESSAGE(eventually([&] { return w.size() == 3; }, 15s), sink->all());
  auto ids = w.identities();
  int dr = 0;
  for (const auto& i : ids) dr += i.find(".esdb.dr.svc.cluster.local@") != std::string::npos;
  CHECK(dr == 1);
  src.stop();
}

TEST_CASE(
    "esk8s discover: prints the user, the RBAC check and the peers, and exits 1 naming missing "
    "permissions") {
  Env env;
  env.namespace_with_service("prod");
  env.statefulset("prod", 2);
  // A kubeconfig for the service account, as a user outside the cluster would have.
  std::string kubeconfig = env.dir + "/sa.kubeconfig";
  std::ofstream(kubeconfig)
      << "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: "
      << env.cluster->url() << "\n    certificate-authority: " << env.dir
      << "/state/ca.crt\nusers:\n- name: sa\n  user:\n    tokenFile: " << env.token_file
      << "\ncontexts:\n- name: sim\n  context: {cluster: sim, user: sa, namespace: prod}\n"
      << "current-context: sim\n";
  REQUIRE(eventually(
      [&] { return env.cluster->store().all("endpointslices.discovery.k8s.io").size() == 1; },
      10s));
  REQUIRE(eventually(
      [&] {
        auto s = env.cluster->store().all("endpointslices.discovery.k8s.io");
        return !s.empty() && s[0]["endpoints"].is_array() && s[0]["endpoints"].size() == 2;
      },
      15s));
  auto [rc, out] = esk8s::test::run_command(
      std::string(ESK8S_CLI) + " discover --service esdb --namespace prod --kubeconfig " +
      kubeconfig);
  CHECK_MESSAGE(rc == 0, out);
  CHECK(out.find("system:serviceaccount:prod:esdb") != std::string::npos);
  CHECK(out.find("ok      watch endpointslices.discovery.k8s.io in prod") != std::string::npos);
  CHECK(out.find("esdb-0.esdb.prod.svc.cluster.local") != std::string::npos);
  CHECK(out.find("PEERS (2)") != std::string::npos);

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
