#include "plugin/membership_view.h"

#include <algorithm>
#include <cstring>

namespace esk8s::plugin {

namespace {

std::string cstr(const char* p, size_t cap) { return std::string(p, strnlen(p, cap)); }

void copy_cstr(char* dst, size_t cap, const std::string& src) {
  size_t n = std::min(src.size(), cap - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

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

gossip::HostStatus to_host_status(const esk8s_node_status& s) {
  gossip::HostStatus h;
  h.host_ready = s.host_ready != 0;
  h.state = cstr(s.state, sizeof s.state);
  h.writer_checkpoint = s.writer_checkpoint;
  h.chaser_checkpoint = s.chaser_checkpoint;
  h.last_commit_position = s.last_commit_position;
  h.epoch_position = s.epoch_position;
  h.epoch_number = s.epoch_number;
  h.node_priority = s.node_priority;
  std::memcpy(h.epoch_id.data(), s.epoch_id, 16);
  h.read_only_replica = s.is_read_only_replica != 0;
  h.internal_tcp_port = s.internal_tcp_port;
  h.external_tcp_port = s.external_tcp_port;
  h.http_port = s.http_port;
  h.version = cstr(s.version, sizeof s.version);
  h.internal_insecure_tcp_port = s.internal_insecure_tcp_port;
  h.external_insecure_tcp_port = s.external_insecure_tcp_port;
  h.advertise_http_port_to_client_as = s.advertise_http_port_to_client_as;
  h.advertise_tcp_port_to_client_as = s.advertise_tcp_port_to_client_as;
  h.internal_tcp_host = cstr(s.internal_tcp_host, sizeof s.internal_tcp_host);
  h.external_tcp_host = cstr(s.external_tcp_host, sizeof s.external_tcp_host);
  h.http_host = cstr(s.http_host, sizeof s.http_host);
  h.advertise_host_to_client_as =
      cstr(s.advertise_host_to_client_as, sizeof s.advertise_host_to_client_as);
  return h;
}

esk8s_node_status to_node_status(const gossip::HostStatus& h) {
  esk8s_node_status s{};
  s.struct_size = sizeof s;
  s.host_ready = h.host_ready ? 1 : 0;
  copy_cstr(s.state, sizeof s.state, h.state);
  s.writer_checkpoint = h.writer_checkpoint;
  s.chaser_checkpoint = h.chaser_checkpoint;
  s.last_commit_position = h.last_commit_position;
  s.epoch_position = h.epoch_position;
  s.epoch_number = h.epoch_number;
  s.node_priority = h.node_priority;
  std::memcpy(s.epoch_id, h.epoch_id.data(), 16);
  s.is_read_only_replica = h.read_only_replica ? 1 : 0;
  s.internal_tcp_port = h.internal_tcp_port;
  s.external_tcp_port = h.external_tcp_port;
  s.http_port = h.http_port;
  copy_cstr(s.version, sizeof s.version, h.version);
  s.internal_insecure_tcp_port = h.internal_insecure_tcp_port;
  s.external_insecure_tcp_port = h.external_insecure_tcp_port;
  s.advertise_http_port_to_client_as = h.advertise_http_port_to_client_as;
  s.advertise_tcp_port_to_client_as = h.advertise_tcp_port_to_client_as;
  copy_cstr(s.internal_tcp_host, sizeof s.internal_tcp_host, h.internal_tcp_host);
  copy_cstr(s.external_tcp_host, sizeof s.external_tcp_host, h.external_tcp_host);
  copy_cstr(s.http_host, sizeof s.http_host, h.http_host);
  copy_cstr(s.advertise_host_to_client_as, sizeof s.advertise_host_to_client_as,
            h.advertise_host_to_client_as);
  return s;
}

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
        m.status = to_node_status(h.value());
        m.http_port = h->http_port;
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

std::vector<gossip::GossipViewMember> gossip_view(const std::vector<MemberView>& members) {
  std::vector<gossip::GossipViewMember> out;
  for (const auto& m : members) {
    gossip::GossipViewMember g;
    g.record.identity = m.identity;
    g.record.instance = id_from_bytes(m.instance_id);
    g.record.incarnation = m.incarnation;
    g.record.address = m.address;
    g.record.port = m.gossip_port;
    g.record.state = to_gossip_state(m.state);
    if (m.status) g.status = to_host_status(*m.status);
    g.discovered_only = m.state == MemberState::kDiscovered;
    g.last_change =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(m.last_change_unix_ms));
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace esk8s::plugin
