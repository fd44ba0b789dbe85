// The host's status crosses the C ABI as esk8s_node_status (plugin.h: fixed layout, char arrays)
// and lives everywhere else as gossip::HostStatus, the one C++ type (gossip carries it as CBOR
// meta, host_status.h; /gossip and /members render it, esdb_gossip.h). These are the only two
// conversions, used at the ABI boundary (abi.cc): the host's answer in, the members' statuses out.
//
// Thread-safety: pure functions.
#pragma once

#include "esk8s/plugin.h"
#include "gossip/host_status.h"

namespace esk8s::plugin {

// Reads every field the host filled; strings stop at their first NUL or at the array's end (a
// host that forgets the terminator cannot make the plugin read past it).
gossip::HostStatus to_host_status(const esk8s_node_status& s);
// struct_size set; strings cut to their array less the NUL; reserved fields zero.
esk8s_node_status to_node_status(const gossip::HostStatus& h);

}  // namespace esk8s::plugin
