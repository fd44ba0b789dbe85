// Gossip benchmark on the deterministic simulator (tests/gossip/simulator.h), lan preset:
//  1. per cluster size N, starting from a converged cluster (every member knows every other):
//     - JOIN: virtual time and probe periods until one new node (seeded with 3 random members,
//       the others' discovery unchanged) is known alive by 100% of the members;
//     - FAILURE: a random member crashes; time until the first member suspects it, the first
//       declares it dead, and 100% of the survivors have it dead;
//     - steady state: messages and bytes sent per member per second over one push-pull period
//       (bytes = wire::encode size + the 4-byte frame header, TLS overhead not included);
//  2. false positives: a converged cluster of fp_n members, every member alive, under uniform
//     packet loss of 1%, 5% and 10% for fp_periods probe periods: dead declarations of live
//     members (by anyone), suspicions raised and refutations.
// The converged start injects one push-pull holding every member into each node (push-pull
// merges are not re-gossiped, so this costs O(N^2) merges and no epidemic).
//
// Memory is O(N^2) (every node holds every member); a size whose estimated footprint (from the
// per-record cost measured at the previous size) exceeds 80% of MemAvailable is skipped and
// reported as such.
//
// usage: gossip_sim_bench [sizes=10,100,1000,3000] [fp_periods=10000] [fp_n=32] [fp_seeds=3]
// Progress goes to stderr, the report (markdown) to stdout.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gossip/wire.h"
#include "simulator.h"

using namespace std::chrono;
namespace g = esk8s::gossip;
namespace sim = esk8s::gossip::sim;

namespace {

// kB from a "Key:   123 kB" line of a /proc file, or 0.
uint64_t proc_kb(const char* file, const char* key) {
  std::ifstream f(file);
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line)) {
    if (line.rfind(k, 0) == 0) return std::strtoull(line.c_str() + k.size(), nullptr, 10);
  }
  return 0;
}

double seconds_of(g::Duration d) { return duration<double>(d).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

size_t wire_size(const g::Envelope& e) { return g::encode(e).size() + g::kFrameHeaderBytes; }

sim::SimOptions lan_options(uint64_t seed, bool wire_sizes) {
  sim::SimOptions o;
  o.config = g::Config::lan();
  o.seed = seed;
  o.record_events = false;
  o.poll = milliseconds(10);
  if (wire_sizes) o.size_of = wire_size;
  return o;
}

// Adds n members and makes every one of them know all the others (alive, incarnation 0), then
// gives each `seeds_per_node` random seeds (known alive, so nobody is contacted).
void converged_cluster(sim::Simulator& s, size_t n, const g::Config& config, uint16_t port,
                       size_t seeds_per_node) {
  for (size_t i = 0; i < n; ++i) s.add_node("node-" + std::to_string(i));
  g::PushPull all;
  all.reply = true;  // nobody answers it
  all.members.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    g::MemberRecord r;
    r.identity = s.identity(i);
    r.instance = s.instance(i);
    r.address = s.address(i);
    r.port = port;
    all.members.push_back(std::move(r));
  }
  g::Envelope e;
  e.cluster = config.cluster_name;
  e.body = std::move(all);
  for (size_t i = 0; i < n; ++i) {
    const size_t from = i == 0 ? 1 : 0;
    e.from = s.identity(from);
    e.from_instance = s.instance(from);
    s.inject(i, e, e.from);
  }
  s.seed_all(seeds_per_node);
}

struct SizeResult {
  size_t n = 0;
  int seeds = 0;
  std::vector<double> join_s, first_suspect_s, first_dead_s, all_dead_s;
  std::vector<double> msgs_per_member_s, bytes_per_member_s;
  int join_incomplete = 0, dead_incomplete = 0;
  double window_s = 0;
  double rss_mb = 0;        // after the converged start, first seed
  double peak_mb = 0;       // VmHWM at the end (sizes run in increasing order)
  double wall_s = 0;        // total for this size
  double setup_wall_s = 0;  // converged start, first seed
  bool skipped = false;
  std::string skip_reason;
};

struct Tracker {
  std::string join_id, dead_id;
  std::vector<char> joined, dead;
  size_t joined_count = 0, dead_count = 0;
  g::Time first_join{}, first_suspect{}, first_dead{};
  bool any_join = false, any_suspect = false, any_dead = false;
};

