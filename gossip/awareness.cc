#include "gossip/awareness.h"

#include <algorithm>

namespace esk8s::gossip {

Awareness::Awareness(int max_multiplier) : max_(std::max(1, max_multiplier)) {}

void Awareness::apply_delta(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }

Duration Awareness::scale(Duration d) const { return d * (score_ + 1); }

}  // namespace esk8s::gossip
