// The HTTP server's connection cap and who gives way at the cap, as plain bookkeeping (no
// sockets, no clock) so the policy is unit-tested on its own.
//
// Policy: at most `capacity` connections are open. A connection is *waiting* while it waits for a
// request head (from accept until the head is parsed, and again from the end of each answer on a
// keep-alive connection); otherwise it is *busy* (its request is being answered). When a new
// connection arrives at the cap, the connection that has been waiting longest for a request head
// is evicted (closed without an answer) and the new one is admitted; only when every connection
// is busy is the new one refused. Why this keeps the probes answerable while an attacker holds
// every slot: a kubelet probe sends its request as soon as it connects, so it is always the
// youngest waiter and is answered in well under a millisecond, while slowloris and idle
// connections, being older, are the ones evicted; to evict a probe an attacker would have to open
// `capacity` connections within the probe's own round trip. Deadlines (http_io_timeout for a
// head, http_keep_alive for an idle connection) bound how long any connection waits anyway.
//
// Thread-safety: none; the server guards it with its mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>

namespace esk8s::plugin {

class HttpConnectionTable {
 public:
  // REQUIRES: capacity >= 1.
  explicit HttpConnectionTable(size_t capacity) : capacity_(capacity) {}

  struct Admission {
    bool admitted = false;
    std::optional<uint64_t> evicted;  // removed from the table to make room; close it
  };
  // Adds connection `id` as the youngest waiter, evicting the longest waiter when at the cap.
  // Not admitted only when the table is full of busy connections. REQUIRES: `id` is new.
  Admission admit(uint64_t id);
  // Removes the longest waiter, if any (file descriptors ran out: make room without a newcomer).
  std::optional<uint64_t> evict_longest_waiting();

  // `id` starts waiting for a request head: it becomes the youngest waiter. No-op when absent.
  void waiting(uint64_t id);
  // `id`'s request head arrived. No-op when absent.
  void busy(uint64_t id);
  // `id` closed. No-op when absent (e.g. already evicted).
  void remove(uint64_t id);

  bool contains(uint64_t id) const { return entries_.count(id) != 0; }
  size_t size() const { return entries_.size(); }
  size_t waiting_count() const { return waiting_order_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    bool waiting = false;
    std::list<uint64_t>::iterator position;  // in waiting_order_ while waiting
  };

  size_t capacity_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> waiting_order_;  // longest waiting first
};

}  // namespace esk8s::plugin