void run_size(SizeResult& res, int seed_count, g::Duration max_join, g::Duration max_dead) {
  const size_t n = res.n;
  const auto wall0 = steady_clock::now();
  for (int seed = 1; seed <= seed_count; ++seed) {
    const auto t_setup = steady_clock::now();
    sim::SimOptions o = lan_options(static_cast<uint64_t>(seed) * 7919 + n, true);
    const g::Config config = o.config;
    const uint16_t port = o.port;
    sim::Simulator s(o);
    converged_cluster(s, n, config, port, 3);
    if (seed == 1) {
      res.setup_wall_s = duration<double>(steady_clock::now() - t_setup).count();
      res.rss_mb = static_cast<double>(proc_kb("/proc/self/status", "VmRSS")) / 1024.0;
    }
    std::fprintf(stderr, "  N=%zu seed %d: converged start in %.1f s wall, RSS %.0f MB\n", n, seed,
                 duration<double>(steady_clock::now() - t_setup).count(),
                 static_cast<double>(proc_kb("/proc/self/status", "VmRSS")) / 1024.0);

    // Steady state: after a 10 s warm-up, one push-pull period (every node's first push-pull is
    // at start + push_pull_interval, so the window holds exactly one per node).
    s.run_for(seconds(10));
    int mult = 1;
    if (n > 32) {
      mult = static_cast<int>(std::ceil(std::log2(static_cast<double>(n) / 32.0))) + 1;
    }
    const g::Duration window = g::Duration(config.push_pull_interval) * mult;
    res.window_s = seconds_of(window);
    uint64_t m0 = 0, b0 = 0, m1 = 0, b1 = 0;
    for (size_t i = 0; i < n; ++i) {
      m0 += s.counters(i).messages_sent;
      b0 += s.counters(i).bytes_sent;
    }
    const auto t_window = steady_clock::now();
    for (g::Duration done{}; done < window;) {
      const g::Duration step = std::min<g::Duration>(seconds(30), window - done);
      s.run_for(step);
      done += step;
      std::fprintf(stderr, "    steady %.0f/%.0f virtual s (%.0f s wall)\n", seconds_of(done),
                   seconds_of(window), duration<double>(steady_clock::now() - t_window).count());
    }
    for (size_t i = 0; i < n; ++i) {
      m1 += s.counters(i).messages_sent;
      b1 += s.counters(i).bytes_sent;
    }
    const double member_s = static_cast<double>(n) * seconds_of(window);
    res.msgs_per_member_s.push_back(static_cast<double>(m1 - m0) / member_s);
    res.bytes_per_member_s.push_back(static_cast<double>(b1 - b0) / member_s);

    Tracker tr;
    s.on_event([&tr](const sim::ObservedEvent& ev) {
      using K = g::MembershipEvent::Kind;
      const std::string& id = ev.event.member.identity;
      if (ev.event.kind == K::kJoined && id == tr.join_id && ev.node < tr.joined.size() &&
          !tr.joined[ev.node]) {
        tr.joined[ev.node] = 1;
        tr.joined_count++;
        if (!tr.any_join) tr.first_join = ev.at;
        tr.any_join = true;
      } else if (ev.event.kind == K::kSuspected && id == tr.dead_id && !tr.any_suspect) {
        tr.any_suspect = true;
        tr.first_suspect = ev.at;
      } else if (ev.event.kind == K::kDied && id == tr.dead_id && ev.node < tr.dead.size() &&
                 !tr.dead[ev.node]) {
        tr.dead[ev.node] = 1;
        tr.dead_count++;
        if (!tr.any_dead) tr.first_dead = ev.at;
        tr.any_dead = true;
      }
    });

    // JOIN: a new node seeded with 3 random members.
    tr.join_id = "node-joiner";
    tr.joined.assign(n, 0);
    const g::Time join_at = s.now();
    const size_t joiner = s.add_node(tr.join_id);
    {
      std::vector<g::Seed> seeds;
      std::set<size_t> picked;
      uint64_t x = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + n;
      while (picked.size() < std::min<size_t>(3, n)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        picked.insert(static_cast<size_t>(x % n));
      }
      for (size_t p : picked) seeds.push_back(g::Seed{s.identity(p), s.address(p), port});
      s.set_seeds(joiner, seeds);
    }
    const sim::RunResult jr = s.run_until([&] { return tr.joined_count >= n; }, max_join);
    if (jr.satisfied) {
      res.join_s.push_back(seconds_of(jr.at - join_at));
    } else {
      res.join_incomplete++;
    }
    std::fprintf(stderr, "    join: %zu/%zu know it after %.2f virtual s\n", tr.joined_count, n,
                 seconds_of(jr.at - join_at));
    s.run_for(seconds(5));

    // FAILURE: crash a member other than the joiner; survivors = the other n - 1 and the joiner.
    const size_t victim = (static_cast<size_t>(seed) * 2654435761u) % n;
    tr.dead_id = s.identity(victim);
    tr.dead.assign(n + 1, 0);
    const size_t survivors = n;  // n + 1 nodes minus the victim
    const g::Time crash_at = s.now();
    s.crash(victim);
    const sim::RunResult dr = s.run_until([&] { return tr.dead_count >= survivors; }, max_dead);
    if (tr.any_suspect) res.first_suspect_s.push_back(seconds_of(tr.first_suspect - crash_at));
    if (tr.any_dead) res.first_dead_s.push_back(seconds_of(tr.first_dead - crash_at));
    if (dr.satisfied) {
      res.all_dead_s.push_back(seconds_of(dr.at - crash_at));
    } else {
      res.dead_incomplete++;
    }
    std::fprintf(stderr, "    failure: %zu/%zu have it dead after %.2f virtual s\n", tr.dead_count,
                 survivors, seconds_of(dr.at - crash_at));
    s.on_event(nullptr);
  }
  res.peak_mb = static_cast<double>(proc_kb("/proc/self/status", "VmHWM")) / 1024.0;
  malloc_trim(0);
  res.wall_s = duration<double>(steady_clock::now() - wall0).count();
}

