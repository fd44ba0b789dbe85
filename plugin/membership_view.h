// Conversions between the gossip layer's view and what the plugin shows: the host's
// esk8s_node_status <-> gossip::HostStatus (the metadata gossip disseminates), and the members
// list the snapshot, the host callback and /members, /gossip are built from.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "discovery/peer.h"
#include "esk8s/plugin.h"
#include "gossip/core.h"
#include "gossip/esdb_gossip.h"
#include "gossip/host_status.h"
#include "plugin/snapshot.h"

namespace esk8s::plugin {

gossip::HostStatus to_host_status(const esk8s_node_status& s);
esk8s_node_status to_node_status(const gossip::HostStatus& h);

// The plugin's members list: every member gossip knows (self first), then discovered peers
// gossip has not heard of yet (state kDiscovered). Steady-clock times of the core become Unix
// milliseconds relative to (steady_now, system_now).
std::vector<MemberView> build_members(const std::vector<gossip::MemberView>& gossip_members,
                                      const discovery::PeerSet& discovered,
                                      std::chrono::steady_clock::time_point steady_now,
                                      std::chrono::system_clock::time_point system_now);

// The rows /gossip and /members render, from the plugin's members list.
std::vector<gossip::GossipViewMember> gossip_view(const std::vector<MemberView>& members);

}  // namespace esk8s::plugin
