// gossip::Core — composes the concerns (membership, probe_scheduler, suspicion, awareness,
// broadcast_queue, push_pull) into the SWIM/Lifeguard state machine of core.h.
//
// One probe period, as seen by tick():
//   t0                 Ping{seq, target} to the next member of the round-robin order
//   t0 + timeout'      no ack yet: IndirectPing to k random live members (want_nack)
//   t0 + interval'     no ack at all: suspect the target (accuser = self); awareness updated
// where timeout' and interval' are scaled by (awareness + 1). A tick that comes late (the
// process was paused) never skips the indirect stage: it is run then and the period extended,
// so a slow node does not accuse healthy members it never gave a fair chance.
#include "gossip/core.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "gossip/awareness.h"
#include "gossip/broadcast_queue.h"
#include "gossip/claim.h"
#include "gossip/membership.h"
#include "gossip/probe_scheduler.h"
#include "gossip/push_pull.h"
#include "gossip/rng.h"
#include "gossip/suspicion.h"

namespace esk8s::gossip {

const char* to_string(MembershipEvent::Kind k) {
  switch (k) {
    case MembershipEvent::Kind::kJoined:
      return "joined";
    case MembershipEvent::Kind::kUpdated:
      return "updated";
    case MembershipEvent::Kind::kSuspected:
      return "suspected";
    case MembershipEvent::Kind::kRecovered:
      return "recovered";
    case MembershipEvent::Kind::kDied:
      return "died";
    case MembershipEvent::Kind::kLeft:
      return "left";
    case MembershipEvent::Kind::kRemoved:
      return "removed";
    case MembershipEvent::Kind::kSuperseded:
      return "superseded";
  }
  return "unknown";
}

namespace {

bool valid_record(const MemberRecord& r) {
  return !r.identity.empty() && r.identity.size() <= kMaxIdentityBytes &&
         r.address.size() <= kMaxAddressBytes && r.meta.size() <= kMaxMetaBytes &&
         r.accuser.size() <= kMaxIdentityBytes && !r.instance.is_zero() &&
         static_cast<uint8_t>(r.state) <= static_cast<uint8_t>(MemberState::kLeft);
}

// A set of strings with O(1) random pick and O(log n) insert/erase.
class PickableSet {
 public:
  bool contains(const std::string& s) const { return index_.count(s) != 0; }
  void insert(const std::string& s) {
    if (index_.emplace(s, items_.size()).second) items_.push_back(s);
  }
  void erase(const std::string& s) {
    auto it = index_.find(s);
    if (it == index_.end()) return;
    const size_t pos = it->second;
    index_.erase(it);
    if (pos + 1 != items_.size()) {
      items_[pos] = std::move(items_.back());
      index_[items_[pos]] = pos;
    }
    items_.pop_back();
  }
  const std::vector<std::string>& items() const { return items_; }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<std::string> items_;
  std::map<std::string, size_t, std::less<>> index_;
};

MembershipEvent::Kind event_kind(MemberChange c) {
  switch (c) {
    case MemberChange::kJoined:
      return MembershipEvent::Kind::kJoined;
    case MemberChange::kUpdated:
      return MembershipEvent::Kind::kUpdated;
    case MemberChange::kSuspected:
      return MembershipEvent::Kind::kSuspected;
    case MemberChange::kRecovered:
      return MembershipEvent::Kind::kRecovered;
    case MemberChange::kDied:
      return MembershipEvent::Kind::kDied;
    case MemberChange::kLeft:
    case MemberChange::kNone:  // never asked: no event for kNone
      break;
  }
  return MembershipEvent::Kind::kLeft;
}

}  // namespace

struct Core::Impl {
  struct Probe {
    bool active = false;
    std::string target;
    InstanceId instance;
    uint64_t incarnation = 0;
    uint32_t seq = 0;
    Time direct_deadline{};
    bool acked = false;
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  // We ping `target` for `requester`, who asked with `requester_seq`.
  struct Relay {
    std::string requester;
    std::string address;  // where to answer; empty = on the requester's connection
    uint16_t port = 0;
    uint32_t requester_seq = 0;
    Time deadline{};
    bool want_nack = true;
  };
  struct ActiveSuspicion {
    Suspicion timer;
    InstanceId instance;
    uint64_t incarnation;
  };
  struct SeedAddress {
    std::string address;
    uint16_t port = 0;
  };

