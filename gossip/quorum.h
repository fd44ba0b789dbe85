// QuorumView: majority arithmetic over the voting members of a cluster of a configured size
// (ESK8S_CLUSTER_SIZE). Pure functions of counts; used by /health/ready and /health/disruptable.
#pragma once

#include <cstdint>

namespace esk8s::gossip {

struct QuorumView {
  uint32_t cluster_size = 0;  // voting members the cluster is configured for; 0 = not known
  uint32_t alive = 0;         // voting members seen alive from here, this node included

  // floor(cluster_size / 2) + 1.
  uint32_t needed() const { return cluster_size / 2 + 1; }
  // A majority of the configured size is alive. Never while the size is unknown: a size is
  // never guessed from the members seen (a node alone would be a "majority of one").
  bool has_quorum() const { return cluster_size > 0 && alive >= needed(); }
  // Stopping this (alive) node still leaves a majority alive among the others (never while the
  // size is unknown).
  bool can_lose_self() const { return cluster_size > 0 && alive >= 1 && alive - 1 >= needed(); }
};

}  // namespace esk8s::gossip
