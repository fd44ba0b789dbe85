// A cluster of real esk8s-node processes on loopback, shared by the process tests
// (tests/process), the adversarial tests (tests/adversarial) and the process benchmark
// (tests/bench): static discovery, mutual TLS (mode local-ca) with a CA made here, preset
// `local`; and what a test observes of it (members, metrics, liveness, RSS, logs, "still
// running") over plain HTTP on loopback.
//
// Every wait is bounded; every process started here is killed by the destructor (and by
// PR_SET_PDEATHSIG if the test itself dies). No test framework: callers assert.
//
// Thread-safety: none; one thread drives a cluster (the const observers may be called from
// several threads).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace esk8s::test {

inline constexpr uint16_t kGossipPort = 2114;
inline constexpr uint16_t kHttpPort = 2115;

// esdb-<i>.esdb.prod.svc.cluster.local
std::string member_identity(int i);

// A certificate and key in PEM.
struct Credential {
  std::string cert_pem;
  std::string key_pem;
};

class ProcessCluster {
 public:
  // `size` members esdb-0..esdb-<size-1> on 127.0.<subnet>.<first_host+i> (use a subnet no other
  // test uses), preset `local`, TLS mode local-ca with a fresh CA, a 16 MB ASan quarantine (so
  // RSS ceilings hold in the sanitizer build). `extra_env` entries (KEY=VALUE) are added to
  // every node's environment (and override the defaults with the same key).
  ProcessCluster(int size, int subnet, std::vector<std::string> extra_env = {},
                 int first_host = 1);
  ~ProcessCluster();  // SIGKILLs every node, removes the temporary directory
  ProcessCluster(const ProcessCluster&) = delete;
  ProcessCluster& operator=(const ProcessCluster&) = delete;

  void start_all();  // starts every member (not the outsiders)
  // Starts node i (again); `env_override` entries replace same-key defaults for this start only.
  void start(int i, std::vector<std::string> env_override = {});
  // Command-line arguments of esk8s-node for node i's next starts (none by default).
  void set_args(int i, std::vector<std::string> args) { args_[i] = std::move(args); }
  // Node i's next starts bind `ip` (a new "pod IP"); the members' static peer list keeps naming
  // the first addresses, as a StatefulSet's stable names would.
  void move(int i, std::string ip) { ips_.at(static_cast<size_t>(i)) = std::move(ip); }
  // A node beyond the members (index size(), size()+1, ...) on the next loopback address, with
  // the members' configuration (the same static peers and cluster size): not in anybody's peer
  // list, e.g. an impostor started with another CA. Returns its index; start it with start().
  int add_outsider();
  // Sends `sig` and reaps the process (SIGKILL: at once; others: waits up to 10 s, then SIGKILL).
  void stop(int i, int sig);
  // True while node i's process is running (not exited, not crashed).
  bool running(int i);
  // Exit status of node i if it exited since the last check (for "it crashed" messages).
  std::string exit_description(int i);

  // Waits until every running member lists every member alive, up to `limit`.
  bool wait_converged(std::chrono::milliseconds limit);
  // True when every running member lists each identity of `expected` in the state it names
  // ("alive", "dead", ...).
  bool all_see(const std::map<std::string, std::string>& expected) const;

  int size() const { return size_; }  // members (outsiders not counted)
  std::string identity(int i) const { return member_identity(i); }
  const std::string& ip(int i) const { return ips_.at(static_cast<size_t>(i)); }
  // 127.0.<subnet>.<first_host + host>: an address in this cluster's range.
  std::string address(int host) const;
  pid_t pid(int i) const { return pids_.at(static_cast<size_t>(i)); }
  const std::string& dir() const { return dir_; }        // temporary directory of this cluster
  const std::string& ca_dir() const { return ca_dir_; }  // ca.crt, ca.key
  std::string cluster_name() const { return "esdb.prod"; }

  // GET /members of node i parsed, or null when it does not answer within 2 s.
  nlohmann::json members(int i) const;
  // identity -> /members row as node i sees it (empty when it does not answer).
  std::map<std::string, nlohmann::json> view(int i) const;
  // Node i's /metrics text ("" when it does not answer within 2 s).
  std::string metrics(int i) const;
  // The value of one sample of node i's /metrics, e.g.
  // metric(0, "esk8s_gossip_tls_rejections_total{reason=\"untrusted_issuer\"}"); nullopt when the
  // series is absent or the node does not answer.
  std::optional<double> metric(int i, std::string_view series) const;
  // Sum of every sample of a metric family (all label values), 0 when absent.
  double metric_sum(int i, std::string_view family) const;
  // Resident set size of node i in KiB (from /proc), 0 when not running.
  long rss_kib(int i) const;
  // Node i's log so far (stdout + stderr), the last `max_bytes` of it.
  std::string log(int i, size_t max_bytes = 20000) const;
  // Every node's log tail, for messages on failure.
  std::string logs() const;

 private:
  std::vector<std::string> base_env(int i) const;

  int size_;
  int subnet_;
  int first_host_;
  std::string dir_, ca_dir_;
  std::vector<std::string> ips_;
  std::vector<pid_t> pids_;
  std::vector<std::string> extra_env_;
  std::map<int, std::string> exits_;
  std::map<int, std::vector<std::string>> args_;
};

// identity -> state for `n` members esdb-0..esdb-<n-1>, every one "alive".
std::map<std::string, std::string> all_alive(int n);

// A member certificate (serverAuth + clientAuth, SAN = identity) signed by the CA in `ca_dir`.
Credential issue_member_cert(const std::string& ca_dir, const std::string& identity);
// A CA of its own and a member certificate for `identity` from it (a foreign cluster).
Credential foreign_member_cert(const std::string& identity);
// A CA directory (ca.crt, ca.key) as `esk8s cert create-ca` writes it, created at `dir`.
std::string make_ca_dir(const std::string& dir, const std::string& name);

// GET `path` with a deadline on the whole exchange: the HTTP status, or -1 when no complete answer
// arrived in time (connection refused, reset, timeout).
int http_status(const std::string& ip, uint16_t port, const std::string& path,
                std::chrono::milliseconds timeout);
// Sends `raw` (a whole request, bytes as given) and returns what came back until the peer closed
// or `timeout` passed.
std::string http_raw(const std::string& ip, uint16_t port, std::string_view raw,
                     std::chrono::milliseconds timeout);

// A plain TCP connection (blocking, with a receive timeout). -1 on failure.
int tcp_connect(const std::string& ip, uint16_t port, std::chrono::milliseconds timeout);
// poll() for `events` on `fd` until `deadline`: true when ready.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline);

}  // namespace esk8s::test
