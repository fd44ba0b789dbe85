#include "gossip/membership.h"

#include <algorithm>
#include <utility>

namespace esk8s::gossip {

int compare_claims(const MemberRecord& a, const MemberRecord& b) {
  if (a.instance != b.instance) return a.instance < b.instance ? -1 : 1;
  if (a.incarnation != b.incarnation) return a.incarnation < b.incarnation ? -1 : 1;
  // The enum values are the precedence: Alive 0 < Suspect 1 < Dead 2 < Left 3.
  const int sa = static_cast<int>(a.state), sb = static_cast<int>(b.state);
  return sa == sb ? 0 : (sa < sb ? -1 : 1);
}

MemberChange classify_change(const MemberRecord* before, const MemberRecord& after) {
  const bool was_live =
      before != nullptr && is_live(before->state) && before->instance == after.instance;
  switch (after.state) {
    case MemberState::kAlive:
    case MemberState::kSuspect:
      if (!was_live) return MemberChange::kJoined;
      if (after.state == MemberState::kSuspect) {
        return before->state == MemberState::kAlive ? MemberChange::kSuspected
                                                    : MemberChange::kNone;
      }
      return before->state == MemberState::kSuspect ? MemberChange::kRecovered
                                                    : MemberChange::kUpdated;
    case MemberState::kDead:
      return before != nullptr && is_live(before->state) ? MemberChange::kDied
                                                         : MemberChange::kNone;
    case MemberState::kLeft:
      return before != nullptr && is_live(before->state) ? MemberChange::kLeft
                                                         : MemberChange::kNone;
  }
  return MemberChange::kNone;
}

Membership::Membership(MemberRecord self, Time now) {
  std::string id = self.identity;
  auto [it, inserted] = table_.emplace(std::move(id), Entry{std::move(self), now, kNotLive});
  (void)inserted;
  self_ = &it->second;
}

Membership::MergeResult Membership::merge(const MemberRecord& claim, Time now) {
  MergeResult r;
  auto it = table_.find(claim.identity);
  if (it == table_.end()) {
    if (claim.state != MemberState::kAlive) {
      r.outcome = Outcome::kIgnoredUnknown;
      return r;
    }
    it = table_.emplace(claim.identity, Entry{claim, now, kNotLive}).first;
    set_live(it->second, true);
    r.outcome = Outcome::kApplied;
    r.change = MemberChange::kJoined;
    return r;
  }
  Entry& e = it->second;
  if (compare_claims(claim, e.record) <= 0) {
    r.outcome = Outcome::kStale;
    return r;
  }
  r.previous = std::move(e.record);
  r.had_previous = true;
  e.record = claim;
  e.last_change = now;
  set_live(e, is_live(claim.state));
  r.outcome = Outcome::kApplied;
  r.change = classify_change(&r.previous, claim);
  return r;
}

void Membership::set_self(const MemberRecord& self, Time now) {
  self_->record = self;
  self_->last_change = now;
}

std::vector<const Membership::Entry*> Membership::sorted_entries() const {
  std::vector<const Entry*> out;
  out.reserve(table_.size());
  for (const auto& [id, e] : table_) out.push_back(&e);
  std::sort(out.begin(), out.end(),
            [](const Entry* a, const Entry* b) { return a->record.identity < b->record.identity; });
  return out;
}

const Membership::Entry* Membership::find(std::string_view identity) const {
  auto it = table_.find(identity);
  return it == table_.end() ? nullptr : &it->second;
}

bool Membership::erase(std::string_view identity) {
  auto it = table_.find(identity);
  if (it == table_.end() || &it->second == self_) return false;
  set_live(it->second, false);
  table_.erase(it);
  return true;
}

void Membership::set_live(Entry& e, bool live) {
  if (live == (e.live_pos != kNotLive)) return;
  if (live) {
    e.live_pos = live_.size();
    // The key string lives in the map node, which never moves.
    live_.push_back(&table_.find(e.record.identity)->first);
    return;
  }
  // Swap-remove: move the last live peer into the hole.
  const size_t pos = e.live_pos;
  const std::string* last = live_.back();
  live_[pos] = last;
  live_.pop_back();
  if (pos < live_.size()) table_.find(*last)->second.live_pos = pos;
  e.live_pos = kNotLive;
}

}  // namespace esk8s::gossip
