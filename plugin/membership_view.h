// The members list the snapshot, the host callback and /members, /gossip are built from: the
// gossip layer's view and discovery's peers, with each member's decoded host status.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "discovery/peer.h"
#include "gossip/core.h"
#include "gossip/host_status.h"
#include "plugin/esdb_gossip.h"
#include "plugin/snapshot.h"

namespace esk8s::plugin {

// The plugin's members list: every member gossip knows (self first), then discovered peers
// gossip has not heard of yet (state kDiscovered). Steady-clock times of the core become Unix
// milliseconds relative to (steady_now, system_now).
std::vector<MemberView> build_members(const std::vector<gossip::MemberView>& gossip_members,
                                      const discovery::PeerSet& discovered,
                                      std::chrono::steady_clock::time_point steady_now,
                                      std::chrono::system_clock::time_point system_now);

// The rows /gossip and /members render, from the plugin's members list.
std::vector<GossipViewMember> gossip_view(const std::vector<MemberView>& members);

}  // namespace esk8s::plugin
