// What the health endpoints answer, as pure functions of a Snapshot and the clock. The HTTP
// server only maps a HealthReport to a status code and a JSON body.
//
// Every body is a JSON object with "status" and, when not ok, a machine-readable "reason".
#pragma once

#include <chrono>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "plugin/snapshot.h"

namespace esk8s::plugin {

struct HealthReport {
  int http_status = 200;
  nlohmann::json body;
};

// /health/live: the event loop's last heartbeat is at most `deadline` old. Depends on nothing
// else (no peer, no API server).
HealthReport live_report(std::chrono::steady_clock::time_point last_heartbeat,
                         std::chrono::steady_clock::time_point now,
                         std::chrono::milliseconds deadline);

// /health/startup: start() completed and every local startup check passes. Never depends on
// peers, so it is safe as a startupProbe under any pod management policy.
HealthReport startup_report(const Snapshot& snapshot);

}  // namespace esk8s::plugin
