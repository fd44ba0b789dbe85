#include "gossip/probe_scheduler.h"

#include <utility>

namespace esk8s::gossip {

void ProbeScheduler::reset(std::vector<std::string> members, Rng& rng) {
  order_ = std::move(members);
  rng.shuffle(order_);
  pos_ = 0;
}

void ProbeScheduler::add(std::string identity, Rng& rng) {
  order_.push_back(std::move(identity));
  // Swap into a random slot among the members not probed yet this round (the new one included).
  const size_t span = order_.size() - pos_;
  const size_t slot = pos_ + static_cast<size_t>(rng.below(span));
  std::swap(order_[slot], order_.back());
}

std::optional<std::string> ProbeScheduler::next(
    const std::function<bool(const std::string&)>& probeable) {
  while (pos_ < order_.size()) {
    std::string& id = order_[pos_++];
    if (probeable(id)) return id;
  }
  return std::nullopt;
}

}  // namespace esk8s::gossip
