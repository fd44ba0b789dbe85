// The adversarial tests' harness: a cluster of real esk8s-node processes on loopback (static
// discovery, mutual TLS with a CA made here), the observations an attack test asserts on (members,
// metrics, liveness, RSS, logs, "still running"), and the hostile side's tools: certificates from
// the cluster CA (or from nowhere), raw TCP sockets and raw TLS connections that send whatever
// bytes a test wants.
//
// Every wait is bounded; every process started here is killed by the destructor (and by
// PR_SET_PDEATHSIG if the test itself dies).
//
// Thread-safety: none; one test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/test_util.h"

namespace esk8s::adversarial {

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
  // `size` members esdb-0..esdb-<size-1> on 127.0.<subnet>.<1+i> (use a subnet no other test uses),
  // preset `local`, TLS mode local-ca with a fresh CA, a 16 MB ASan quarantine (so RSS ceilings
  // hold in the sanitizer build). `extra_env` entries (KEY=VALUE) are added to every node's
  // environment (and override the defaults with the same key).
  ProcessCluster(int size, int subnet, std::vector<std::string> extra_env = {});
  ~ProcessCluster();  // SIGKILLs every node, removes the temporary directory
  ProcessCluster(const ProcessCluster&) = delete;
  ProcessCluster& operator=(const ProcessCluster&) = delete;

  void start_all();
  // Starts node i (again); `env_override` entries replace same-key defaults for this start only.
  void start(int i, std::vector<std::string> env_override = {});
  // Command-line arguments of esk8s-node for node i's next starts (none by default).
  void set_args(int i, std::vector<std::string> args) { args_[i] = std::move(args); }
  // Sends `sig` and reaps the process (SIGKILL: at once; others: waits up to 10 s, then SIGKILL).
  void stop(int i, int sig);
  // True while node i's process is running (not exited, not crashed).
  bool running(int i);
  // Exit status of node i if it exited since the last check (for "it crashed" messages).
  std::string exit_description(int i);

  // Waits until every running node lists every member alive, up to `limit`.
  bool wait_converged(std::chrono::milliseconds limit);

  int size() const { return static_cast<int>(ips_.size()); }
  std::string identity(int i) const { return member_identity(i); }
  const std::string& ip(int i) const { return ips_.at(static_cast<size_t>(i)); }
  pid_t pid(int i) const { return pids_.at(static_cast<size_t>(i)); }
  const std::string& dir() const { return dir_; }        // temporary directory of this cluster
  const std::string& ca_dir() const { return ca_dir_; }  // ca.crt, ca.key
  std::string cluster_name() const { return "esdb.prod"; }

  // GET /members of node i parsed, or null when it does not answer within 2 s.
  nlohmann::json members(int i) const;
  // identity -> /members row as node i sees it (empty when it does not answer).
  std::map<std::string, nlohmann::json> view(int i) const;
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
  // Every node's log tail, for INFO() on failure.
  std::string logs() const;

 private:
  std::vector<std::string> base_env(int i) const;

  std::string dir_, ca_dir_;
  std::vector<std::string> ips_;
  std::vector<pid_t> pids_;
  std::vector<std::string> extra_env_;
  std::map<int, std::string> exits_;
  std::map<int, std::vector<std::string>> args_;
};

// A member certificate (serverAuth + clientAuth, SAN = identity) signed by the CA in `ca_dir`.
Credential issue_member_cert(const std::string& ca_dir, const std::string& identity);
// A CA of its own and a member certificate for `identity` from it (a foreign cluster).
Credential foreign_member_cert(const std::string& identity);

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

// A TLS 1.3 client connection to a gossip listener, presenting `client` (or no certificate when
// nullopt), at OpenSSL security level 0 so that weak keys can be presented. It does not verify
// the server (the hostile side does not care). Blocking.
class TlsConnection {
 public:
  TlsConnection() = default;
  ~TlsConnection();
  TlsConnection(TlsConnection&& o) noexcept;
  TlsConnection& operator=(TlsConnection&& o) noexcept;

  // False with `error()` set when TCP or the handshake fails.
  bool connect(const std::string& ip, uint16_t port, const std::optional<Credential>& client,
               std::chrono::milliseconds timeout);
  // Writes all bytes; false when the peer closed or reset.
  bool write(std::string_view bytes);
  // Writes a 4-byte big-endian length prefix and `payload`.
  bool write_frame(std::string_view payload);
  // Reads one length-prefixed frame within `timeout` (nullopt on close or timeout).
  std::optional<std::string> read_frame(std::chrono::milliseconds timeout);
  // True when the server has closed the connection (a read returns EOF/reset) within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout);
  const std::string& error() const { return error_; }

 private:
  void reset();
  void* ssl_ = nullptr;  // SSL*
  void* ctx_ = nullptr;  // SSL_CTX*
  int fd_ = -1;
  std::string error_;
};

// tests/unit/test_util.h's: polls until a predicate holds or a limit passed.
using esk8s::test::eventually;
// How often the attack tests poll a node (each poll is an HTTP request to it; under ASan every
// request's allocations stay in the quarantine for a while, which counts in the RSS ceilings).
inline constexpr std::chrono::milliseconds kPoll{50};

}  // namespace esk8s::adversarial
