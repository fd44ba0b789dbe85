// Gossip benchmark with real esk8s-node processes on loopback over mutual TLS (local preset,
// static discovery, a local CA made here): per cluster size N and repetition,
//  1. start N nodes on 127.0.40.x and time until every node shows every node alive in /members;
//  2. steady state: gossip bytes and frames sent per member per second, from the counters
//     esk8s_gossip_bytes_sent_total / esk8s_gossip_frames_sent_total over a window (after a 5 s
//     settle, one local push-pull period);
//  3. SIGKILL one node; every survivor's /members is polled every 20 ms (one thread each) and the
//     first time it shows the victim "suspect" and "dead" is recorded: first and last survivor.
// Every process is SIGKILLed at the end of a run, on failure, on SIGINT/SIGTERM, and (through
// PR_SET_PDEATHSIG) if this program dies. Everything is bounded in time.
//
// usage: gossip_process_bench [sizes=3,5,16] [repeats=3] [steady_seconds=10]
// Progress goes to stderr, the report (markdown) to stdout; with ESK8S_BENCH_DATA set, every
// run's figures also go to gossip_process.csv there (bench_data.h).
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/bench_data.h"
#include "tests/process/process_cluster.h"

using namespace std::chrono;
using nlohmann::json;
using esk8s::test::kHttpPort;
using esk8s::test::ProcessCluster;