struct FpResult {
  double loss = 0;
  std::vector<uint64_t> episodes, declarations, suspicions, refutations, probes;
};

void run_false_positives(FpResult& res, size_t n, int periods, int seed_count) {
  for (int seed = 1; seed <= seed_count; ++seed) {
    const auto wall0 = steady_clock::now();
    sim::SimOptions o = lan_options(static_cast<uint64_t>(seed) * 104729 + n, false);
    const g::Config config = o.config;
    sim::Simulator s(o);
    converged_cluster(s, n, config, o.port, 3);
    s.run_for(seconds(10));                                  // warm-up without loss
    std::set<std::pair<std::string, uint64_t>> dead_claims;  // (identity, incarnation)
    s.on_event([&dead_claims](const sim::ObservedEvent& ev) {
      if (ev.event.kind == g::MembershipEvent::Kind::kDied) {
        dead_claims.insert({ev.event.member.identity, ev.event.member.incarnation});
      }
    });
    auto sum = [&](auto field) {
      uint64_t t = 0;
      for (size_t i = 0; i < n; ++i) t += s.core(i).stats().*field;
      return t;
    };
    const uint64_t d0 = sum(&g::CoreStats::deaths_declared);
    const uint64_t s0 = sum(&g::CoreStats::suspicions_raised);
    const uint64_t r0 = sum(&g::CoreStats::refutations);
    const uint64_t p0 = sum(&g::CoreStats::probes_sent);
    s.set_loss(res.loss);
    const g::Duration total = g::Duration(config.probe_interval) * periods;
    const g::Duration chunk = g::Duration(config.probe_interval) * std::max(1, periods / 5);
    for (g::Duration done{}; done < total;) {
      const g::Duration step = std::min(chunk, total - done);
      s.run_for(step);
      done += step;
      std::fprintf(stderr,
                   "  loss %.0f%% seed %d: %.0f/%.0f virtual s, %zu false deaths (%.0f s)\n",
                   res.loss * 100, seed, seconds_of(done), seconds_of(total), dead_claims.size(),
                   duration<double>(steady_clock::now() - wall0).count());
    }
    res.episodes.push_back(dead_claims.size());
    res.declarations.push_back(sum(&g::CoreStats::deaths_declared) - d0);
    res.suspicions.push_back(sum(&g::CoreStats::suspicions_raised) - s0);
    res.refutations.push_back(sum(&g::CoreStats::refutations) - r0);
    res.probes.push_back(sum(&g::CoreStats::probes_sent) - p0);
    s.on_event(nullptr);
  }
}

std::string join_u64(const std::vector<uint64_t>& v) {
  std::string out;
  for (uint64_t x : v) out += (out.empty() ? "" : ", ") + std::to_string(x);
  return out;
}

