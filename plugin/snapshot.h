// The immutable view the HTTP endpoints answer from. The event loop builds a new Snapshot after
// each change and publishes it with one pointer swap (common/published.h); HTTP threads take a
// reference to the current one, so an endpoint never waits for the event loop (DESIGN: "answers
// from an atomic snapshot").
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/published.h"
#include "gossip/host_status.h"
#include "plugin/config.h"
#include "plugin/metrics.h"

namespace esk8s::plugin {

enum class MemberState { kDiscovered, kAlive, kSuspect, kDead, kLeft };
const char* to_string(MemberState s);

struct MemberView {
  std::string identity;
  std::string address;
  uint16_t gossip_port = 0;
  uint16_t http_port = 0;
  MemberState state = MemberState::kDiscovered;
  bool is_self = false;
  std::array<uint8_t, 16> instance_id{};
  uint64_t incarnation = 0;
  int64_t last_change_unix_ms = 0;
  std::optional<gossip::HostStatus> status;  // decoded from the member's gossip meta
};

// One local condition /health/startup reports.
struct StartupCheck {
  std::string name;  // machine-readable, e.g. "http-listener"
  bool ok = false;
  std::string detail;  // human-readable
};

// What /health/ready and /health/disruptable decide from (computed on the event loop).
struct ReadinessState {
  ReadyMode mode = ReadyMode::kBootstrapLatch;  // resolved: never kAuto
  std::string mode_reason;                      // why this mode (auto's decision, or the key)
  bool mode_pending = false;                    // auto: the StatefulSet read has not finished yet
  uint32_t cluster_size = 0;                    // voting members; 0 = not known yet
  std::string cluster_size_source;              // "ESK8S_CLUSTER_SIZE", "StatefulSet esdb", ...
  uint32_t alive = 0;       // members alive or suspect as seen here, self included
  uint32_t confirmed_alive = 0;  // members alive and not suspected, self included
  uint32_t discovered = 1;  // distinct identities discovery lists (pods that exist), self included
  bool host_ready = true;   // the host's own readiness (node_status.host_ready)
  bool gossip_running = false;
  bool quorum_seen = false;  // a majority was seen alive at least once by this process
  bool superseded = false;   // a newer process claims this identity
};

// The cluster-wide disruption guard as this process last saw it (plugin/disruption_guard.h).
struct DisruptionGuardView {
  bool enabled = false;  // ESK8S_DISRUPTION_LEASE is set
  std::string lease;     // "namespace/name"
  // This process holds the Lease until held_until (a margin before its expiry).
  bool held = false;
  std::chrono::system_clock::time_point held_until{};
  std::string holder;  // another holder, when the last attempt was refused
  std::chrono::system_clock::time_point holder_until{};
  std::string error;  // why the last request to the API server failed ("" when it did not)
};

struct Snapshot {
  uint64_t generation = 0;  // increases with every publication
  bool started = false;     // start() completed; before that /health/startup says "starting"
  std::vector<StartupCheck> startup_checks;
  std::vector<MemberView> members;  // self first
  std::vector<Metric> metrics;      // refreshed every status poll
  ReadinessState readiness;
  DisruptionGuardView guard;
  std::string members_json;  // /members body (rendered at publication)
  std::string gossip_json;   // /gossip body, EventStoreDB format
};

// The single-writer, many-reader publication point (an empty Snapshot until the first store).
class SnapshotCell {
 public:
  SnapshotCell() : current_(std::make_shared<const Snapshot>()) {}
  std::shared_ptr<const Snapshot> load() const { return current_.load(); }
  void store(std::shared_ptr<const Snapshot> s) { current_.store(std::move(s)); }

 private:
  Published<Snapshot> current_;
};

}  // namespace esk8s::plugin
