// What the runtime needs from the host, as a C++ interface. The C ABI layer (abi.cc) implements
// it over the host's esk8s_host_api table; tests implement it directly.
//
// Thread-safety: both calls are made on the plugin's event-loop thread only.
#pragma once

#include <optional>
#include <vector>

#include "gossip/host_status.h"
#include "plugin/snapshot.h"

namespace esk8s::plugin {

class Host {
 public:
  virtual ~Host() = default;
  // A new membership snapshot (self first).
  virtual void membership_changed(const std::vector<MemberView>& members) = 0;
  // The database's status now, or nullopt when the host has none to give (abi.cc converts the
  // host's esk8s_node_status, plugin/node_status.h).
  virtual std::optional<gossip::HostStatus> node_status() = 0;
};

}  // namespace esk8s::plugin
