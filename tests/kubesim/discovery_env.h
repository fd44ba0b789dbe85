// What the kubesim tests of the kubernetes discovery source share: a cluster with a
// service-account token and its tokens file, namespaces with the headless service and RBAC,
// StatefulSets, a client for the service account, a sink that captures log records and a
// recorder of published peer sets.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "discovery/kube_config.h"
#include "discovery/kubernetes_source.h"
#include "common/logger.h"
#include "tests/kubesim/cluster.h"

namespace discovery_env {

using namespace kubesim;
using namespace std::chrono_literals;
using nlohmann::json;
namespace d = esk8s::discovery;

class CaptureSink : public esk8s::LogSink {
 public:
  bool enabled(esk8s::LogLevel l) const override { return l >= esk8s::LogLevel::kInfo; }
  void write(esk8s::LogLevel l, std::string_view c, std::string_view m,
             std::span<const esk8s::LogField> f) override {
    std::lock_guard lock(mu);
    lines.push_back(esk8s::format_record(l, c, m, f));
  }
  // Records whose line contains `needle`.
  size_t count(std::string_view needle) {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const auto& l : lines) n += l.find(needle) != std::string::npos;
    return n;
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

  // `tweak` may change the cluster's options before it starts.
  explicit Env(std::chrono::seconds token_grace = 10s,
               const std::function<void(ClusterOptions&)>& tweak = {}) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-disc-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    ClusterOptions o;
    o.state_dir = dir + "/state";
    o.tokens_file = dir + "/tokens.csv";
    o.token_grace = token_grace;
    o.bookmark_interval = 500ms;
    if (tweak) tweak(o);
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

inline d::KubernetesSourceOptions options(std::vector<std::string> namespaces) {
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

// A started kubernetes source for `namespaces` of `env`, its log captured and its peer sets
// recorded; stopped on destruction.
struct RunningSource {
  std::shared_ptr<CaptureSink> sink = std::make_shared<CaptureSink>();
  esk8s::Logger log{sink, "discovery"};
  PeerRecorder peers;
  std::unique_ptr<d::KubernetesSource> src;

  explicit RunningSource(Env& env, std::vector<std::string> namespaces = {"prod"}) {
    start(env.client(log), std::move(namespaces));
  }
  // With a client of the test's own (another server URL, another CA), made with `log`.
  RunningSource(const std::function<std::unique_ptr<d::KubeClient>(esk8s::Logger)>& client,
                std::vector<std::string> namespaces) {
    start(client(log), std::move(namespaces));
  }
  ~RunningSource() { src->stop(); }
  d::DiscoveryStats stats() const { return src->stats(); }
  // Waits until `n` peers are published and every namespace has listed once.
  bool synced_with(size_t n, std::chrono::milliseconds limit = 15s) {
    return eventually([&] { return peers.size() == n && stats().synced; }, limit);
  }

 private:
  void start(std::unique_ptr<d::KubeClient> client, std::vector<std::string> namespaces) {
    src = std::make_unique<d::KubernetesSource>(options(std::move(namespaces)), std::move(client),
                                                log, peers.callback());
    src->start();
  }
};

}  // namespace discovery_env