  Impl(Config c, const LocalMember& local, std::shared_ptr<ClaimAuthority> auth, uint64_t seed,
       Time now)
      : config(std::move(c)),
        self_id(local.identity),
        own_instance(local.instance),
        authority(std::move(auth)),
        rng(seed),
        table(signed_record(MemberRecord{local.identity,
                                         local.instance,
                                         0,
                                         local.address,
                                         local.port,
                                         MemberState::kAlive,
                                         local.meta,
                                         {},
                                         {},
                                         {}}),
              now),
        awareness(config.awareness_max_multiplier),
        queue(config.max_queued_broadcasts) {
    // Spread the first timers over one period so that nodes started together do not run in
    // lockstep.
    next_probe = now + jitter(config.probe_interval);
    next_gossip = now + jitter(config.gossip_interval);
    next_push_pull = now + push_pull_period();
    next_seed_retry = now;
  }

  // `r` with this member's proof (r is our own record).
  MemberRecord signed_record(MemberRecord r) {
    ClaimAuthority::Proof p = authority->sign(signed_claim_bytes(config.cluster_name, r));
    r.credential = std::move(p.credential);
    r.signature = std::move(p.signature);
    return r;
  }

  // Our record changed: `self` at the next incarnation, signed, becomes our row and is gossiped.
  void republish_self(MemberRecord self, Time now) {
    self.incarnation++;
    table.set_self(signed_record(std::move(self)), now);
    queue.push(table.self());
  }

  void reject(ClaimRejection r) { stats.claims_rejected[static_cast<size_t>(r)]++; }

  // Whether the member's own proof of `c` holds (counted when it does not).
  bool proof_holds(const MemberRecord& c) {
    ClaimAuthority::Verdict v = authority->verify(
        c.identity, signed_claim_bytes(config.cluster_name, c), c.credential, c.signature);
    if (!v.ok) reject(v.reason);
    return v.ok;
  }

  Duration jitter(Duration d) {
    return Duration(static_cast<Duration::rep>(rng.below(static_cast<uint64_t>(d.count()) + 1)));
  }

  // ---- small helpers ----

  uint32_t alive_count() const {
    return static_cast<uint32_t>(table.live_peers().size()) +
           (is_live(table.self().state) ? 1u : 0u);
  }

  uint32_t transmit_limit() const {
    return BroadcastQueue::transmit_limit(config.retransmit_mult, alive_count());
  }

  Duration push_pull_period() const {
    const double n = static_cast<double>(alive_count());
    int mult = 1;
    if (n > 32) mult = static_cast<int>(std::ceil(std::log2(n / 32.0))) + 1;
    return Duration(config.push_pull_interval) * mult;
  }

  uint32_t alloc_seq() {
    if (next_seq == 0) next_seq = 1;  // 0 is the gossip carrier
    return next_seq++;
  }

  void send(Ready& out, const std::string& to, const std::string& address, uint16_t port, Body body,
            bool piggyback) {
    Outgoing o;
    o.to = to;
    o.address = address;
    o.port = port;
    o.envelope.cluster = config.cluster_name;
    o.envelope.from = self_id;
    o.envelope.from_instance = own_instance;
    o.envelope.body = std::move(body);
    if (piggyback && !queue.empty()) {
      o.envelope.updates = queue.take(config.max_piggyback_updates, transmit_limit());
      stats.updates_sent += o.envelope.updates.size();
    }
    stats.messages_sent++;
    out.messages.push_back(std::move(o));
  }

  // Sends to a member at the address the table holds for it.
  void send_to_member(Ready& out, const std::string& id, Body body, bool piggyback = true) {
    const Membership::Entry* e = table.find(id);
    if (e == nullptr) return;
    send(out, id, e->record.address, e->record.port, std::move(body), piggyback);
  }

  // Where to answer `from`: the table's address when the table holds the very instance that
  // spoke, else empty (answer on the connection).
  std::pair<std::string, uint16_t> reply_address(const std::string& from,
                                                 const InstanceId& from_instance) const {
    const Membership::Entry* e = table.find(from);
    if (e != nullptr && from != self_id && e->record.instance == from_instance) {
      return {e->record.address, e->record.port};
    }
    return {std::string(), 0};
  }

