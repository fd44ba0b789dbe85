// gossip push-pull anti-entropy: the full-state exchange that repairs whatever the epidemic
// missed, and how a node joins (PushPull{join=true} to its seeds). The initiator sends its whole
// table (itself and tombstones included); the receiver merges it claim by claim with the normal
// ordering rule and answers with its own table (reply=true), which the initiator merges too.
//
// Cost: O(N) records each way, O(N log N) to merge.
//
// Thread-safety: none; pure functions over a Membership.
#pragma once

#include <cstddef>
#include <functional>

#include "gossip/membership.h"
#include "gossip/message.h"

namespace esk8s::gossip {

// This node's full view sorted by identity, at most kMaxPushPullMembers records (when the table
// is larger, the live records come first, then as many tombstones as fit).
PushPull make_push_pull(const Membership& membership, bool join, bool reply);

// Hands each record of a received push-pull to `apply` (the core's claim merge), at most
// kMaxPushPullMembers of them. Returns how many were handed over.
size_t merge_push_pull(const PushPull& received,
                       const std::function<void(const MemberRecord&)>& apply);

}  // namespace esk8s::gossip
