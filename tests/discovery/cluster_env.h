// What the tests of the kubernetes discovery source share, on esk8s-cluster (the real
// kube-apiserver, etcd, controllers and scheduler with the process kubelet; docs/CLUSTER.md):
// the cluster with a TCP proxy in front of its apiserver (the source under test connects to the
// proxy, so a test can cut or refuse its connections), namespace "prod" with the service account
// "esdb" and a bound token for it from the TokenRequest API in a token file, headless services,
// real Roles and RoleBindings, StatefulSets whose pods run `sleep`, a sink that captures log
// records and a recorder of published peer sets.
//
// The test binary runs inside tests/cluster/netns-run's network namespace (pod addresses are
// 10.244.x.y). Everything waits with a deadline; a request the API refuses fails the test.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/logger.h"
#include "kube/kube_config.h"
#include "discovery/kubernetes_source.h"
#include "tests/cluster/cluster_process.h"
#include "tests/discovery/tcp_proxy.h"
#include "tests/unit/test_util.h"

namespace discovery_env {

using namespace std::chrono_literals;
using nlohmann::json;
namespace d = esk8s::discovery;
namespace k = esk8s::kube;
using esk8s::discoverytest::TcpProxy;

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

using esk8s::test::eventually;

// esk8s-cluster flags for the tests that need a real 410: etcd history compacted every second
// by the apiserver's compactor, and EndpointSlice reads and watches served by etcd rather than
// the watch cache (which keeps serving history it still holds after a compaction; with it off,
// a watch from a compacted resourceVersion gets the real ERROR event 410 "Expired" and a list
// continued with a compacted token the real HTTP 410).
inline std::vector<std::string> compaction_args() {
  return {"--apiserver-arg=--etcd-compaction-interval=1s",
          "--apiserver-arg=--watch-cache-sizes=endpointslices.discovery.k8s.io#0"};
}

struct Env {
  esk8s::test::TempDir files;
  esk8s::testcluster::ClusterProcess cluster;
  std::unique_ptr<TcpProxy> proxy;
  std::string token_file;

  // `nodes` Nodes for the pods (0 when the test writes EndpointSlices itself); `extra` are more
  // esk8s-cluster flags.
  explicit Env(const std::vector<std::string>& extra = {}, int nodes = 1)
      : cluster(args(extra, nodes)) {
    // SIGPIPE keeps its default (deadly) disposition, as in a host that does not ignore it:
    // OpenSSL writes an alert when a read meets a connection the proxy reset, and the source's
    // client must make that write fail with EPIPE itself (common/sigpipe.h). Only a test with
    // the HTTPS gateway ignores SIGPIPE, for the gateway's own connections (gateway.h).
    const std::string& s = cluster.server();
    proxy = std::make_unique<TcpProxy>(s.substr(8, s.rfind(':') - 8),
                                       std::stoi(s.substr(s.rfind(':') + 1)));
    create_namespace("prod");
    call("POST", "/api/v1/namespaces/prod/serviceaccounts", {{"metadata", {{"name", "esdb"}}}});
    token_file = files.path() + "/token";
    write_token(token());
  }

  // An API request as the cluster admin that must succeed (2xx); the parsed answer.
  json call(const std::string& method, const std::string& path, const json& body = nullptr) {
    auto r = cluster.api(method, path, body.is_null() ? "" : body.dump());
    REQUIRE_MESSAGE((r.status >= 200 && r.status < 300),
                    method << " " << path << ": " << r.status << " " << r.body);
    return json::parse(r.body, nullptr, false);
  }
  void create(const std::string& collection, const json& obj) { call("POST", collection, obj); }

  // A namespace, once its "default" service account exists (pods need it).
  void create_namespace(const std::string& ns) {
    auto r = cluster.api("POST", "/api/v1/namespaces", json{{"metadata", {{"name", ns}}}}.dump());
    REQUIRE_MESSAGE((r.status == 201 || r.status == 409), r.body);
    REQUIRE(eventually(
        [&] {
          return cluster.api("GET", "/api/v1/namespaces/" + ns + "/serviceaccounts/default")
                     .status == 200;
        },
        20s));
  }