  // Up to k distinct random live peers, none of them in `exclude`.
  std::vector<std::string> pick_live(size_t k, const std::string* exclude) {
    const auto& live = table.live_peers();
    std::vector<std::string> out;
    if (k == 0 || live.empty()) return out;
    const size_t excluded = exclude != nullptr ? 1 : 0;
    if (live.size() <= k + excluded + 2) {
      for (const std::string* id : live) {
        if (exclude == nullptr || *id != *exclude) out.push_back(*id);
      }
      rng.shuffle(out);
      if (out.size() > k) out.resize(k);
      return out;
    }
    std::set<size_t> chosen;
    while (out.size() < k) {
      const size_t i = static_cast<size_t>(rng.below(live.size()));
      if (!chosen.insert(i).second) continue;
      if (exclude != nullptr && *live[i] == *exclude) continue;
      out.push_back(*live[i]);
    }
    return out;
  }

  // ---- claims ----

  // `rebroadcast`: queue the claim for gossip when it changed our table. Claims merged from a
  // push-pull are not re-gossiped (their origin already gossiped them, and anti-entropy repairs
  // the rest), except the sender's claim about itself — that is how a joiner's arrival and a
  // healed partition's refutations spread. Without this a cold start of N members would queue
  // N^2 join broadcasts.
  void apply_claim(const MemberRecord& c, Time now, Ready& out, bool rebroadcast = true) {
    if (!valid_record(c)) {
      stats.dropped_invalid_records++;
      return;
    }
    if (!valid_identity_name(c.identity) ||
        (!c.accuser.empty() && !valid_identity_name(c.accuser))) {
      reject(ClaimRejection::kInvalidIdentity);
      return;
    }
    if (c.identity == self_id) {
      apply_self_claim(c, now, out);
      return;
    }
    const Membership::Entry* before = table.find(c.identity);
    if (before != nullptr) {
      const int cmp = compare_claims(c, before->record);
      if (cmp < 0) {
        stats.dropped_stale++;
        return;
      }
      if (cmp == 0) {
        if (c.state == MemberState::kSuspect && same_signed_content(c, before->record)) {
          confirm_suspicion(c);
        }
        return;
      }
    } else if (c.state != MemberState::kAlive) {
      return;  // tombstones of identities we do not know are never learned
    } else if (table.size() >= config.max_members) {
      reject(ClaimRejection::kTableFull);
      return;
    }
    // Only a claim that would change the table costs a verification; an accusation carrying the
    // very proof we already verified needs none.
    if ((before == nullptr || !same_signed_content(c, before->record)) && !proof_holds(c)) return;
    const Membership::MergeResult r = table.merge(c, now);
    if (r.outcome != Membership::Outcome::kApplied) return;
    after_change(c, r, now, out);
    if (rebroadcast) queue.push(c);
  }

  void confirm_suspicion(const MemberRecord& c) {
    auto it = suspicions.find(c.identity);
    if (it == suspicions.end()) return;
    ActiveSuspicion& s = it->second;
    if (s.instance != c.instance || s.incarnation != c.incarnation) return;
    const Time old = s.timer.deadline();
    if (!s.timer.confirm(c.accuser)) return;
    suspicion_deadlines.erase({old, c.identity});
    suspicion_deadlines.emplace(s.timer.deadline(), c.identity);
    // Re-gossip so that others can count this accuser too.
    queue.push(c);
  }

  void after_change(const MemberRecord& c, const Membership::MergeResult& r, Time now, Ready& out) {
    const bool was_live = r.had_previous && is_live(r.previous.state);
    const bool live = is_live(c.state);
    // Suspicion timer.
    if (c.state == MemberState::kSuspect) {
      auto it = suspicions.find(c.identity);
      if (it == suspicions.end() || it->second.instance != c.instance ||
          it->second.incarnation != c.incarnation) {
        clear_suspicion(c.identity);
        const uint32_t n = alive_count();
        ActiveSuspicion s{
            Suspicion(now, suspicion_min_timeout(config, n), suspicion_max_timeout(config, n),
                      suspicion_expected_confirmations(config, n), c.accuser),
            c.instance, c.incarnation};
        suspicion_deadlines.emplace(s.timer.deadline(), c.identity);
        suspicions.emplace(c.identity, std::move(s));
      }
    } else {
      clear_suspicion(c.identity);
    }
    if (live && !was_live) probes.add(c.identity, rng);
    if (!live) reap_queue.emplace(now + Duration(config.dead_retention), c.identity);
    if (seeds.count(c.identity) != 0) {
      if (c.state == MemberState::kDead || c.state == MemberState::kLeft) {
        pending_seeds.insert(c.identity);
      } else {
        pending_seeds.erase(c.identity);
      }
    }
    if (r.change == MemberChange::kNone) return;
    MembershipEvent ev;
    ev.kind = event_kind(r.change);
    ev.member = c;
    out.events.push_back(std::move(ev));
  }

