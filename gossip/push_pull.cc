#include "gossip/push_pull.h"

#include <algorithm>

namespace esk8s::gossip {

PushPull make_push_pull(const Membership& membership, bool join, bool reply) {
  PushPull pp;
  pp.join = join;
  pp.reply = reply;
  const std::vector<const Membership::Entry*> entries = membership.sorted_entries();
  pp.members.reserve(std::min(entries.size(), kMaxPushPullMembers));
  if (entries.size() <= kMaxPushPullMembers) {
    for (const Membership::Entry* e : entries) pp.members.push_back(e->record);
    return pp;
  }
  // Over the limit: live members first (they matter for convergence), then tombstones.
  for (int pass = 0; pass < 2; ++pass) {
    for (const Membership::Entry* e : entries) {
      if (pp.members.size() >= kMaxPushPullMembers) break;
      if (is_live(e->record.state) == (pass == 0)) pp.members.push_back(e->record);
    }
  }
  return pp;
}

size_t merge_push_pull(const PushPull& received,
                       const std::function<void(const MemberRecord&)>& apply) {
  const size_t n = std::min(received.members.size(), kMaxPushPullMembers);
  for (size_t i = 0; i < n; ++i) apply(received.members[i]);
  return n;
}

}  // namespace esk8s::gossip
