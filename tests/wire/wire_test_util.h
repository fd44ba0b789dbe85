// Helpers shared by the wire tests and the gossip_wire fuzz target: field-by-field envelope
// equality (message.h has no operator== for bodies) and sample envelopes for every body type.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gossip/message.h"

namespace esk8s::gossip::testing {

inline bool same_body(const Body& a, const Body& b) {
  if (a.index() != b.index()) return false;
  if (const auto* p = std::get_if<Ping>(&a)) {
    const auto& q = std::get<Ping>(b);
    return p->seq == q.seq && p->target == q.target;
  }
  if (const auto* p = std::get_if<IndirectPing>(&a)) {
    const auto& q = std::get<IndirectPing>(b);
    return p->seq == q.seq && p->target == q.target && p->address == q.address &&
           p->port == q.port && p->want_nack == q.want_nack;
  }
  if (const auto* p = std::get_if<Ack>(&a)) return p->seq == std::get<Ack>(b).seq;
  if (const auto* p = std::get_if<Nack>(&a)) return p->seq == std::get<Nack>(b).seq;
  const auto& p = std::get<PushPull>(a);
  const auto& q = std::get<PushPull>(b);
  return p.join == q.join && p.reply == q.reply && p.members == q.members;
}

inline bool same_envelope(const Envelope& a, const Envelope& b) {
  return a.cluster == b.cluster && a.version_min == b.version_min &&
         a.version_max == b.version_max && a.from == b.from && a.from_instance == b.from_instance &&
         same_body(a.body, b.body) && a.updates == b.updates;
}

inline MemberRecord sample_member(int i) {
  MemberRecord m;
  m.identity = "esdb-" + std::to_string(i) + ".esdb.db.svc.cluster.local";
  m.instance = InstanceId::make(1'700'000'000'000ULL + static_cast<uint64_t>(i), 0xBEEF,
                                0x0123456789ABCDEFULL ^ static_cast<uint64_t>(i));
  m.incarnation = 7 + static_cast<uint64_t>(i);
  m.address = "10.0.0." + std::to_string(i);
  m.port = 2112;
  m.state = static_cast<MemberState>(i % 4);
  m.meta = std::string("\x00\x01meta\xff", 7) + std::to_string(i);
  if (m.state == MemberState::kSuspect || m.state == MemberState::kDead) {
    m.accuser = "esdb-9.esdb.db.svc.cluster.local";
  }
  m.credential = std::string("\x30\x82", 2) + "cert-der-" + std::to_string(i);
  m.signature = std::string("\x30\x45", 2) + "sig-" + std::to_string(i);
  return m;
}

inline Envelope sample_envelope(Body body, int updates) {
  Envelope e;
  e.cluster = "esdb";
  e.from = "esdb-0.esdb.db.svc.cluster.local";
  e.from_instance = InstanceId::make(1'700'000'000'000ULL, 0x1234, 0xFEDCBA9876543210ULL);
  e.body = std::move(body);
  for (int i = 0; i < updates; ++i) e.updates.push_back(sample_member(i));
  return e;
}

// One sample of every body type, each with piggybacked updates.
inline std::vector<std::pair<std::string, Envelope>> sample_envelopes() {
  PushPull pp;
  pp.join = true;
  pp.reply = false;
  for (int i = 0; i < 5; ++i) pp.members.push_back(sample_member(i));
  return {
      {"ping", sample_envelope(Ping{42, "esdb-1.esdb.db.svc.cluster.local"}, 3)},
      {"indirect_ping",
       sample_envelope(IndirectPing{4'000'000'000u, "esdb-2.esdb.db.svc.cluster.local", "10.0.0.2",
                                    2112, false},
                       2)},
      {"ack", sample_envelope(Ack{7}, 1)},
      {"nack", sample_envelope(Nack{UINT32_MAX}, 0)},
      {"push_pull", sample_envelope(pp, 4)},
  };
}

}  // namespace esk8s::gossip::testing
