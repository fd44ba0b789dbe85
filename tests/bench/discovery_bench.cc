// Discovery benchmark against kubesim over real HTTPS:
//  1. latency from an EndpointSlice change in the API server to the plugin's peer-set callback
//     (median and p99 over N changes);
//  2. API requests the source makes: at start, and per hour in steady state (measured over a
//     window, with the watch timeout the state machine draws).
// usage: discovery_bench [changes=200] [steady_seconds=120]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "discovery/kube_config.h"
#include "discovery/kubernetes_source.h"
#include "tests/kubesim/cluster.h"

using namespace std::chrono;
using nlohmann::json;
namespace d = esk8s::discovery;

int main(int argc, char** argv) {
  int changes = argc > 1 ? std::atoi(argv[1]) : 200;
  int steady_seconds = argc > 2 ? std::atoi(argv[2]) : 120;
  std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-bench-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  kubesim::ClusterOptions o;
  o.state_dir = dir + "/state";
  o.tokens_file = dir + "/tokens.csv";
  std::ofstream(o.tokens_file) << "bench,system:serviceaccount:prod:esdb,u1\n";
  std::ofstream(dir + "/token") << "bench\n";
  kubesim::Cluster cluster(o);
  if (!cluster.start().is_ok()) return 1;
  auto& store = cluster.store();
  auto& reg = cluster.registry();
  auto type = [&](const std::string& g, const std::string& p) { return *reg.find(g, "v1", p); };
  (void)store.create(type("", "namespaces"), "", {{"metadata", {{"name", "prod"}}}});
  (void)store.create(type("rbac.authorization.k8s.io", "roles"), "prod",
                     {{"metadata", {{"name", "r"}}},
                      {"rules",
                       {{{"apiGroups", {"discovery.k8s.io"}},
                         {"resources", {"endpointslices"}},
                         {"verbs", {"list", "watch"}}}}}});
  (void)store.create(
      type("rbac.authorization.k8s.io", "rolebindings"), "prod",
      {{"metadata", {{"name", "r"}}},
       {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "r"}}},
       {"subjects", {{{"kind", "ServiceAccount"}, {"name", "esdb"}, {"namespace", "prod"}}}}});
  // A hand-managed slice (no selector on the service, so no controller touches it).
  auto eps = type("discovery.k8s.io", "endpointslices");
  auto endpoint = [](int i) {
    return json{{"addresses", {"127.9.0." + std::to_string(i + 1)}},
                {"hostname", "esdb-" + std::to_string(i)},
                {"conditions", {{"ready", true}}}};
  };
  json slice = {
      {"metadata", {{"name", "esdb-bench"}, {"labels", {{"kubernetes.io/service-name", "esdb"}}}}},
      {"addressType", "IPv4"},
      {"endpoints", {endpoint(0), endpoint(1)}}};
  (void)store.create(eps, "prod", slice);

  std::mutex mu;
  std::condition_variable cv;
  size_t last_size = 0;
  uint64_t updates = 0;
  steady_clock::time_point last_update;
  esk8s::Logger log(std::make_shared<esk8s::StderrSink>(esk8s::LogLevel::kWarn), "bench");
  d::KubeConfig kc;
  kc.server = cluster.url();
  kc.ca_file = o.state_dir + "/ca.crt";
  kc.token_file = dir + "/token";
  kc.source = "bench";
  auto client = d::KubeClient::create(kc, {}, log);
  d::KubeClient* raw = client.value().get();
  d::KubernetesSourceOptions so;
  so.service = "esdb";
  so.namespaces = {"prod"};
  so.cluster_domain = "cluster.local";
  so.self_pod = "none";
  so.self_namespace = "prod";
  so.default_gossip_port = 2114;
  so.seed = 1;
  d::KubernetesSource src(so, std::move(client.value()), log, [&](const d::PeerSet& p) {
    std::lock_guard lock(mu);
    last_size = p.size();
    ++updates;
    last_update = steady_clock::now();
    cv.notify_all();
  });
  auto t_start = steady_clock::now();
  src.start();
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 10s, [&] { return updates > 0; });
  }
  double first_sync_ms = duration<double, std::milli>(last_update - t_start).count();
  uint64_t startup_requests = raw->requests();

  std::vector<double> latencies;
  for (int i = 0; i < changes; ++i) {
    json next = store.get(eps, "prod", "esdb-bench").value();
    size_t want = (i % 2 == 0) ? 3 : 2;
    next["endpoints"] = json::array();
    for (size_t k = 0; k < want; ++k) next["endpoints"].push_back(endpoint(static_cast<int>(k)));
    next["metadata"].erase("resourceVersion");
    uint64_t before;
    {
      std::lock_guard lock(mu);
      before = updates;
    }
    auto t0 = steady_clock::now();
    (void)store.update(eps, "prod", "esdb-bench", next);
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, 5s, [&] { return updates > before && last_size == want; })) {
      std::fprintf(stderr, "change %d not seen within 5 s\n", i);
      return 1;
    }
    latencies.push_back(duration<double, std::milli>(last_update - t0).count());
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double q) {
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(q * latencies.size()))];
  };

  uint64_t before_steady = raw->requests();
  std::this_thread::sleep_for(seconds(steady_seconds));
  uint64_t steady = raw->requests() - before_steady;
  src.stop();
  cluster.stop();
  std::filesystem::remove_all(dir);

  std::printf(
      "discovery benchmark (kubesim, HTTPS, 1 namespace, watch timeout drawn in [300,600] s)\n");
  std::printf("  first peer set after start:           %.1f ms\n", first_sync_ms);
  std::printf("  API requests before the first peer set: %llu (RBAC self-check, whoami, list)\n",
              static_cast<unsigned long long>(startup_requests));
  std::printf("  change -> peer callback, n=%zu:       median %.2f ms, p99 %.2f ms, max %.2f ms\n",
              latencies.size(), pct(0.5), pct(0.99), latencies.back());
  std::printf(
      "  steady-state requests in %d s:        %llu (=> %.1f per hour measured; expected %.1f per "
      "hour from\n"
      "                                        one watch per mean timeout of 450 s)\n",
      steady_seconds, static_cast<unsigned long long>(steady), steady * 3600.0 / steady_seconds,
      3600.0 / 450.0);
  return 0;
}
