// The `dns` discovery source: finds the members through the cluster DNS instead of the
// Kubernetes API (no RBAC needed).
//
// A headless Service `<service>` in namespace `<ns>` publishes, for each endpoint, an SRV record
// `_<port-name>._tcp.<service>.<ns>.svc.<domain>` whose target is the pod's stable name
// `<hostname>.<service>.<ns>.svc.<domain>` -- exactly an esk8s member identity -- and the port
// the Service names `<port-name>` ("gossip" by default), plus A/AAAA records of
// `<service>.<ns>.svc.<domain>` (the pod IPs).
//
// !!! dns mode needs `publishNotReadyAddresses: true` on the headless Service. !!!
// Without it, a pod is only in DNS once it is Ready, and a member cannot become Ready before it
// has found its peers: a cluster that starts from scratch never forms, and a restarted member is
// invisible to the others until it is Ready. DNS cannot say whether a listed pod is ready, so
// every peer reports ready = serving = true, terminating = false.
//
// Resolution, one round (resolve_peers_once):
//   1. SRV `_<port-name>._tcp.<service>.<ns>.svc.<domain>`. Each SRV record is a peer: identity =
//      the target without the trailing dot (lower-cased), gossip_port = the SRV port, address =
//      the A/AAAA records of the target in the additional section, else a follow-up A (then
//      AAAA) query, else the target name itself (with a warning). Peers are sorted by identity;
//      `self_identity` is left out; targets that are not DNS subdomains are skipped with a
//      warning.
//   2. When the SRV name does not exist (NXDOMAIN) or has no SRV records, A (then AAAA) of
//      `<service>.<ns>.svc.<domain>`. Such peers have no DNS identity: the address stands in as
//      identity (and gossip_port = default_gossip_port), which a warning says; gossip learns the
//      real identity on contact. Self cannot be recognised and is not left out.
//   3. When neither has records, the result is an empty set and a warning.
// Transport: plain POSIX sockets, no libresolv, so tests can point it at a local server. Per
// nameserver, in order: a UDP query with `timeout`, retried once, then TCP when the answer is
// truncated. A nameserver that times out, is unreachable, sends garbage or answers other than
// NOERROR/NXDOMAIN is skipped for the next one. When every nameserver fails the result is an
// io error naming each failure -- never an empty set.
//
// Thread-safety: resolve_peers_once is reentrant. DnsSource: start/stop from one thread;
// `on_peers` is called from the source's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/logger.h"
#include "common/status.h"
#include "discovery/peer.h"

namespace esk8s::discovery {

struct DnsSourceOptions {
  std::string service, namespace_name, cluster_domain, port_name = "gossip";
  uint16_t default_gossip_port = 2114;  // for SRV records with port 0 and A/AAAA fallback peers
  std::string self_identity;            // excluded
  // "ip" or "ip:port" ("[v6]:port" or a bare IPv6 literal for IPv6; port 53 by default); tried
  // in order. Empty: the `nameserver` lines of resolv_conf_path (port 53).
  std::vector<std::string> nameservers;
  std::string resolv_conf_path = "/etc/resolv.conf";
  std::chrono::milliseconds interval{5000};  // re-resolve period (at least 10 ms)
  std::chrono::milliseconds timeout{2000};   // per query attempt (at least 1 ms)
};

// One resolution (see the header comment). `warnings` (may be null) receives one sentence per
// oddity: the A/AAAA fallback, skipped records, peers without an address. Errors: config for
// bad options or no nameserver, io when every nameserver failed.
Result<PeerSet> resolve_peers_once(const DnsSourceOptions& opts,
                                   std::vector<std::string>* warnings, Env& env = real_env());

// The nameserver addresses listed by `nameserver` lines of a resolv.conf file, in order.
// Errors: io when the file cannot be read, config when it lists no nameserver.
Result<std::vector<std::string>> read_resolv_conf_nameservers(const std::string& path,
                                                              Env& env = real_env());

// Periodic re-resolution on its own thread: resolves at once, then every `interval`. Calls
// `on_peers` after the first successful resolution and then only when the set changes. On
// failure it logs the error (once per distinct error, later repeats at debug) and keeps the
// last known peers: `on_peers` is not called. Warnings are logged when they change.
class DnsSource {
 public:
  using PeersCallback = std::function<void(const PeerSet& peers)>;

  // `env` gives the interval's clock and timer, resolv.conf and the query-id seeds; the queries
  // themselves are real sockets with real timeouts.
  DnsSource(DnsSourceOptions opts, Logger log, PeersCallback on_peers, Env& env = real_env());
  ~DnsSource();  // stop()

  DnsSource(const DnsSource&) = delete;
  DnsSource& operator=(const DnsSource&) = delete;

  // Starts the thread; a no-op when running.
  void start();
  // Cancels an in-flight resolution (within ~50 ms) and joins the thread; a no-op when stopped.
  void stop();

 private:
  void run();

  DnsSourceOptions opts_;
  Logger log_;
  PeersCallback on_peers_;
  Env& env_;
  std::unique_ptr<Waker> waker_;     // the interval; woken by stop()
  std::thread thread_;
  std::atomic<bool> cancel_{false};  // read by the resolver's socket waits
  // Thread-confined to run().
  std::optional<PeerSet> last_peers_;
  std::string last_error_;
  std::vector<std::string> last_warnings_;
};

}  // namespace esk8s::discovery
