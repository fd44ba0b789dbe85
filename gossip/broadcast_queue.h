// gossip::BroadcastQueue — the dissemination queue (memberlist's TransmitLimitedQueue): state
// changes waiting to be piggybacked on outgoing messages.
//
//   * one entry per identity: a newer update about an identity replaces the queued one (and
//     starts again with zero transmissions);
//   * take() picks the least-transmitted entries first and, among equals, the newest first;
//   * an entry is dropped after transmit_limit(retransmit_mult, N) =
//     retransmit_mult * ceil(log10(N + 1)) transmissions — enough for an epidemic to reach all N
//     members with high probability;
//   * bounded by max_entries: when full, the most-transmitted, oldest entry is evicted
//     (anti-entropy push-pull repairs what it would have told).
//
// Cost: O(log Q) per push and per update taken.
//
// Thread-safety: none; owned by one Core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "gossip/message.h"

namespace esk8s::gossip {

class BroadcastQueue {
 public:
  explicit BroadcastQueue(size_t max_entries) : max_entries_(max_entries) {}

  static uint32_t transmit_limit(int retransmit_mult, size_t members);

  void push(MemberRecord update);
  // Up to `max_updates` updates for one message; each counts one transmission, and entries that
  // reach `limit` transmissions leave the queue.
  std::vector<MemberRecord> take(size_t max_updates, uint32_t limit);

  size_t size() const { return by_identity_.size(); }
  bool empty() const { return by_identity_.empty(); }
  // Transmissions so far of the queued update about `identity` (-1 when none is queued).
  int transmits(const std::string& identity) const;
  void clear();

 private:
  // Order of take(): fewer transmits first, then newer (higher id) first.
  struct Key {
    uint32_t transmits;
    uint64_t id;
    bool operator<(const Key& o) const {
      return transmits != o.transmits ? transmits < o.transmits : id > o.id;
    }
  };
  struct Item {
    MemberRecord record;
    Key key;
  };

  size_t max_entries_;
  uint64_t next_id_ = 1;
  std::unordered_map<std::string, Item> by_identity_;  // lookups only; order_ decides
  std::map<Key, Item*> order_;  // points into by_identity_ (map nodes do not move)
};

}  // namespace esk8s::gossip