  void clear_suspicion(const std::string& id) {
    auto it = suspicions.find(id);
    if (it == suspicions.end()) return;
    suspicion_deadlines.erase({it->second.timer.deadline(), id});
    suspicions.erase(it);
  }

  void apply_self_claim(const MemberRecord& c, Time now, Ready& out) {
    MemberRecord self = table.self();
    if (superseded) {
      if (compare_claims(c, self) > 0 && proof_holds(c)) table.set_self(c, now);
      return;
    }
    if (c.instance > own_instance) {
      // Only the newer process itself (a certificate for our identity) can retire us.
      if (!proof_holds(c)) return;
      superseded = true;
      table.set_self(c, now);
      probe.active = false;
      relays.clear();
      queue.clear();
      out.events.push_back(MembershipEvent{MembershipEvent::Kind::kSuperseded, c});
      return;
    }
    if (c.instance < own_instance) {
      stats.dropped_stale++;
      return;
    }
    if (left) return;
    if (c.incarnation > self.incarnation) {
      // We never signed that incarnation: a forgery (without this rule one frame at incarnation
      // 2^64-1 would make the refutation wrap and lose).
      reject(ClaimRejection::kForgedSelf);
      return;
    }
    if (c.state == MemberState::kAlive) return;  // our echo
    if (c.incarnation < self.incarnation) {
      // An accusation we already refuted, but its sender evidently missed the refutation:
      // gossip our current record again (once per queue lifetime, so this cannot snowball).
      stats.dropped_stale++;
      if (c.state != MemberState::kAlive && queue.transmits(self_id) < 0) queue.push(self);
      return;
    }
    // Suspect/dead at our current incarnation: it must carry our own proof of that incarnation
    // (a Left we did not sign, or an altered address or meta, is a forgery), then we out-bid it.
    if (!same_signed_content(c, self) || self.incarnation == UINT64_MAX) {
      reject(ClaimRejection::kForgedSelf);
      return;
    }
    self.state = MemberState::kAlive;
    self.accuser.clear();
    republish_self(std::move(self), now);
    stats.refutations++;
    if (c.state == MemberState::kSuspect || c.state == MemberState::kDead) {
      awareness.apply_delta(1);
    }
  }

  // Our own accusation about `id` (kSuspect or kDead) at the incarnation we observed.
  void accuse(const std::string& id, MemberState state, uint64_t incarnation, Time now,
              Ready& out) {
    const Membership::Entry* e = table.find(id);
    if (e == nullptr || !is_live(e->record.state) || e->record.incarnation != incarnation) return;
    MemberRecord c = e->record;
    c.state = state;
    c.accuser = self_id;
    apply_claim(c, now, out);
  }

  // ---- message handling ----

  void on_ping(const Envelope& e, const Ping& p, Ready& out) {
    if (p.target != self_id) return;  // a different process at a recycled address
    auto [address, port] = reply_address(e.from, e.from_instance);
    send(out, e.from, address, port, Ack{p.seq}, true);
  }

  void on_indirect_ping(const Envelope& e, const IndirectPing& ip, Time now, Ready& out) {
    auto [address, port] = reply_address(e.from, e.from_instance);
    if (ip.target == self_id) {  // asked to probe ourselves: we are evidently up
      send(out, e.from, address, port, Ack{ip.seq}, true);
      return;
    }
    // Relay only to a live member at the address it signed: nobody makes us dial elsewhere.
    const Membership::Entry* t = table.find(ip.target);
    if (t == nullptr || !is_live(t->record.state) || t->record.address != ip.address ||
        t->record.port != ip.port) {
      stats.indirect_pings_refused++;
      return;
    }
    const uint32_t seq = alloc_seq();
    // The nack must reach the requester before its probe period ends (it sent the indirect
    // probes at probe_timeout and waits until probe_interval), so we give the target 80% of
    // our probe timeout, as Lifeguard does.
    const Duration wait = awareness.scale(Duration(config.probe_timeout)) * 4 / 5;
    relays[seq] = Relay{e.from, address, port, ip.seq, now + wait, ip.want_nack};
    send(out, ip.target, ip.address, ip.port, Ping{seq, ip.target}, true);
  }

