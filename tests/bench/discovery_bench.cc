// Discovery benchmark against esk8s-cluster (the real kube-apiserver, tests/cluster) over HTTPS:
//  1. latency from an EndpointSlice change written to the API server (the PATCH sent) to the
//     plugin's peer-set callback (median and p99 over N changes);
//  2. API requests the source makes: at start, and per hour in steady state (measured over a
//     window, with the watch timeout the state machine draws).
// The source authenticates as a service account with a bound token from the TokenRequest API and
// the Role the plugin needs. The slice is hand-managed (no Service selects pods, so no
// controller touches it).
// usage: discovery_bench [changes=200] [steady_seconds=120]
// With ESK8S_BENCH_DATA set, every latency also goes to discovery_latency.csv there (bench_data.h).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "kube/kube_config.h"
#include "tests/bench/bench_data.h"
#include "discovery/kubernetes_source.h"
#include "tests/cluster/cluster_process.h"

using namespace std::chrono;
using nlohmann::json;
namespace d = esk8s::discovery;
namespace k = esk8s::kube;

namespace {

void must(const esk8s::testcluster::ApiReply& r, const std::string& what) {
  if (r.status < 200 || r.status > 299) {
    throw std::runtime_error(what + ": HTTP " + std::to_string(r.status) + " " + r.body);
  }
}

json endpoint(int i) {
  return json{{"addresses", {"10.244.9." + std::to_string(i + 1)}},
              {"hostname", "esdb-" + std::to_string(i)},
              {"conditions", {{"ready", true}}}};
}

}  // namespace

int main(int argc, char** argv) try {
  // As hosts do: OpenSSL writes an alert when a read meets a connection the server reset.
  signal(SIGPIPE, SIG_IGN);
  int changes = argc > 1 ? std::atoi(argv[1]) : 200;
  int steady_seconds = argc > 2 ? std::atoi(argv[2]) : 120;
  esk8s::testcluster::ClusterProcess cluster({"--nodes", "0"});
  const std::string dir = cluster.dir();
  must(cluster.api("POST", "/api/v1/namespaces", R"({"metadata":{"name":"prod"}})"), "namespace");
  must(cluster.api("POST", "/api/v1/namespaces/prod/serviceaccounts",
                   R"({"metadata":{"name":"esdb"}})"),
       "service account");
  must(cluster.api("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/prod/roles",
                   json{{"metadata", {{"name", "r"}}},
                        {"rules",
                         {{{"apiGroups", {"discovery.k8s.io"}},
                           {"resources", {"endpointslices"}},
                           {"verbs", {"list", "watch"}}}}}}
                       .dump()),
       "role");
  must(cluster.api(
           "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings",
           json{{"metadata", {{"name", "r"}}},
                {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "r"}}},
                {"subjects", {{{"kind", "ServiceAccount"}, {"name", "esdb"}, {"namespace", "prod"}}}}}
               .dump()),
       "role binding");
  auto token = cluster.api("POST", "/api/v1/namespaces/prod/serviceaccounts/esdb/token",
                           R"({"spec":{"expirationSeconds":86400}})");
  must(token, "token request");
  std::ofstream(dir + "/token") << json::parse(token.body)["status"]["token"].get<std::string>();
  const std::string slices = "/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices";
  must(cluster.api("POST", slices,
                   json{{"metadata",
                         {{"name", "esdb-bench"},
                          {"labels", {{"kubernetes.io/service-name", "esdb"}}}}},
                        {"addressType", "IPv4"},
                        {"endpoints", {endpoint(0), endpoint(1)}}}
                       .dump()),
       "endpoint slice");

  std::mutex mu;
  std::condition_variable cv;
  size_t last_size = 0;
  uint64_t updates = 0;
  steady_clock::time_point last_update;
  esk8s::Logger log(std::make_shared<esk8s::StderrSink>(esk8s::LogLevel::kWarn), "bench");
  k::KubeConfig kc;
  kc.server = cluster.server();
  kc.ca_file = cluster.ca_file();
  kc.token_file = dir + "/token";
  kc.source = "bench";
  auto client = k::KubeClient::create(kc, {}, log);
  k::KubeClient* raw = client.value().get();
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
    size_t want = (i % 2 == 0) ? 3 : 2;
    json patch = {{"endpoints", json::array()}};  // a merge patch replaces the whole list
    for (size_t k = 0; k < want; ++k) patch["endpoints"].push_back(endpoint(static_cast<int>(k)));
    uint64_t before;
    {
      std::lock_guard lock(mu);
      before = updates;
    }
    auto t0 = steady_clock::now();
    must(cluster.api("PATCH", slices + "/esdb-bench", patch.dump()), "slice change");
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, 5s, [&] { return updates > before && last_size == want; })) {
      std::fprintf(stderr, "change %d not seen within 5 s\n", i);
      return 1;
    }
    latencies.push_back(duration<double, std::milli>(last_update - t0).count());
  }
  if (auto csv = esk8s::bench::data_file("discovery_latency.csv", "latency_ms")) {
    for (double ms : latencies) *csv << ms << "\n";
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double q) {
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(q * latencies.size()))];
  };

  uint64_t before_steady = raw->requests();
  std::this_thread::sleep_for(seconds(steady_seconds));
  uint64_t steady = raw->requests() - before_steady;
  src.stop();

  std::printf(
      "discovery benchmark (esk8s-cluster: the real kube-apiserver, HTTPS, 1 namespace, watch "
      "timeout drawn in [300,600] s)\n");
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
} catch (const std::exception& e) {
  std::fprintf(stderr, "discovery benchmark: %s\n", e.what());
  return 1;
}
