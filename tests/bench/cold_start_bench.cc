// Cold start and full restart on esk8s-cluster (the real control plane with the process kubelet) with the example manifests: the time from the pods
// being created to every pod Ready with each member seeing all members alive, for both pod
// management policies at several sizes. Also the /health/ready latency under an API and HTTP
// flood. Prints a markdown section on stdout, progress on stderr; with ESK8S_BENCH_DATA set,
// every run's figures also go to cold_start.csv there (bench_data.h).
//
//   cold_start_bench [sizes=3,5] [repeats=3]
//   cold_start_bench --latency      only the probe latency under load
//
// Cold start: t0 = just before `kubectl apply` of the StatefulSet (everything else, the CA
// Secret included, exists already; kubectl itself takes ~0.1-0.2 s of the figure). Full
// restart: t0 = `kubectl delete pods --all --grace-period=0 --force` returned. Readiness comes
// from the kubelet's readinessProbe (periodSeconds 2 in the manifests), so OrderedReady pays
// roughly one probe period per pod; that is the policy's real cost, not esk8s's.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/bench_data.h"
#include "tests/scenario/gossip_flood.h"
#include "tests/scenario/harness.h"

using namespace esk8s::scenario;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) v.push_back(std::stoi(item));
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double seconds_since(steady_clock::time_point t0) {
  return duration<double>(steady_clock::now() - t0).count();
}

struct Row {
  std::string policy;
  int size = 0;
  std::vector<double> cold, restart;
};

}  // namespace

int latency();

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--latency") return latency();
  std::vector<int> sizes = parse_list(argc > 1 ? argv[1] : "3,5");
  int repeats = argc > 2 ? std::stoi(argv[2]) : 3;
  std::vector<Row> rows;
  try {
    for (const char* policy : {"Parallel", "OrderedReady"}) {
      for (int n : sizes) {
        Row row{policy, n, {}, {}};
        for (int r = 0; r < repeats; ++r) {
          std::cerr << "cold_start_bench: " << policy << " n=" << n << " run " << r + 1 << "/"
                    << repeats << "\n";
          Sim sim(
              [&](std::string& yaml) {
                replace_once(yaml, "podManagementPolicy: Parallel",
                             std::string("podManagementPolicy: ") + policy);
                replace_once(yaml, "replicas: 3", "replicas: " + std::to_string(n));
                replace_once(yaml, "ESK8S_CLUSTER_SIZE: \"3\"",
                             "ESK8S_CLUSTER_SIZE: \"" + std::to_string(n) + "\"");
              },
              /*defer_statefulset=*/true);
          auto t0 = steady_clock::now();
          sim.apply_statefulset();
          if (!sim.wait_converged(n, 180s, 20ms)) throw std::runtime_error("no cold start");
          row.cold.push_back(seconds_since(t0));
          std::string out;
          t0 = steady_clock::now();
          if (sim.kubectl("-n esdb delete pods --all --grace-period=0 --force", &out) != 0) {
            throw std::runtime_error(out);
          }
          // The old pods are gone from the API at once; wait for the new ones.
          if (!sim.wait_converged(n, 180s, 20ms)) throw std::runtime_error("no restart");
          row.restart.push_back(seconds_since(t0));
        }
        rows.push_back(row);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "cold_start_bench: " << e.what() << "\n";
    return 1;
  }

  if (auto csv = esk8s::bench::data_file("cold_start.csv", "policy,replicas,kind,seconds")) {
    for (const auto& r : rows) {
      for (double s : r.cold) *csv << r.policy << "," << r.size << ",cold_start," << s << "\n";
      for (double s : r.restart) *csv << r.policy << "," << r.size << ",full_restart," << s << "\n";
    }
  }
  std::printf("### Cold start and full restart on esk8s-cluster (`cold_start_bench`)\n\n");
  std::printf(
      "Pods created -> every pod Ready and every member seeing all members alive; "
      "median of %d runs (min-max).\n\n",
      repeats);
  std::printf("| policy | replicas | cold start s | full restart s |\n|---|---|---|---|\n");
  for (const auto& r : rows) {
    auto span = [](const std::vector<double>& v) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.2f (%.2f-%.2f)", median(v),
                    *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
      return std::string(buf);
    };
    std::printf("| %s | %d | %s | %s |\n", r.policy.c_str(), r.size, span(r.cold).c_str(),
                span(r.restart).c_str());
  }
  return 0;
}

int latency() {
  // Probe latency under load (3 members, Parallel).
  std::vector<double> ms;
  int api_events = 0;
  uint64_t pings = 0;
  {
    Sim sim;
    if (!sim.wait_converged(3, 120s)) {
      std::cerr << "cold_start_bench: no convergence for the latency run\n";
      return 1;
    }
    const std::string ip = sim.pods()[0].ip;
    std::atomic<bool> stop{false};
    std::atomic<int> events{0};
    std::thread api([&] {
      for (int i = 0; !stop; ++i) events += sim.touch_endpointslices(i);
    });
    GossipFlood gossip(sim.dir() + "/ca", "flood-0.esdb.esdb.svc.cluster.local",
                       {"esdb-0.esdb.esdb.svc.cluster.local", ip, 2114, "esdb.esdb"});
    gossip.start();
    Sim::eventually([&] { return gossip.acks_received() > 0; }, 10s, 10ms);  // flood flowing
    std::thread http([&] {
      while (!stop) Sim::get(ip, "/members");
    });
    for (int i = 0; i < 1000; ++i) {
      auto t0 = steady_clock::now();
      Sim::get(ip, "/health/ready");
      ms.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
      std::this_thread::sleep_for(5ms);
    }
    stop = true;
    api.join();
    http.join();
    gossip.stop();
    api_events = events;
    pings = gossip.pings_sent();
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "/health/ready latency under load (1000 requests while %d EndpointSlice updates, "
      "%llu gossip pings from a flooding member and a /members loop ran): median %.2f ms, "
      "p99 %.2f ms, max %.2f ms.\n",
      api_events, static_cast<unsigned long long>(pings), ms[ms.size() / 2],
      ms[ms.size() * 99 / 100], ms.back());
  return 0;
}
