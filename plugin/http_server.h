// The plugin's HTTP endpoints (ESK8S_HTTP_PORT): an event-driven HTTP/1.1 server (Boost.Beast) on
// its own io_context and threads, never the plugin's event loop. Answers come from the
// SnapshotCell and the loop heartbeat (plugin/http_router.h), never by calling into the loop, so a
// busy or stuck loop cannot delay a probe.
//
// Hardened against hostile clients (security issue 12):
//   - reads are asynchronous: a slow or idle connection holds no thread;
//   - limits and deadlines per connection (plugin/http_session.h, plugin/http_request_parser.h):
//     8 KiB request head (431), no body (413), GET/HEAD only (405), http_io_timeout for a whole
//     head, http_keep_alive between requests;
//   - at most kHttpMaxConnections connections; at the cap a newcomer evicts the connection that
//     has waited longest for its request head (plugin/http_connection_table.h), and so does an
//     accept that fails for want of file descriptors;
//   - nothing a client sends can throw out of a handler; untrusted text in answers and logs is
//     truncated, and JSON is dumped with invalid UTF-8 replaced;
//   - every refusal is counted by reason: esk8s_http_refused_connections_total{reason}.
//
// HTTPS: with an HTTPS port the same endpoints are also served over TLS (ESK8S_HTTPS_PORT), with
// the node's certificate from the latest set_tls() (the same limits, deadlines, cap and eviction;
// the handshake counts against the first head's deadline). Until a certificate is set, HTTPS
// connections are closed and counted as tls_handshake. Probes keep using plain HTTP.
//
// Thread-safety: start(), stop() and port() from one controlling thread; connections are served on
// the server's threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <optional>

#include "common/logger.h"
#include "common/published.h"
#include "common/status.h"
#include "gossip/tls_snapshot.h"
#include "plugin/http_refusals.h"
#include "plugin/snapshot.h"
#include "plugin/timings.h"

namespace esk8s::plugin {

inline constexpr size_t kHttpMaxConnections = 1024;

class HttpServer {
 public:
  // `snapshots` and `last_heartbeat_ns` (steady-clock nanoseconds) must outlive the server.
  // `max_connections` is the connection cap (tests use small ones). REQUIRES: max_connections >= 1.
  HttpServer(const SnapshotCell& snapshots, const std::atomic<int64_t>& last_heartbeat_ns,
             const Timings& timings, Logger logger, size_t max_connections = kHttpMaxConnections);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds address:port (an IP address; port 0: any free port) with SO_REUSEADDR (never
  // SO_REUSEPORT, which would let two nodes share a port silently) and close-on-exec, and serves
  // on Timings::http_threads background threads. Returns once the listener accepts connections.
  // Fails with kIo, naming the address and port, when it cannot bind. REQUIRES: not started.
  // With `https_port`, also binds address:https_port (0: any free port) for HTTPS.
  Status start(const std::string& address, uint16_t port,
               std::optional<uint16_t> https_port = std::nullopt);
  // Called (on a server thread, must not block) when /health/disruptable wants the disruption
  // guard's Lease. REQUIRES: not started.
  void set_disruption_guard_request(std::function<void()> fn) { guard_request_ = std::move(fn); }
  // The certificate for HTTPS connections accepted from now on (open ones keep theirs). Any
  // thread.
  void set_tls(std::shared_ptr<const gossip::TlsSnapshot> tls) { tls_.store(std::move(tls)); }
  // Closes the listener and every connection (an answer being written may be cut short) and
  // joins every server thread, within about a second at worst. Idempotent.
  void stop();
  // The bound port (useful when started with port 0). REQUIRES: started.
  uint16_t port() const { return port_; }
  // The bound HTTPS port, 0 without HTTPS. REQUIRES: started.
  uint16_t https_port() const { return https_port_; }
  // The refusal counters so far (also on /metrics).
  HttpRefusalCounts refusals() const;

 private:
  struct Impl;

  const SnapshotCell& snapshots_;
  const std::atomic<int64_t>& last_heartbeat_ns_;
  Timings timings_;
  Logger log_;
  size_t max_connections_;
  HttpRefusalCounters refusals_;  // outlives impl_: counts survive stop()
  Published<gossip::TlsSnapshot> tls_;
  std::function<void()> guard_request_;  // set before start, read by server threads
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  uint16_t https_port_ = 0;
};

}  // namespace esk8s::plugin
