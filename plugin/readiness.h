// Readiness as a pure state machine: what /health/ready and /health/disruptable decide from.
//
// The event loop keeps one ReadinessMemory (the resolved mode, the cluster size with where each
// came from, and the quorum latch) and feeds it inputs: the configuration at start, the
// StatefulSet read (ESK8S_READY_MODE=auto and the default cluster size follow it), and a
// ReadinessObservation at every publication. Each step returns the new memory and the decision
// (a ReadinessState for the Snapshot); nothing here reads a clock, logs or blocks, so the same
// memory and inputs always give the same output (tests/unit/readiness_test.cc drives it).
//
// Thread-safety: plain values; the runtime owns its memory on the event-loop thread.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "plugin/config.h"
#include "plugin/snapshot.h"
#include "plugin/statefulset_info.h"

namespace esk8s::plugin {

// What readiness remembers between publications.
struct ReadinessMemory {
  ReadyMode mode = ReadyMode::kBootstrapLatch;  // resolved: never kAuto
  std::string mode_reason;                      // why this mode (the key, or auto's decision)
  bool mode_pending = false;                    // auto: waiting for the StatefulSet read
  uint32_t cluster_size = 0;                    // 0: not known (never guessed from members)
  std::string cluster_size_source;              // where cluster_size came from, or why unknown
  bool quorum_seen = false;  // latched: a majority of a known size was seen alive once
};

// What the event loop sees at one publication.
struct ReadinessObservation {
  bool gossip_running = false;   // the gossip listener runs
  uint32_t alive = 0;            // alive or suspect, self included (0 while gossip is down)
  uint32_t confirmed_alive = 0;  // alive and not suspected, self included
  uint32_t discovered = 1;       // distinct identities discovery lists, self included
  bool host_ready = true;        // the host's node_status.host_ready (true without a status)
  bool superseded = false;       // a newer process claims this identity
};

struct ReadinessStep {
  ReadinessState state;   // the decision the Snapshot carries
  ReadinessMemory next;   // the memory after this observation
  bool quorum_latched = false;  // quorum_seen became true in this step (log it once)
};

// The memory at start. `reads_statefulset`: kubernetes discovery will read the pod's
// StatefulSet (auto mode or no ESK8S_CLUSTER_SIZE), so auto waits for it.
ReadinessMemory initial_readiness(const Config& config, bool reads_statefulset);

// The StatefulSet read finished (`info` is its result). Auto mode resolves: OrderedReady ->
// bootstrap-latch, Parallel -> quorum, a failed read -> bootstrap-latch (safe under both). Without
// ESK8S_CLUSTER_SIZE the size becomes spec.replicas; with it the key wins.
ReadinessMemory on_statefulset_read(ReadinessMemory memory, const Config& config,
                                    const Result<StatefulSetInfo>& info);

// One publication: the decision from the memory and the observation, latching quorum_seen when
// gossip runs and a majority of a KNOWN cluster size is alive (an unknown size never latches: a
// node alone must not latch a quorum of one before the StatefulSet says how many it needs).
ReadinessStep step_readiness(const ReadinessMemory& memory, const ReadinessObservation& in);

}  // namespace esk8s::plugin
