// gossip::Membership — the membership table of one node, keyed by stable identity, and the one
// place that applies the claim-ordering rule of message.h:
//   newer instance wins; same instance: higher incarnation wins;
//   same instance and incarnation: Left > Dead > Suspect > Alive.
// It also keeps the "live peers" list (alive or suspect members other than self) as a vector so
// that the core can pick random peers in O(1), and classifies what a merge changed so that the
// core can emit membership events.
//
// Claims about unknown identities are only accepted when they say kAlive (as memberlist does):
// a dead/left/suspect record about someone we never knew (or already forgot) would only
// resurrect tombstones.
//
// Thread-safety: none; owned by one Core.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gossip/message.h"

namespace esk8s::gossip {

// What a successful merge did to a member, from the point of view of the events in core.h.
enum class MemberChange : uint8_t {
  kNone,       // replaced, but nothing an observer cares about (e.g. dead -> dead, newer inc)
  kJoined,     // unknown/dead/left/other instance -> alive or suspect
  kUpdated,    // alive -> alive (address, incarnation or meta)
  kSuspected,  // alive -> suspect
  kRecovered,  // suspect -> alive (same instance)
  kDied,       // alive/suspect -> dead
  kLeft,       // alive/suspect -> left
};

// Alive and suspect members are "live": probed, gossiped to, counted for quorum.
inline bool is_live(MemberState s) {
  return s == MemberState::kAlive || s == MemberState::kSuspect;
}

// <0, 0, >0 as claim `a` orders before, equal to, after claim `b` about the same identity.
int compare_claims(const MemberRecord& a, const MemberRecord& b);

// The change from `before` (nullptr = unknown) to `after`.
MemberChange classify_change(const MemberRecord* before, const MemberRecord& after);

class Membership {
 public:
  struct Entry {
    MemberRecord record;
    Time last_change{};
    size_t live_pos = kNotLive;  // index in live peers, or kNotLive
  };
  static constexpr size_t kNotLive = static_cast<size_t>(-1);

  enum class Outcome : uint8_t {
    kIgnoredUnknown,  // not alive and identity unknown: not stored
    kStale,           // lost to (or equal to) what we know
    kApplied,         // stored (inserted or replaced)
  };
  struct MergeResult {
    Outcome outcome = Outcome::kStale;
    MemberChange change = MemberChange::kNone;
    MemberRecord previous;  // valid when had_previous
    bool had_previous = false;
  };

  // `self` is stored like any other row but is never in the live-peer list; the core changes it
  // with set_self() only.
  Membership(MemberRecord self, Time now);

  // Merges a claim about someone other than self. REQUIRES: claim.identity != self identity.
  MergeResult merge(const MemberRecord& claim, Time now);
  // Replaces the self row unconditionally.
  void set_self(const MemberRecord& self, Time now);
  const MemberRecord& self() const { return self_->record; }

  const Entry* find(std::string_view identity) const;
  // Removes a row (not self). Returns whether it existed.
  bool erase(std::string_view identity);

  // Every row (self included) sorted by identity: O(N log N), for push-pull and views.
  std::vector<const Entry*> sorted_entries() const;
  size_t size() const { return table_.size(); }

  // Alive or suspect members other than self, in an order that depends only on the history of
  // merges (deterministic). O(1) access for random picks.
  const std::vector<const std::string*>& live_peers() const { return live_; }

 private:
  void set_live(Entry& e, bool live);

  // Hashed for O(1) lookups at scale (N = 10,000 tables per simulation); never iterated for a
  // decision (sorted_entries() sorts).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> table_;
  Entry* self_ = nullptr;
  std::vector<const std::string*> live_;  // points at the map keys (stable)
};

}  // namespace esk8s::gossip
