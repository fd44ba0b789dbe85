// The cluster-wide disruption guard (ESK8S_DISRUPTION_GUARD=lease): one coordination.k8s.io/v1
// Lease per cluster that a member must hold before /health/disruptable answers 200, so that
// concurrent disruptions are serialised across every namespace the cluster spans (no
// PodDisruptionBudget does that). The API server makes it linearizable: a Lease is created once
// (409 AlreadyExists for the loser) and replaced only with the resourceVersion that was read (409
// Conflict for the loser).
//
// The holder is "<identity> <instance>" (the process). A holder stays until
//   - the same identity is back: its next process, once it sees a quorum again, releases a Lease
//     an earlier instance of itself holds (should_release); or
//   - the Lease expires (renewTime + leaseDurationSeconds), so a member that dies holding it, or
//     is scaled away, blocks disruptions for at most ESK8S_DISRUPTION_LEASE_SECONDS.
//
// Sans-IO: parsing, decisions and request bodies are pure functions of their inputs and `now`;
// plugin/runtime.cc does the requests (plugin/disruption_guard_worker.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace esk8s::plugin {

using WallTime = std::chrono::system_clock::time_point;

// What the guard needs of a Lease object.
struct LeaseRecord {
  std::string resource_version;
  std::string holder;             // spec.holderIdentity; empty = free
  std::optional<WallTime> renew;  // spec.renewTime, else spec.acquireTime
  int64_t duration_seconds = 0;   // spec.leaseDurationSeconds

  // When the holder's claim ends; nullopt when free or when the Lease says nothing usable (a
  // holder without a time or a duration is treated as expired, never as held forever).
  std::optional<WallTime> expires() const;
};

// Parses a Lease from the API server (hostile input: at most 64 KiB, wrong types refused).
Result<LeaseRecord> parse_lease(std::string_view json);

// "<identity> <instance>", the holderIdentity of this process.
std::string guard_holder(std::string_view identity, std::string_view instance);

enum class GuardStep {
  kCreate,   // no Lease: create it held by us
  kTake,     // free or expired: replace it (with its resourceVersion) held by us
  kHeld,     // we hold it already
  kRefused,  // someone else holds it until `expires`
};

struct GuardDecision {
  GuardStep step = GuardStep::kRefused;
  std::string holder;  // kRefused: who holds it
  WallTime expires{};  // kRefused: until when
};

// `lease` is nullopt when the API server answered 404.
GuardDecision decide_acquire(const std::optional<LeaseRecord>& lease, std::string_view self_holder,
                             WallTime now);

// This process should free the Lease: an earlier instance of the same identity holds it (that
// disruption is over: we are back).
bool should_release(const LeaseRecord& lease, std::string_view identity,
                    std::string_view self_holder);

// The Lease body held by `holder` from `now` for `duration_seconds`; with `resource_version` for
// a replace (PUT), without for a create (POST).
std::string lease_body(std::string_view namespace_name, std::string_view name,
                       std::string_view holder, WallTime now, int64_t duration_seconds,
                       std::string_view resource_version);
// The Lease freed (holderIdentity removed), for a PUT with `lease`'s resourceVersion.
std::string released_lease_body(std::string_view namespace_name, std::string_view name,
                                const LeaseRecord& lease);

}  // namespace esk8s::plugin
