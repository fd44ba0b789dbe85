#include "plugin/membership_view.h"

#include <algorithm>

namespace esk8s::plugin {

namespace {

MemberState to_plugin_state(gossip::MemberState s) {
  switch (s) {
    case gossip::MemberState::kAlive:
      return MemberState::kAlive;
    case gossip::MemberState::kSuspect:
      return MemberState::kSuspect;
    case gossip::MemberState::kDead:
      return MemberState::kDead;
    case gossip::MemberState::kLeft:
      return MemberState::kLeft;
  }
  return MemberState::kDead;
}

gossip::MemberState to_gossip_state(MemberState s) {
  switch (s) {
    case MemberState::kAlive:
      return gossip::MemberState::kAlive;
    case MemberState::kSuspect:
      return gossip::MemberState::kSuspect;
    case MemberState::kLeft:
      return gossip::MemberState::kLeft;
    case MemberState::kDiscovered:  // not heard from: not alive as far as this node knows
    case MemberState::kDead:
      return gossip::MemberState::kDead;
  }
  return gossip::MemberState::kDead;
}

std::array<uint8_t, 16> id_bytes(const gossip::InstanceId& id) {
  std::array<uint8_t, 16> b{};
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(id.hi >> (56 - 8 * i));
    b[8 + i] = static_cast<uint8_t>(id.lo >> (56 - 8 * i));
  }
  return b;
}

gossip::InstanceId id_from_bytes(const std::array<uint8_t, 16>& b) {
  gossip::InstanceId id;
  for (int i = 0; i < 8; ++i) {
    id.hi = (id.hi << 8) | b[i];
    id.lo = (id.lo << 8) | b[8 + i];
  }
  return id;
}

}  // namespace

std::vector<MemberView> build_members(const std::vector<gossip::MemberView>& gossip_members,
                                      const discovery::PeerSet& discovered,
                                      std::chrono::steady_clock::time_point steady_now,
                                      std::chrono::system_clock::time_point system_now) {
  std::vector<MemberView> out;
  auto unix_ms = [&](gossip::Time t) {
    auto sys = system_now -
               std::chrono::duration_cast<std::chrono::system_clock::duration>(steady_now - t);
    return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
  };
  for (const auto& g : gossip_members) {
    MemberView m;
    m.identity = g.record.identity;
    m.address = g.record.address;
    m.gossip_port = g.record.port;
    m.state = to_plugin_state(g.record.state);
    m.is_self = g.is_self;
    m.instance_id = id_bytes(g.record.instance);
    m.incarnation = g.record.incarnation;
    m.last_change_unix_ms = unix_ms(g.last_change);
    if (!g.record.meta.empty()) {
      if (auto h = gossip::decode_host_status(g.record.meta)) {
        m.http_port = h->http_port;
        m.status = std::move(h.value());
      }
    }
    if (m.is_self)
      out.insert(out.begin(), std::move(m));
    else
      out.push_back(std::move(m));
  }
  for (const auto& p : discovered) {
    bool known = std::any_of(out.begin(), out.end(),
                             [&](const MemberView& m) { return m.identity == p.identity; });
    if (known) continue;
    MemberView m;
    m.identity = p.identity;
    m.address = p.address;
    m.gossip_port = p.gossip_port;
    m.state = p.terminating ? MemberState::kLeft : MemberState::kDiscovered;
    m.last_change_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(system_now.time_since_epoch())
            .count();
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<GossipViewMember> gossip_view(const std::vector<MemberView>& members) {
  std::vector<GossipViewMember> out;
  for (const auto& m : members) {
    GossipViewMember g;
    g.record.identity = m.identity;
    g.record.instance = id_from_bytes(m.instance_id);
    g.record.incarnation = m.incarnation;
    g.record.address = m.address;
    g.record.port = m.gossip_port;
    g.record.state = to_gossip_state(m.state);
    g.status = m.status;
    g.discovered_only = m.state == MemberState::kDiscovered;
    g.last_change =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(m.last_change_unix_ms));
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace esk8s::plugin
