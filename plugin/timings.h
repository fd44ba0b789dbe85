// Timings of the plugin's own machinery, as named presets (ESK8S_PRESET). Gossip protocol timings
// join this file's presets with the gossip issue.
//
//   lan   — a Kubernetes cluster in one region (the default).
//   local — one machine / loopback (tests, the demo): shorter periods.
//   wan   — members spread over regions: longer deadlines.
#pragma once

#include <chrono>
#include <cstddef>

#include "common/status.h"
#include "plugin/config.h"

namespace esk8s::plugin {

struct Timings {
  // Period of the event-loop heartbeat that /health/live reads.
  // lan 100 ms, local 50 ms, wan 200 ms.
  std::chrono::milliseconds heartbeat_interval{100};
  // /health/live fails when the last heartbeat is older than this: the event loop is stuck.
  // At least 5 * heartbeat_interval so one late tick is not a failure. lan 2 s, local 1 s, wan 5 s.
  std::chrono::milliseconds live_deadline{2000};
  // How often the host's node_status callback is polled. lan 1 s, local 250 ms, wan 2 s.
  std::chrono::milliseconds status_poll_interval{1000};
  // HTTP deadline for a whole request head (from the accept for a connection's first request,
  // from its first byte for later ones) and for writing one answer: a slowloris client that
  // trickles its head is cut off after this. 2 s in every preset (probes send their request at
  // once). The runtime also uses it as the gossip transport's I/O timeout.
  std::chrono::milliseconds http_io_timeout{2000};
  // How long an HTTP keep-alive connection may stay idle between requests before it is closed.
  // 1 s in every preset.
  std::chrono::milliseconds http_keep_alive{1000};
  // Threads running the HTTP server's io_context. Connections are served asynchronously, so a
  // slow or idle client holds no thread; a second thread keeps probes answered while the other
  // renders a large /metrics or /gossip body. 2 in every preset.
  size_t http_threads = 2;

  static Timings lan();
  static Timings local();
  static Timings wan();
  static Timings for_preset(Preset p);

  // Rejects impossible combinations with a sentence naming the fields.
  Status validate() const;
};

}  // namespace esk8s::plugin
