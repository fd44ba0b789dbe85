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
// Thread-safety: start(), stop() and port() from one controlling thread; connections are served on
// the server's threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/logger.h"
#include "common/status.h"
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
  Status start(const std::string& address, uint16_t port);
  // Closes the listener and every connection (an answer being written may be cut short) and
  // joins every server thread, within about a second at worst. Idempotent.
  void stop();
  // The bound port (useful when started with port 0). REQUIRES: started.
  uint16_t port() const { return port_; }
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
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace esk8s::plugin