  void on_ack(const Ack& a, Ready& out) {
    if (a.seq == 0) return;  // gossip carrier: only its updates matter
    if (probe.active && a.seq == probe.seq) {
      if (!probe.acked) stats.acks_received++;
      probe.acked = true;
      return;
    }
    auto it = relays.find(a.seq);
    if (it == relays.end()) return;
    const Relay r = std::move(it->second);
    relays.erase(it);
    send(out, r.requester, r.address, r.port, Ack{r.requester_seq}, true);
  }

  void on_nack(const Nack& n) {
    if (probe.active && n.seq == probe.seq) {
      probe.nacks++;
      stats.nacks_received++;
    }
  }

  void on_push_pull(const Envelope& e, const PushPull& pp, Time now, Ready& out) {
    merge_push_pull(pp,
                    [&](const MemberRecord& r) { apply_claim(r, now, out, r.identity == e.from); });
    if (pp.reply || superseded) return;
    auto [address, port] = reply_address(e.from, e.from_instance);
    send(out, e.from, address, port, make_push_pull(table, false, true), false);
  }

  // ---- timers ----

  void run_relays(Time now, Ready& out) {
    for (auto it = relays.begin(); it != relays.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      const Relay& r = it->second;
      if (r.want_nack) send(out, r.requester, r.address, r.port, Nack{r.requester_seq}, true);
      it = relays.erase(it);
    }
  }

  void run_suspicions(Time now, Ready& out) {
    while (!suspicion_deadlines.empty() && suspicion_deadlines.begin()->first <= now) {
      const std::string id = suspicion_deadlines.begin()->second;
      auto it = suspicions.find(id);
      if (it == suspicions.end()) {
        suspicion_deadlines.erase(suspicion_deadlines.begin());
        continue;
      }
      const uint64_t incarnation = it->second.incarnation;
      clear_suspicion(id);
      const Membership::Entry* e = table.find(id);
      if (e != nullptr && e->record.state == MemberState::kSuspect &&
          e->record.incarnation == incarnation) {
        stats.deaths_declared++;
        accuse(id, MemberState::kDead, incarnation, now, out);
      }
    }
  }

  void run_probe(Time now, Ready& out) {
    if (probe.active && !probe.acked && !probe.indirect_sent && now >= probe.direct_deadline) {
      send_indirect_probes(out);
      // A late tick still gives the indirect probes their share of the period.
      const Time end =
          now + awareness.scale(Duration(config.probe_interval - config.probe_timeout));
      next_probe = std::max(next_probe, end);
    }
    if (now < next_probe) return;
    if (probe.active) finish_probe(now, out);
    start_probe(now, out);
    next_probe = now + awareness.scale(Duration(config.probe_interval));
  }

  void send_indirect_probes(Ready& out) {
    probe.indirect_sent = true;
    const Membership::Entry* t = table.find(probe.target);
    if (t == nullptr || t->record.instance != probe.instance) return;
    const std::vector<std::string> relayers =
        pick_live(static_cast<size_t>(config.indirect_checks), &probe.target);
    for (const std::string& id : relayers) {
      send_to_member(
          out, id, IndirectPing{probe.seq, probe.target, t->record.address, t->record.port, true});
      stats.indirect_probes_sent++;
    }
    probe.expected_nacks = static_cast<int>(relayers.size());
  }

  void finish_probe(Time now, Ready& out) {
    probe.active = false;
    if (probe.acked) {
      awareness.apply_delta(-1);
      return;
    }
    if (probe.expected_nacks == 0 || probe.nacks < probe.expected_nacks) {
      awareness.apply_delta(1);
    }
    const Membership::Entry* e = table.find(probe.target);
    if (e == nullptr || !is_live(e->record.state) || e->record.instance != probe.instance) return;
    if (e->record.state == MemberState::kAlive) stats.suspicions_raised++;
    accuse(probe.target, MemberState::kSuspect, probe.incarnation, now, out);
  }

