// The kubernetes discovery source against kubesim over real HTTPS, with a service-account token
// and RBAC: peers follow pods, 410 relists once, outages keep peers, tokens rotate, missing RBAC
// is named, several namespaces are unioned. Pods here run `sleep` (discovery only needs their
// EndpointSlices).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "discovery/kube_config.h"
#include "discovery/kubernetes_source.h"
#include "tests/kubesim/cluster.h"
#include "tests/unit/test_util.h"

using namespace kubesim;
using namespace std::chrono_literals;
using nlohmann::json;
namespace d = esk8s::discovery;

namespace {

class CaptureSink : public esk8s::LogSink {
 public:
  bool enabled(esk8s::LogLevel l) const override { return l >= esk8s::LogLevel::kInfo; }
  void write(esk8s::LogLevel l, std::string_view c, std::string_view m,
             std::span<const esk8s::LogField> f) override {
    std::lock_guard lock(mu);
    lines.push_back(esk8s::format_record(l, c, m, f));
  }
  std::string all() {
    std::lock_guard lock(mu);
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
  std::mutex mu;
  std::vector<std::string> lines;
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

struct Env {
  std::string dir;
  std::unique_ptr<Cluster> cluster;
  std::string token_file;

  explicit Env(std::chrono::seconds token_grace = 10s) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-disc-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    ClusterOptions o;
    o.state_dir = dir + "/state";
    o.tokens_file = dir + "/tokens.csv";
    o.token_grace = token_grace;
    o.bookmark_interval = 500ms;
    std::ofstream(o.tokens_file)
        << "t1,system:serviceaccount:prod:esdb,u1,\"system:serviceaccounts\"\n";
    token_file = dir + "/token";
    std::ofstream(token_file) << "t1\n";
    cluster = std::make_unique<Cluster>(o);
    REQUIRE(cluster->start().is_ok());
  }
  ~Env() {
    cluster->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  ResourceType type(const std::string& g, const std::string& plural) {
    return *cluster->registry().find(g, "v1", plural);
  }
  void create(const std::string& g, const std::string& plural, const std::string& ns, json obj) {
    auto r = cluster->store().create(type(g, plural), ns, obj);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  }
  void namespace_with_service(const std::string& ns, bool grant = true) {
    create("", "namespaces", "", {{"metadata", {{"name", ns}}}});
    create("", "services", ns,
           {{"metadata", {{"name", "esdb"}}},
            {"spec",
             {{"clusterIP", "None"},
              {"publishNotReadyAddresses", true},
              {"selector", {{"app", "esdb"}}},
              {"ports", {{{"name", "gossip"}, {"port", 2114}}}}}}});
    if (!grant) return;
    create("rbac.authorization.k8s.io", "roles", ns,
           {{"metadata", {{"name", "esk8s"}}},
            {"rules",
             {{{"apiGroups", {"discovery.k8s.io"}},
               {"resources", {"endpointslices"}},
               {"verbs", {"list", "watch"}}},
              // What ESK8S_READY_MODE=auto reads (rbac/role.yaml).
              {{"apiGroups", {""}}, {"resources", {"pods"}}, {"verbs", {"get"}}},
              {{"apiGroups", {"apps"}}, {"resources", {"statefulsets"}}, {"verbs", {"get"}}}}}});
    create("rbac.authorization.k8s.io", "rolebindings", ns,
           {{"metadata", {{"name", "esk8s"}}},
            {"roleRef",
             {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "esk8s"}}},
            {"subjects", {{{"kind", "ServiceAccount"}, {"name", "esdb"}, {"namespace", "prod"}}}}});
  }
  void statefulset(const std::string& ns, int replicas) {
    create("apps", "statefulsets", ns,
           {{"metadata", {{"name", "esdb"}}},
            {"spec",
             {{"replicas", replicas},
              {"serviceName", "esdb"},
              {"podManagementPolicy", "Parallel"},
              {"selector", {{"matchLabels", {{"app", "esdb"}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", "esdb"}}}}},
                {"spec",
                 {{"terminationGracePeriodSeconds", 1},
                  {"containers", {{{"name", "c"}, {"command", {"sleep", "600"}}}}}}}}}}}});
  }
  void scale(const std::string& ns, int replicas) {
    auto t = type("apps", "statefulsets");
    json s = cluster->store().get(t, ns, "esdb").value();
    s["spec"]["replicas"] = replicas;
    s["metadata"].erase("resourceVersion");
    REQUIRE(cluster->store().update(t, ns, "esdb", s).ok());
  }
  std::unique_ptr<d::KubeClient> client(esk8s::Logger log) {
    d::KubeConfig kc;
    kc.server = cluster->url();
    kc.ca_file = dir + "/state/ca.crt";
    kc.token_file = token_file;
    kc.source = "test";
    auto c = d::KubeClient::create(kc, {}, log);
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    return std::move(c.value());
  }
};

struct PeerRecorder {
  std::mutex mu;
  d::PeerSet peers;
  int updates = 0;
  d::KubernetesSource::PeersCallback callback() {
    return [this](const d::PeerSet& p) {
      std::lock_guard lock(mu);
      peers = p;
      ++updates;
    };
  }
  std::vector<std::string> identities() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& p : peers) out.push_back(p.identity + "@" + p.address);
    return out;
  }
  size_t size() {
    std::lock_guard lock(mu);
    return peers.size();
  }
};

d::KubernetesSourceOptions options(std::vector<std::string> namespaces) {
  d::KubernetesSourceOptions o;
  o.service = "esdb";
  o.namespaces = std::move(namespaces);
  o.cluster_domain = "cluster.local";
  o.self_pod = "not-a-pod";
  o.self_namespace = o.namespaces.front();
  o.default_gossip_port = 2114;
  o.seed = 7;
  return o;
}

}  // namespace

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
