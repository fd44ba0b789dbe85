// The plugin's HTTP endpoints (ESK8S_HTTP_PORT): a cpp-httplib server on its own worker threads
// that answers from the SnapshotCell and the loop heartbeat, never by calling into the event
// loop, so a busy or stuck loop cannot delay a probe.
//
// Endpoints today: /health/live, /health/startup. Unknown paths get a JSON 404 that lists them.
//
// Thread-safety: start() and stop() from one controlling thread; handlers run on worker threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/logger.h"
#include "common/status.h"
#include "plugin/snapshot.h"
#include "plugin/timings.h"

namespace httplib {
class Server;
}

namespace esk8s::plugin {

class HttpServer {
 public:
  // `snapshots` and `last_heartbeat_ns` (steady-clock nanoseconds) must outlive the server.
  HttpServer(const SnapshotCell& snapshots, const std::atomic<int64_t>& last_heartbeat_ns,
             const Timings& timings, Logger logger);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds address:port (port 0: any free port) and serves on background threads. Returns once
  // the listener accepts connections. Fails with kIo, naming the address and port, when it
  // cannot bind. REQUIRES: not started.
  Status start(const std::string& address, uint16_t port);
  // Stops accepting, finishes in-flight requests and joins every server thread. Idempotent.
  void stop();
  // The bound port (useful when started with port 0). REQUIRES: started.
  uint16_t port() const { return port_; }

 private:
  void install_routes();

  const SnapshotCell& snapshots_;
  const std::atomic<int64_t>& last_heartbeat_ns_;
  Timings timings_;
  Logger log_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

}  // namespace esk8s::plugin
