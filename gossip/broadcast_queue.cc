#include "gossip/broadcast_queue.h"

#include <cmath>
#include <utility>

namespace esk8s::gossip {

uint32_t BroadcastQueue::transmit_limit(int retransmit_mult, size_t members) {
  const double scale = std::ceil(std::log10(static_cast<double>(members) + 1.0));
  const double limit = static_cast<double>(retransmit_mult) * scale;
  return limit < 1.0 ? 1u : static_cast<uint32_t>(limit);
}

void BroadcastQueue::push(MemberRecord update) {
  auto it = by_identity_.find(update.identity);
  if (it != by_identity_.end()) {
    order_.erase(it->second.key);
    by_identity_.erase(it);
  }
  const Key key{0, next_id_++};
  std::string id = update.identity;
  Item& item = by_identity_.emplace(std::move(id), Item{std::move(update), key}).first->second;
  order_.emplace(key, &item);
  while (by_identity_.size() > max_entries_) {
    auto victim = std::prev(order_.end());
    const std::string victim_id = victim->second->record.identity;
    order_.erase(victim);
    by_identity_.erase(victim_id);
  }
}

std::vector<MemberRecord> BroadcastQueue::take(size_t max_updates, uint32_t limit) {
  std::vector<Item*> picked;
  for (auto it = order_.begin(); it != order_.end() && picked.size() < max_updates; ++it) {
    picked.push_back(it->second);
  }
  std::vector<MemberRecord> out;
  out.reserve(picked.size());
  for (Item* item : picked) {
    order_.erase(item->key);
    item->key.transmits++;
    if (item->key.transmits >= limit) {
      const std::string id = item->record.identity;
      out.push_back(std::move(item->record));
      by_identity_.erase(id);
    } else {
      out.push_back(item->record);
      order_.emplace(item->key, item);
    }
  }
  return out;
}

int BroadcastQueue::transmits(const std::string& identity) const {
  auto it = by_identity_.find(identity);
  return it == by_identity_.end() ? -1 : static_cast<int>(it->second.key.transmits);
}

void BroadcastQueue::clear() {
  by_identity_.clear();
  order_.clear();
}

}  // namespace esk8s::gossip