  void start_probe(Time now, Ready& out) {
    auto probeable = [this](const std::string& id) {
      const Membership::Entry* e = table.find(id);
      return e != nullptr && is_live(e->record.state) && id != self_id;
    };
    std::optional<std::string> target = probes.next(probeable);
    if (!target) {
      std::vector<std::string> ids;
      ids.reserve(table.live_peers().size());
      for (const std::string* id : table.live_peers()) ids.push_back(*id);
      std::sort(ids.begin(), ids.end());  // the shuffle alone decides the order
      probes.reset(std::move(ids), rng);
      target = probes.next(probeable);
    }
    if (!target) return;
    const Membership::Entry* e = table.find(*target);
    probe = Probe{};
    probe.active = true;
    probe.target = *target;
    probe.instance = e->record.instance;
    probe.incarnation = e->record.incarnation;
    probe.seq = alloc_seq();
    probe.direct_deadline = now + awareness.scale(Duration(config.probe_timeout));
    stats.probes_sent++;
    send(out, probe.target, e->record.address, e->record.port, Ping{probe.seq, probe.target}, true);
    // A ping to a member we suspect always carries that suspicion, so that the member can refute
    // it even when the broadcast queue has long given up on the news (e.g. our own outgoing
    // traffic was lost while it was queued).
    if (e->record.state == MemberState::kSuspect) {
      std::vector<MemberRecord>& updates = out.messages.back().envelope.updates;
      const bool carried = std::any_of(updates.begin(), updates.end(), [&](const MemberRecord& u) {
        return u.identity == probe.target;
      });
      if (!carried) {
        if (updates.size() >= config.max_piggyback_updates) updates.pop_back();
        updates.push_back(e->record);
        stats.updates_sent++;
      }
    }
  }

  void run_gossip(Time now, Ready& out) {
    if (now < next_gossip) return;
    next_gossip = now + Duration(config.gossip_interval);
    if (queue.empty()) return;
    for (const std::string& id : pick_live(static_cast<size_t>(config.gossip_nodes), nullptr)) {
      if (queue.empty()) break;
      send_to_member(out, id, Ack{0}, true);
    }
  }

  void run_push_pull(Time now, Ready& out) {
    if (now < next_push_pull) return;
    next_push_pull = now + push_pull_period();
    const std::vector<std::string> peer = pick_live(1, nullptr);
    if (peer.empty()) return;
    stats.push_pulls_started++;
    send_to_member(out, peer.front(), make_push_pull(table, false, false), false);
  }

  void contact_seeds(Time now, Ready& out) {
    next_seed_retry = now + Duration(config.seed_retry_interval);
    std::vector<std::string> pick = pending_seeds.items();
    if (pick.size() > static_cast<size_t>(config.seed_fanout)) {
      // Partial Fisher-Yates: the first seed_fanout slots become a random sample.
      for (size_t i = 0; i < static_cast<size_t>(config.seed_fanout); ++i) {
        std::swap(pick[i], pick[i + static_cast<size_t>(rng.below(pick.size() - i))]);
      }
      pick.resize(static_cast<size_t>(config.seed_fanout));
    }
    for (const std::string& id : pick) {
      const SeedAddress& a = seeds.at(id);
      stats.push_pulls_started++;
      send(out, id, a.address, a.port, make_push_pull(table, true, false), false);
    }
  }

  void run_seeds(Time now, Ready& out) {
    if (pending_seeds.empty() || now < next_seed_retry) return;
    contact_seeds(now, out);
  }

  void run_reaper(Time now, Ready& out) {
    while (!reap_queue.empty() && reap_queue.begin()->first <= now) {
      const std::string id = reap_queue.begin()->second;
      reap_queue.erase(reap_queue.begin());
      const Membership::Entry* e = table.find(id);
      if (e == nullptr || id == self_id || is_live(e->record.state)) continue;
      if (e->last_change + Duration(config.dead_retention) > now) continue;  // newer entry queued
      if (seeds.count(id) != 0) continue;  // re-queued by set_seeds when it leaves discovery
      MembershipEvent ev{MembershipEvent::Kind::kRemoved, e->record};
      table.erase(id);
      out.events.push_back(std::move(ev));
    }
  }

