// gossip::Awareness — Lifeguard's local health multiplier ("self-awareness"). A node that is
// itself slow (CPU starved, paused, overloaded network) sees its probes fail and has to refute
// suspicions about itself; it then waits longer for acks instead of accusing healthy members.
//
//   +1  a probe failed: no ack, and fewer nacks than indirect probes sent (or none were sent)
//   +1  we had to refute a suspicion (or death) about ourselves
//   -1  a probe succeeded
// The score is clamped to 0..max-1; probe timeout and probe interval are multiplied by
// (score + 1).
//
// Thread-safety: none; owned by one Core.
#pragma once

#include "gossip/message.h"

namespace esk8s::gossip {

class Awareness {
 public:
  explicit Awareness(int max_multiplier);

  // Adds `delta`, clamped to 0..max-1.
  void apply_delta(int delta);
  int score() const { return score_; }
  // d * (score + 1).
  Duration scale(Duration d) const;

 private:
  int max_;
  int score_ = 0;
};

}  // namespace esk8s::gossip