  // The headless service "esdb" in `ns` and, with `grant`, the Role discovery needs
  // (rbac/role.yaml's rules) bound to prod's service account "esdb".
  void namespace_with_service(const std::string& ns, bool grant = true) {
    if (ns != "prod") create_namespace(ns);
    create("/api/v1/namespaces/" + ns + "/services",
           {{"metadata", {{"name", "esdb"}}},
            {"spec",
             {{"clusterIP", "None"},
              {"publishNotReadyAddresses", true},
              {"selector", {{"app", "esdb"}}},
              {"ports", {{{"name", "gossip"}, {"port", 2114}}}}}}});
    if (!grant) return;
    create("/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/roles",
           {{"metadata", {{"name", "esk8s"}}},
            {"rules",
             {{{"apiGroups", {"discovery.k8s.io"}},
               {"resources", {"endpointslices"}},
               {"verbs", {"list", "watch"}}},
              // What ESK8S_READY_MODE=auto reads (rbac/role.yaml).
              {{"apiGroups", {""}}, {"resources", {"pods"}}, {"verbs", {"get"}}},
              {{"apiGroups", {"apps"}}, {"resources", {"statefulsets"}}, {"verbs", {"get"}}}}}});
    create("/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/rolebindings",
           {{"metadata", {{"name", "esk8s"}}},
            {"roleRef",
             {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "esk8s"}}},
            {"subjects", {{{"kind", "ServiceAccount"}, {"name", "esdb"}, {"namespace", "prod"}}}}});
  }

  // namespace_with_service("prod") and a StatefulSet of `replicas` pods behind it.
  void prod_with_pods(int replicas) {
    namespace_with_service("prod");
    statefulset("prod", replicas);
  }

