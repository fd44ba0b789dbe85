#include "plugin/http_connection_table.h"

namespace esk8s::plugin {

HttpConnectionTable::Admission HttpConnectionTable::admit(uint64_t id) {
  Admission a;
  if (entries_.size() >= capacity_) {
    a.evicted = evict_longest_waiting();
    if (!a.evicted) return a;
  }
  entries_.emplace(id, Entry{});
  waiting(id);
  a.admitted = true;
  return a;
}

std::optional<uint64_t> HttpConnectionTable::evict_longest_waiting() {
  if (waiting_order_.empty()) return std::nullopt;
  uint64_t id = waiting_order_.front();
  remove(id);
  return id;
}

void HttpConnectionTable::waiting(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (it->second.waiting) waiting_order_.erase(it->second.position);
  it->second.position = waiting_order_.insert(waiting_order_.end(), id);
  it->second.waiting = true;
}

void HttpConnectionTable::busy(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.waiting) return;
  waiting_order_.erase(it->second.position);
  it->second.waiting = false;
}

void HttpConnectionTable::remove(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (it->second.waiting) waiting_order_.erase(it->second.position);
  entries_.erase(it);
}

}  // namespace esk8s::plugin