namespace {

constexpr int kSubnet = 40;
constexpr int kPollMs = 20;

// Every child we started, for the signal handler (async-signal-safe: a fixed array).
constexpr int kMaxChildren = 256;
volatile sig_atomic_t g_children[kMaxChildren];

void register_child(pid_t pid) {
  for (int i = 0; i < kMaxChildren; ++i) {
    if (g_children[i] == 0) {
      g_children[i] = pid;
      return;
    }
  }
}

void forget_child(pid_t pid) {
  for (int i = 0; i < kMaxChildren; ++i) {
    if (g_children[i] == pid) g_children[i] = 0;
  }
}

void kill_all_children_now() {
  for (int i = 0; i < kMaxChildren; ++i) {
    const pid_t pid = g_children[i];
    if (pid > 0) kill(pid, SIGKILL);
  }
}

extern "C" void on_signal(int sig) {
  kill_all_children_now();
  signal(sig, SIG_DFL);
  raise(sig);
}

std::string identity(int i) { return esk8s::test::member_identity(i); }

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string list(const std::vector<double>& v, const char* fmt) {
  std::string out;
  char buf[64];
  for (double x : v) {
    std::snprintf(buf, sizeof buf, fmt, x);
    out += (out.empty() ? "" : ", ") + std::string(buf);
  }
  return out;
}

std::optional<json> get_json(httplib::Client& c, const char* path) {
  auto r = c.Get(path);
  if (!r || r->status != 200) return std::nullopt;
  try {
    return json::parse(r->body);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::unique_ptr<httplib::Client> client(const std::string& ip) {
  auto c = std::make_unique<httplib::Client>(ip, kHttpPort);
  c->set_connection_timeout(0, 500000);
  c->set_read_timeout(1, 0);
  c->set_keep_alive(true);
  return c;
}

// State of `id` in `ip`'s /members, or "" when unknown / no answer.
std::string state_of(httplib::Client& c, const std::string& id) {
  auto m = get_json(c, "/members");
  if (!m || !m->is_object()) return "";
  for (const json& row : m->value("members", json::array())) {
    if (row.value("identity", "") == id) return row.value("state", "");
  }
  return "";
}

// Sum over the members of a counter without labels, or -1 when a node does not answer.
double counter_sum(const ProcessCluster& c, const std::string& name) {
  double total = 0;
  for (int i = 0; i < c.size(); ++i) {
    std::optional<double> v = c.metric(i, name);
    if (!v) return -1;
    total += *v;
  }
  return total;
}

struct Run {
  double converge_s = -1;
  double bytes_per_member_s = -1, frames_per_member_s = -1;
  double first_suspect_ms = -1, first_dead_ms = -1, last_dead_ms = -1;
  int saw_dead = 0, survivors = 0;
};

struct Observation {
  std::atomic<int64_t> suspect_us{-1}, dead_us{-1};
};

bool run_once(int n, int first_host, int victim, int steady_seconds, Run& out) {
  ProcessCluster cluster(n, kSubnet, {}, first_host);
  const auto t_start = steady_clock::now();
  cluster.start_all();
  for (int i = 0; i < n; ++i) register_child(cluster.pid(i));
  if (!cluster.wait_converged(seconds(30 + 2 * n))) {
    std::fprintf(stderr, "    did not converge within %d s; logs:\n%s\n", 30 + 2 * n,
                 cluster.logs().c_str());
    return false;
  }
  out.converge_s = duration<double>(steady_clock::now() - t_start).count();
  std::fprintf(stderr, "    converged in %.2f s\n", out.converge_s);

  std::this_thread::sleep_for(seconds(5));  // the join push-pulls are over
  const double b0 = counter_sum(cluster, "esk8s_gossip_bytes_sent_total");
  const double f0 = counter_sum(cluster, "esk8s_gossip_frames_sent_total");
  const auto w0 = steady_clock::now();
  std::this_thread::sleep_for(seconds(steady_seconds));
  const double b1 = counter_sum(cluster, "esk8s_gossip_bytes_sent_total");
  const double f1 = counter_sum(cluster, "esk8s_gossip_frames_sent_total");
  const double window = duration<double>(steady_clock::now() - w0).count();
  if (b0 < 0 || b1 < 0 || f0 < 0 || f1 < 0) {
    std::fprintf(stderr, "    could not read /metrics from every node\n");
    return false;
  }
  out.bytes_per_member_s = (b1 - b0) / n / window;
  out.frames_per_member_s = (f1 - f0) / n / window;
  std::fprintf(stderr, "    steady: %.0f bytes/member/s over %.1f s\n", out.bytes_per_member_s,
               window);

  // Detection: one poller per survivor, every 20 ms, for at most 30 s.
  const std::string victim_id = identity(victim);
  std::vector<Observation> obs(static_cast<size_t>(n));
  std::vector<std::thread> pollers;
  const auto t_kill = steady_clock::now();
  const auto deadline = t_kill + seconds(30);
  forget_child(cluster.pid(victim));
  cluster.stop(victim, SIGKILL);
  for (int i = 0; i < n; ++i) {
    if (i == victim) continue;
    pollers.emplace_back([&, i] {
      auto c = client(cluster.ip(i));
      Observation& o = obs[static_cast<size_t>(i)];
      auto next = steady_clock::now();
      while (steady_clock::now() < deadline) {
        const std::string s = state_of(*c, victim_id);
        const int64_t us = duration_cast<microseconds>(steady_clock::now() - t_kill).count();
        if (s == "suspect" && o.suspect_us.load() < 0) o.suspect_us = us;
        if (s == "dead") {
          if (o.suspect_us.load() < 0) o.suspect_us = us;
          o.dead_us = us;
          return;
        }
        next += milliseconds(kPollMs);
        std::this_thread::sleep_until(next);
      }
    });
  }
  for (std::thread& t : pollers) t.join();
  std::vector<double> suspect_ms, dead_ms;
  for (int i = 0; i < n; ++i) {
    if (i == victim) continue;
    out.survivors++;
    const Observation& o = obs[static_cast<size_t>(i)];
    if (o.suspect_us.load() >= 0) suspect_ms.push_back(static_cast<double>(o.suspect_us) / 1000);
    if (o.dead_us.load() >= 0) {
      dead_ms.push_back(static_cast<double>(o.dead_us) / 1000);
      out.saw_dead++;
    }
  }
  if (!suspect_ms.empty())
    out.first_suspect_ms = *std::min_element(suspect_ms.begin(), suspect_ms.end());
  if (!dead_ms.empty()) {
    out.first_dead_ms = *std::min_element(dead_ms.begin(), dead_ms.end());
    out.last_dead_ms = *std::max_element(dead_ms.begin(), dead_ms.end());
  }
  std::fprintf(stderr,
               "    detection: first suspect %.0f ms, first dead %.0f ms, last dead %.0f ms "
               "(%d/%d survivors)\n",
               out.first_suspect_ms, out.first_dead_ms, out.last_dead_ms, out.saw_dead,
               out.survivors);
  return out.saw_dead == out.survivors;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {3, 5, 16};
  if (argc > 1) {
    sizes.clear();
    std::stringstream ss(argv[1]);
    std::string item;
    while (std::getline(ss, item, ',')) sizes.push_back(std::atoi(item.c_str()));
  }
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  const int steady_seconds = argc > 3 ? std::atoi(argv[3]) : 10;
  for (int n : sizes) {
    if (n < 2 || n > 100) {
      std::fprintf(stderr, "sizes must be in 2..100\n");
      return 2;
    }
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  const auto wall0 = steady_clock::now();

  struct SizeRuns {
    int n;
    std::vector<Run> runs;
    int failed = 0;
  };
  std::vector<SizeRuns> all;
  int next_host = 1;
  for (int n : sizes) {
    SizeRuns sr{n, {}, 0};
    for (int rep = 0; rep < repeats; ++rep) {
      if (next_host + n > 250) next_host = 1;
      const int victim = 1 + rep % (n - 1);
      std::fprintf(stderr, "N=%d run %d/%d (127.0.%d.%d-%d, kill %s)\n", n, rep + 1, repeats,
                   kSubnet, next_host, next_host + n - 1, identity(victim).c_str());
      Run r;
      bool ok = false;
      try {
        ok = run_once(n, next_host, victim, steady_seconds, r);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "    failed: %s\n", e.what());
      }
      next_host += n;
      if (ok) {
        sr.runs.push_back(r);
      } else {
        sr.failed++;
      }
    }
    all.push_back(std::move(sr));
  }

  if (auto csv = esk8s::bench::data_file(
          "gossip_process.csv",
          "n,converge_s,first_suspect_ms,first_dead_ms,last_dead_ms,bytes_per_member_s,"
          "frames_per_member_s")) {
    for (const SizeRuns& sr : all) {
      for (const Run& r : sr.runs) {
        *csv << sr.n << "," << r.converge_s << "," << r.first_suspect_ms << "," << r.first_dead_ms
             << "," << r.last_dead_ms << "," << r.bytes_per_member_s << ","
             << r.frames_per_member_s << "\n";
      }
    }
  }
  std::printf("### Real processes on loopback, mutual TLS, local preset\n\n");
  std::printf(
      "esk8s-node processes, static discovery, ECDSA P-256 local CA, /members polled every %d ms "
      "per survivor. Medians over the runs (per-run values in brackets). Bytes = TLS payload "
      "written by the gossip transport (frames incl. 4-byte header), steady window %d s.\n\n",
      kPollMs, steady_seconds);
  std::printf(
      "| N | runs | start → all alive | SIGKILL → first suspect | → first dead | → last survivor "
      "dead | bytes/member/s | frames/member/s |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const SizeRuns& sr : all) {
    std::vector<double> conv, fs, fd, ld, bytes, frames;
    for (const Run& r : sr.runs) {
      conv.push_back(r.converge_s);
      fs.push_back(r.first_suspect_ms);
      fd.push_back(r.first_dead_ms);
      ld.push_back(r.last_dead_ms);
      bytes.push_back(r.bytes_per_member_s);
      frames.push_back(r.frames_per_member_s);
    }
    std::printf(
        "| %d | %zu ok, %d failed | %.2f s [%s] | %.0f ms [%s] | %.0f ms [%s] | %.0f ms [%s] | "
        "%.0f [%s] | %.1f |\n",
        sr.n, sr.runs.size(), sr.failed, median(conv), list(conv, "%.2f").c_str(), median(fs),
        list(fs, "%.0f").c_str(), median(fd), list(fd, "%.0f").c_str(), median(ld),
        list(ld, "%.0f").c_str(), median(bytes), list(bytes, "%.0f").c_str(), median(frames));
  }
  std::printf("\nTotal wall time %.0f s.\n", duration<double>(steady_clock::now() - wall0).count());
  return 0;
}
