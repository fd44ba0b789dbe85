// The Runtime wires the plugin's parts for one instance: the discovery source, the event loop
// (a Boost.Asio io_context on one thread the plugin owns) and the HTTP endpoints.
//
// Threads: start() and stop() are called from one controlling (host) thread. All mutable state
// lives on the event-loop thread; other threads hand work over with post(). The HTTP server's
// threads read only the published Snapshot and the heartbeat atomic.
//
// Lifecycle: stopped -> start() -> running -> stop() -> stopped; a stopped runtime may start
// again (with a new instance id). stop() joins every thread before it returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/logger.h"
#include "common/status.h"
#include "plugin/config.h"
#include "plugin/host.h"
#include "plugin/snapshot.h"
#include "plugin/timings.h"

namespace esk8s::plugin {

class Runtime {
 public:
  // REQUIRES: timings.validate() is ok. `host` may be null (no callbacks).
  Runtime(Config config, Timings timings, Logger logger, std::shared_ptr<Host> host);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Starts discovery, the event loop and the HTTP endpoints; on failure nothing is left running
  // and the Status says what failed and how to fix it.
  Status start();
  // Idempotent. Joins every plugin thread.
  void stop();
  bool running() const { return loop_ != nullptr; }

  // The bound HTTP port. REQUIRES: running().
  uint16_t http_port() const;
  // The bound HTTPS port, 0 when ESK8S_HTTPS_PORT is off. REQUIRES: running().
  uint16_t https_port() const;
  // Runs `fn` on the event-loop thread. REQUIRES: running().
  void post(std::function<void()> fn);
  // The latest published view.
  std::shared_ptr<const Snapshot> snapshot() const { return snapshots_.load(); }

 private:
  struct Loop;

  Config config_;
  Timings timings_;
  Logger log_;
  std::shared_ptr<Host> host_;
  SnapshotCell snapshots_;
  std::atomic<int64_t> last_heartbeat_ns_{0};
  std::unique_ptr<Loop> loop_;
};

}  // namespace esk8s::plugin