  Config config;
  std::string self_id;
  InstanceId own_instance;
  std::shared_ptr<ClaimAuthority> authority;
  Rng rng;
  Membership table;
  ProbeScheduler probes;
  Awareness awareness;
  BroadcastQueue queue;
  CoreStats stats;

  Probe probe;
  std::map<uint32_t, Relay> relays;
  std::map<std::string, ActiveSuspicion, std::less<>> suspicions;
  std::set<std::pair<Time, std::string>> suspicion_deadlines;
  std::map<std::string, SeedAddress, std::less<>> seeds;
  PickableSet pending_seeds;  // seeds not known alive: never heard from, dead, or left
  std::set<std::pair<Time, std::string>> reap_queue;

  Time next_probe{}, next_gossip{}, next_push_pull{}, next_seed_retry{};
  uint32_t next_seq = 1;
  bool left = false;
  bool superseded = false;
};

Core::Core(Config config, LocalMember local, std::shared_ptr<ClaimAuthority> authority,
           uint64_t rng_seed, Time now)
    : impl_(std::make_unique<Impl>(std::move(config), local, std::move(authority), rng_seed, now)) {}

Core::~Core() = default;
Core::Core(Core&&) noexcept = default;
Core& Core::operator=(Core&&) noexcept = default;

Ready Core::step(const Envelope& e, const std::string& from, Time now) {
  Impl& m = *impl_;
  Ready out;
  if (e.cluster != m.config.cluster_name) {
    m.stats.dropped_other_cluster++;
    return out;
  }
  if (e.version_min > e.version_max || e.version_max < kProtocolVersionMin ||
      e.version_min > kProtocolVersionMax) {
    m.stats.dropped_bad_version++;
    return out;
  }
  if (e.from != from || e.from.empty()) {
    m.stats.dropped_unauthenticated++;
    return out;
  }
  const size_t n = std::min(e.updates.size(), kMaxPiggybackUpdates);
  for (size_t i = 0; i < n; ++i) m.apply_claim(e.updates[i], now, out);
  if (m.superseded) {
    if (const auto* pp = std::get_if<PushPull>(&e.body)) m.on_push_pull(e, *pp, now, out);
    out.messages.clear();  // a superseded process says nothing
    return out;
  }
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, Ping>) {
          m.on_ping(e, body, out);
        } else if constexpr (std::is_same_v<T, IndirectPing>) {
          m.on_indirect_ping(e, body, now, out);
        } else if constexpr (std::is_same_v<T, Ack>) {
          m.on_ack(body, out);
        } else if constexpr (std::is_same_v<T, Nack>) {
          m.on_nack(body);
        } else {
          m.on_push_pull(e, body, now, out);
        }
      },
      e.body);
  if (m.superseded) out.messages.clear();
  return out;
}

Ready Core::tick(Time now) {
  Impl& m = *impl_;
  Ready out;
  if (m.superseded) {
    m.next_gossip = now + Duration(m.config.gossip_interval);  // keeps next_deadline() moving
    return out;
  }
  m.run_relays(now, out);
  m.run_suspicions(now, out);
  if (!m.left) m.run_probe(now, out);
  m.run_gossip(now, out);
  if (!m.left) {
    m.run_push_pull(now, out);
    m.run_seeds(now, out);
  }
  m.run_reaper(now, out);
  return out;
}

