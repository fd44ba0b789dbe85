// gossip::ProbeScheduler — SWIM's randomized round-robin probe order (as memberlist does it):
// each round probes every live member once, in an order shuffled at the start of the round; a
// member that becomes live mid-round is inserted at a random position among those not yet
// probed this round, so that it is probed within this round or the next. A member that stops
// being live is skipped lazily (the caller's `probeable` check) and vanishes at the next
// reshuffle. Worst-case time between two probes of one member: two rounds.
//
// Cost: O(1) per add and per probe, O(N) per round (one shuffle).
//
// Thread-safety: none; owned by one Core.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gossip/rng.h"

namespace esk8s::gossip {

class ProbeScheduler {
 public:
  // Starts a new round over `members` (shuffled here).
  void reset(std::vector<std::string> members, Rng& rng);
  // Adds a member that just became live at a random position in the rest of this round.
  void add(std::string identity, Rng& rng);
  // The next member of this round for which `probeable` holds, or nullopt when the round is
  // over (then call reset() with the current live members and ask again).
  std::optional<std::string> next(const std::function<bool(const std::string&)>& probeable);

  size_t remaining() const { return order_.size() - pos_; }

 private:
  std::vector<std::string> order_;
  size_t pos_ = 0;
};

}  // namespace esk8s::gossip