  // A pod spec that the process kubelet runs: `sleep`, no token volume, quick to stop.
  static json sleeper_spec() {
    return {{"terminationGracePeriodSeconds", 1},
            {"automountServiceAccountToken", false},
            {"containers", {{{"name", "c"}, {"image", "sleep"}, {"command", {"sleep", "600"}}}}}};
  }
  void statefulset(const std::string& ns, int replicas) {
    create("/apis/apps/v1/namespaces/" + ns + "/statefulsets",
           {{"metadata", {{"name", "esdb"}}},
            {"spec",
             {{"replicas", replicas},
              {"serviceName", "esdb"},
              {"podManagementPolicy", "Parallel"},
              {"selector", {{"matchLabels", {{"app", "esdb"}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", "esdb"}}}}}, {"spec", sleeper_spec()}}}}}});
  }
  void scale(const std::string& ns, int replicas) {
    call("PATCH", "/apis/apps/v1/namespaces/" + ns + "/statefulsets/esdb",
         {{"spec", {{"replicas", replicas}}}});
  }
  void delete_pod(const std::string& ns, const std::string& name, int grace_seconds) {
    call("DELETE", "/api/v1/namespaces/" + ns + "/pods/" + name,
         {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", grace_seconds}});
  }

  // The EndpointSlices of service "esdb" in `ns`, as the admin reads them.
  json slices(const std::string& ns = "prod") {
    json l = cluster.api_get("/apis/discovery.k8s.io/v1/namespaces/" + ns +
                             "/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Desdb");
    return l.is_object() ? l.value("items", json::array()) : json::array();
  }
  // Endpoints over every slice of "esdb" in `ns`.
  size_t endpoints(const std::string& ns = "prod") {
    size_t n = 0;
    for (const auto& s : slices(ns)) n += s.value("endpoints", json::array()).size();
    return n;
  }
  // The current etcd revision, from a list's resourceVersion.
  std::string revision() {
    return call("GET", "/api/v1/namespaces/prod/configmaps?limit=1")["metadata"]
        .value("resourceVersion", "");
  }
  // Waits until a watch of prod's EndpointSlices from `rv` is refused as expired (the
  // compactor has passed it). False after 30 s.
  bool wait_compacted(const std::string& rv) {
    return eventually(
        [&] {
          auto r = cluster.api("GET",
                               "/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices?watch=true"
                               "&resourceVersion=" + rv + "&timeoutSeconds=1");
          return r.body.find("\"code\":410") != std::string::npos;
        },
        30s);
  }

  // Cuts the source's watch and keeps it away (the proxy refuses every connection) while prod's
  // StatefulSet scales to `replicas` and the compactor passes the revision the watch would
  // resume from; then lets the source back. REQUIRES: the cluster runs with compaction_args().
  void expire_resume_point(int replicas) {
    proxy->set_refusing(true);
    proxy->cut();
    const std::string cut_at = revision();
    scale("prod", replicas);
    REQUIRE(eventually([&] { return endpoints() == static_cast<size_t>(replicas); }, 20s));
    REQUIRE(wait_compacted(cut_at));
    proxy->set_refusing(false);
  }

  // A token for prod's service account "esdb" from the TokenRequest API (one hour), bound to the
  // Secret `bound_secret` (which must exist) when it is not empty: deleting the Secret
  // invalidates the token.
  std::string token(const std::string& bound_secret = "") {
    json spec = {{"expirationSeconds", 3600}};
    if (!bound_secret.empty()) {
      json secret = call("GET", "/api/v1/namespaces/prod/secrets/" + bound_secret);
      spec["boundObjectRef"] = {{"kind", "Secret"},
                                {"apiVersion", "v1"},
                                {"name", bound_secret},
                                {"uid", secret["metadata"]["uid"]}};
    }
    json r = call("POST", "/api/v1/namespaces/prod/serviceaccounts/esdb/token",
                  {{"apiVersion", "authentication.k8s.io/v1"},
                   {"kind", "TokenRequest"},
                   {"spec", spec}});
    return r["status"].value("token", "");
  }
  // Replaces the token file in one rename, as the kubelet's atomic writer does.
  void write_token(const std::string& token) {
    std::ofstream(token_file + ".new") << token << "\n";
    std::filesystem::rename(token_file + ".new", token_file);
  }

  // A client for the service account through `server` (the proxy by default) with `ca_file`
  // (the cluster's CA by default).
  std::unique_ptr<k::KubeClient> client(esk8s::Logger log, const std::string& server = "",
                                        const std::string& ca_file = "") {
    k::KubeConfig kc;
    kc.server = server.empty() ? proxy->url() : server;
    kc.ca_file = ca_file.empty() ? cluster.ca_file() : ca_file;
    kc.token_file = token_file;
    kc.source = "test";
    auto c = k::KubeClient::create(kc, {}, log);
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    return std::move(c.value());
  }

  // A kubeconfig for the service account (its token file) at `server`, verified with `ca_file`,
  // namespace prod: what a user outside the cluster would have.
  std::string kubeconfig(const std::string& server, const std::string& ca_file) {
    return files.write("sa-" + std::to_string(++kubeconfigs_) + ".kubeconfig",
                       "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                       "    server: " + server + "\n    certificate-authority: " + ca_file +
                           "\nusers:\n- name: sa\n  user:\n    tokenFile: " + token_file +
                           "\ncontexts:\n- name: c\n  context: {cluster: c, user: sa, "
                           "namespace: prod}\ncurrent-context: c\n");
  }

 private:
  static std::vector<std::string> args(const std::vector<std::string>& extra, int nodes) {
    std::vector<std::string> a = {"--nodes", std::to_string(nodes)};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  int kubeconfigs_ = 0;
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

// A started kubernetes source for `namespaces` of `env` (through its proxy), its log captured
// and its peer sets recorded; stopped on destruction.
struct RunningSource {
  std::shared_ptr<CaptureSink> sink = std::make_shared<CaptureSink>();
  esk8s::Logger log{sink, "discovery"};
  PeerRecorder peers;
  std::unique_ptr<d::KubernetesSource> src;

  explicit RunningSource(Env& env, std::vector<std::string> namespaces = {"prod"},
                         const std::function<void(d::KubernetesSourceOptions&)>& tweak = {}) {
    start(env.client(log), std::move(namespaces), tweak);
  }
  // With a client of the test's own (another server URL, another CA), made with `log`.
  RunningSource(const std::function<std::unique_ptr<k::KubeClient>(esk8s::Logger)>& client,
                std::vector<std::string> namespaces,
                const std::function<void(d::KubernetesSourceOptions&)>& tweak = {}) {
    start(client(log), std::move(namespaces), tweak);
  }
  ~RunningSource() { src->stop(); }
  d::DiscoveryStats stats() const { return src->stats(); }
  // Waits until `n` peers are published and every namespace has listed once.
  bool synced_with(size_t n, std::chrono::milliseconds limit = 30s) {
    return eventually([&] { return peers.size() == n && stats().synced; }, limit);
  }

 private:
  void start(std::unique_ptr<k::KubeClient> client, std::vector<std::string> namespaces,
             const std::function<void(d::KubernetesSourceOptions&)>& tweak) {
    auto o = options(std::move(namespaces));
    if (tweak) tweak(o);
    src = std::make_unique<d::KubernetesSource>(o, std::move(client), log, peers.callback());
    src->start();
  }
};

}  // namespace discovery_env