Ready Core::set_seeds(const std::vector<Seed>& seeds, Time now) {
  Impl& m = *impl_;
  Ready out;
  std::map<std::string, Impl::SeedAddress, std::less<>> next;
  for (const Seed& s : seeds) {
    if (s.identity.empty() || s.identity.size() > kMaxIdentityBytes || s.identity == m.self_id ||
        s.address.size() > kMaxAddressBytes) {
      continue;
    }
    next[s.identity] = Impl::SeedAddress{s.address, s.port};
  }
  // Seeds that left discovery: no longer retried; their tombstones may now expire.
  for (const auto& [id, addr] : m.seeds) {
    if (next.count(id) != 0) continue;
    m.pending_seeds.erase(id);
    const Membership::Entry* e = m.table.find(id);
    if (e != nullptr && !is_live(e->record.state)) {
      m.reap_queue.emplace(std::max(now, e->last_change + Duration(m.config.dead_retention)), id);
    }
  }
  bool added_pending = false;
  for (const auto& [id, addr] : next) {
    const Membership::Entry* e = m.table.find(id);
    // Unknown, dead, or left: a replacement pod under a left identity may not be able to discover
    // us itself (a missing RoleBinding), so we reach out to whatever discovery lists.
    const bool wants_contact = e == nullptr || e->record.state == MemberState::kDead ||
                               e->record.state == MemberState::kLeft;
    if (wants_contact && !m.pending_seeds.contains(id)) {
      m.pending_seeds.insert(id);
      added_pending = true;
    }
  }
  m.seeds = std::move(next);
  if (added_pending && !m.superseded && !m.left) m.contact_seeds(now, out);
  return out;
}

Ready Core::set_local_meta(std::string meta, Time now) {
  Impl& m = *impl_;
  Ready out;
  if (m.superseded || m.left || meta.size() > kMaxMetaBytes || meta == m.table.self().meta) {
    return out;
  }
  MemberRecord self = m.table.self();
  self.meta = std::move(meta);
  m.republish_self(std::move(self), now);
  return out;
}

Ready Core::refresh_signature(Time now) {
  Impl& m = *impl_;
  Ready out;
  if (m.superseded || m.left) return out;
  m.republish_self(m.table.self(), now);
  return out;
}

Ready Core::leave(Time now) {
  Impl& m = *impl_;
  Ready out;
  if (m.superseded || m.left) return out;
  m.left = true;
  m.probe.active = false;
  MemberRecord self = m.table.self();
  self.state = MemberState::kLeft;
  m.republish_self(std::move(self), now);
  self = m.table.self();
  std::vector<std::string> peers;
  for (const std::string* id : m.table.live_peers()) peers.push_back(*id);
  std::sort(peers.begin(), peers.end());
  for (const std::string& id : peers) {
    const Membership::Entry* e = m.table.find(id);
    Outgoing o;
    o.to = id;
    o.address = e->record.address;
    o.port = e->record.port;
    o.envelope.cluster = m.config.cluster_name;
    o.envelope.from = m.self_id;
    o.envelope.from_instance = m.own_instance;
    o.envelope.body = Ack{0};
    o.envelope.updates.push_back(self);
    m.stats.messages_sent++;
    m.stats.updates_sent++;
    out.messages.push_back(std::move(o));
  }
  return out;
}

Time Core::next_deadline() const {
  const Impl& m = *impl_;
  Time t = m.next_gossip;
  if (m.superseded) return t;
  if (!m.left) {
    t = std::min(t, m.next_probe);
    t = std::min(t, m.next_push_pull);
    if (!m.pending_seeds.empty()) t = std::min(t, m.next_seed_retry);
  }
  if (m.probe.active && !m.probe.acked && !m.probe.indirect_sent) {
    t = std::min(t, m.probe.direct_deadline);
  }
  for (const auto& [seq, r] : m.relays) t = std::min(t, r.deadline);
  if (!m.suspicion_deadlines.empty()) t = std::min(t, m.suspicion_deadlines.begin()->first);
  if (!m.reap_queue.empty()) t = std::min(t, m.reap_queue.begin()->first);
  return t;
}

std::vector<MemberView> Core::members() const {
  std::vector<MemberView> out;
  out.reserve(impl_->table.size());
  for (const Membership::Entry* e : impl_->table.sorted_entries()) {
    out.push_back(MemberView{e->record, e->last_change, e->record.identity == impl_->self_id});
  }
  return out;
}

uint32_t Core::alive_count() const { return impl_->alive_count(); }
uint32_t Core::confirmed_alive_count() const {
  uint32_t n = impl_->table.self().state == MemberState::kAlive ? 1u : 0u;
  for (const std::string* id : impl_->table.live_peers()) {
    const Membership::Entry* e = impl_->table.find(*id);
    n += e != nullptr && e->record.state == MemberState::kAlive;
  }
  return n;
}
const CoreStats& Core::stats() const { return impl_->stats; }
const Config& Core::config() const { return impl_->config; }
int Core::awareness() const { return impl_->awareness.score(); }

}  // namespace esk8s::gossip
