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
  // /health/disruptable: the local check passed and the disruption guard is not held: the
  // caller asks the guard worker for the Lease (the next call may then answer 200).
  bool wants_guard = false;
};

// /health/live: the event loop's last heartbeat is at most `deadline` old. Depends on nothing
// else (no peer, no API server).
HealthReport live_report(std::chrono::steady_clock::time_point last_heartbeat,
                         std::chrono::steady_clock::time_point now,
                         std::chrono::milliseconds deadline);

// /health/startup: start() completed and every local startup check passes. Never depends on
// peers, so it is safe as a startupProbe under any pod management policy.
HealthReport startup_report(const Snapshot& snapshot);

// /health/ready. Not ready while starting, when this process is superseded, while gossip is not
// running, when the host says it is not ready, or while `auto` still waits for the StatefulSet
// (one API read; a failed read resolves to bootstrap-latch). Then by mode:
//   quorum           ready iff a majority of the cluster size is alive as seen from here;
//   bootstrap-latch  ready until a majority has been seen once by this process (so an
//                    OrderedReady StatefulSet goes on creating the pods that make the majority),
//                    then as quorum, except that it is ready again ("pods-missing") while fewer
//                    pods than the cluster size exist in discovery: after pods 1 and 2 are
//                    deleted, OrderedReady recreates pod 1 only once pod 0 is Ready.
// The body names the mode, why it was chosen, alive/needed/clusterSize and the reason.
HealthReport ready_report(const Snapshot& snapshot);

// Whether `r` shows a quorum that may be latched as "seen" (ReadinessState::quorum_seen): gossip
// runs and a majority of a KNOWN cluster size is alive. An unknown size (0) never counts: a
// node alone must not latch a quorum of one before the StatefulSet read says how many it needs.
bool quorum_observed(const ReadinessState& r);

// /health/disruptable: 200 only if stopping this node leaves a majority of the cluster size
// confirmed alive among the others (QuorumView::can_lose_self; suspects count as down) and, with
// the disruption guard on, this process holds its Lease at `now` (else 503 reason
// disruption-guard and wants_guard, naming the holder when another one has it); unknown size or
// not running is 503.
HealthReport disruptable_report(const Snapshot& snapshot, std::chrono::system_clock::time_point now);

}  // namespace esk8s::plugin