double median_u64(const std::vector<uint64_t>& v) {
  std::vector<double> d(v.begin(), v.end());
  return median(d);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {10, 100, 1000, 3000};
  if (argc > 1) {
    sizes.clear();
    std::stringstream ss(argv[1]);
    std::string item;
    while (std::getline(ss, item, ',')) sizes.push_back(std::strtoull(item.c_str(), nullptr, 10));
  }
  const int fp_periods = argc > 2 ? std::atoi(argv[2]) : 10000;
  const size_t fp_n = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 32;
  const int fp_seeds = argc > 4 ? std::atoi(argv[4]) : 3;
  const auto wall0 = steady_clock::now();

  std::vector<SizeResult> results;
  double bytes_per_record = 0;  // RSS per (node, member) pair at the previous size
  for (size_t n : sizes) {
    SizeResult r;
    r.n = n;
    r.seeds = n <= 100 ? 5 : n <= 1000 ? 3 : 1;
    const double avail_mb = static_cast<double>(proc_kb("/proc/meminfo", "MemAvailable")) / 1024.0;
    const double estimate_mb =
        bytes_per_record * static_cast<double>(n) * static_cast<double>(n) / 1048576.0;
    if (bytes_per_record > 0 && estimate_mb > 0.8 * avail_mb) {
      r.skipped = true;
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "estimated %.1f GB (%.0f B per node x member, measured at the previous size) > "
                    "80%% of MemAvailable %.1f GB",
                    estimate_mb / 1024, bytes_per_record, avail_mb / 1024);
      r.skip_reason = buf;
      std::fprintf(stderr, "N=%zu skipped: %s\n", n, buf);
      results.push_back(r);
      continue;
    }
    std::fprintf(stderr, "N=%zu, %d seed(s)\n", n, r.seeds);
    run_size(r, r.seeds, seconds(120), seconds(600));
    if (n >= 100) {
      bytes_per_record = r.rss_mb * 1048576.0 / (static_cast<double>(n) * static_cast<double>(n));
    }
    std::fprintf(stderr, "N=%zu done in %.0f s wall\n", n, r.wall_s);
    results.push_back(r);
  }

  std::vector<FpResult> fps;
  for (double loss : {0.01, 0.05, 0.10}) {
    FpResult f;
    f.loss = loss;
    std::fprintf(stderr, "false positives: N=%zu, loss %.0f%%\n", fp_n, loss * 100);
    run_false_positives(f, fp_n, fp_periods, fp_seeds);
    fps.push_back(f);
  }

  const g::Config lan = g::Config::lan();
  std::printf(
      "### Simulator, lan preset (probe %lld ms, timeout %lld ms, suspicion mult %d/%d, "
      "gossip %lld ms x %d, push-pull %lld s)\n\n",
      static_cast<long long>(lan.probe_interval.count()),
      static_cast<long long>(lan.probe_timeout.count()), lan.suspicion_mult,
      lan.suspicion_max_timeout_mult, static_cast<long long>(lan.gossip_interval.count()),
      lan.gossip_nodes, static_cast<long long>(lan.push_pull_interval.count() / 1000));
  std::printf(
      "Latency 0.5 ms + U[0, 1 ms], no loss. Converged start, 3 discovery seeds per node. One "
      "probe period = 1 s, so rounds = virtual seconds. Medians over the seeds.\n\n");
  std::printf(
      "| N | seeds | join known by 100%% | first suspects crash | first declares dead | 100%% "
      "have it dead | msgs/member/s | bytes/member/s | window | RSS after start | peak RSS | wall "
      "|\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const SizeResult& r : results) {
    if (r.skipped) {
      std::printf("| %zu | — | skipped: %s | | | | | | | | | |\n", r.n, r.skip_reason.c_str());
      continue;
    }
    auto cell = [](const std::vector<double>& v, int incomplete) {
      char buf[96];
      if (v.empty()) {
        std::snprintf(buf, sizeof buf, "not reached (%d)", incomplete);
      } else if (incomplete > 0) {
        std::snprintf(buf, sizeof buf, "%.2f s (%d not reached)", median(v), incomplete);
      } else {
        std::snprintf(buf, sizeof buf, "%.2f s", median(v));
      }
      return std::string(buf);
    };
    std::printf(
        "| %zu | %d | %s | %s | %s | %s | %.2f | %.0f | %.0f s | %.0f MB | %.0f MB | %.0f s |\n",
        r.n, r.seeds, cell(r.join_s, r.join_incomplete).c_str(), cell(r.first_suspect_s, 0).c_str(),
        cell(r.first_dead_s, 0).c_str(), cell(r.all_dead_s, r.dead_incomplete).c_str(),
        median(r.msgs_per_member_s), median(r.bytes_per_member_s), r.window_s, r.rss_mb, r.peak_mb,
        r.wall_s);
  }
  std::printf(
      "\n### Simulator, false positives: N = %zu, lan preset, %d probe periods, %d seeds\n\n", fp_n,
      fp_periods, fp_seeds);
  std::printf(
      "Every member stays alive; any dead declaration is false. \"Dead episodes\" = distinct "
      "(member, incarnation) declared dead by anyone; \"declarations\" = members' own suspicion "
      "timeouts firing (sum over members).\n\n");
  std::printf(
      "| loss | dead episodes (per seed) | median per member-hour | dead declarations | suspicions "
      "raised | refutations | probes sent |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const FpResult& f : fps) {
    const double member_hours = static_cast<double>(fp_n) * fp_periods *
                                seconds_of(g::Duration(lan.probe_interval)) / 3600.0;
    std::printf("| %.0f%% | %s | %.4f | %s | %s | %s | %s |\n", f.loss * 100,
                join_u64(f.episodes).c_str(), median_u64(f.episodes) / member_hours,
                join_u64(f.declarations).c_str(), join_u64(f.suspicions).c_str(),
                join_u64(f.refutations).c_str(), join_u64(f.probes).c_str());
  }
  std::printf("\nTotal wall time %.0f s.\n", duration<double>(steady_clock::now() - wall0).count());
  return 0;
}
