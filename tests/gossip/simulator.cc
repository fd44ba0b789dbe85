#include "simulator.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace esk8s::gossip::sim {

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);
// Unix milliseconds of the simulated start; instance ids are built from it.
constexpr uint64_t kEpochUnixMs = 1'700'000'000'000ULL;

size_t record_size(const MemberRecord& r) {
  return 40 + r.identity.size() + r.address.size() + r.meta.size() + r.accuser.size() +
         r.credential.size() + r.signature.size();
}

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t keyed_hash(uint64_t key, std::string_view bytes) {
  uint64_t h = mix(key);
  for (unsigned char c : bytes) h = mix(h ^ c);
  return h;
}

}  // namespace

std::string SimAuthority::signature_for(uint64_t world_key, std::string_view identity,
                                        std::string_view bytes) {
  const uint64_t h = keyed_hash(keyed_hash(world_key, identity), bytes);
  std::string sig(8, '\0');
  for (int i = 0; i < 8; ++i) sig[static_cast<size_t>(i)] = static_cast<char>(h >> (8 * i));
  return sig;
}

ClaimAuthority::Proof SimAuthority::sign(std::string_view bytes) {
  return Proof{identity_, signature_for(world_key_, identity_, bytes)};
}

ClaimAuthority::Verdict SimAuthority::verify(std::string_view identity, std::string_view bytes,
                                             std::string_view credential,
                                             std::string_view signature) {
  Verdict v;
  if (credential.empty() || signature.empty()) {
    v.reason = ClaimRejection::kBadSignature;
    v.detail = "no proof";
  } else if (credential != identity) {
    v.reason = ClaimRejection::kNotAllowed;
    v.detail = "credential of another identity";
  } else if (signature != signature_for(world_key_, identity, bytes)) {
    v.reason = ClaimRejection::kBadSignature;
    v.detail = "signature does not verify";
  } else {
    v.ok = true;
  }
  return v;
}

MemberRecord sign_as_owner(uint64_t world_key, std::string_view cluster, MemberRecord r) {
  r.credential = r.identity;
  r.signature = SimAuthority::signature_for(world_key, r.identity, signed_claim_bytes(cluster, r));
  return r;
}

size_t estimate_size(const Envelope& e) {
  size_t n = 48 + e.cluster.size() + e.from.size();
  for (const MemberRecord& r : e.updates) n += record_size(r);
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, Ping>) {
          n += 8 + b.target.size();
        } else if constexpr (std::is_same_v<T, IndirectPing>) {
          n += 16 + b.target.size() + b.address.size();
        } else if constexpr (std::is_same_v<T, PushPull>) {
          n += 8;
          for (const MemberRecord& r : b.members) n += record_size(r);
        } else {
          n += 8;
        }
      },
      e.body);
  return n;
}

Simulator::Simulator(SimOptions options)
    : options_(std::move(options)),
      rng_(options_.seed),
      start_(Time(std::chrono::hours(1))),
      now_(start_) {}

Simulator::~Simulator() = default;

size_t Simulator::size_of(const Envelope& e) const {
  return options_.size_of ? options_.size_of(e) : estimate_size(e);
}

size_t Simulator::add_node(std::string identity, std::string meta) {
  const size_t i = nodes_.size();
  nodes_.emplace_back();
  by_identity_[identity] = i;
  nodes_[i].identity = std::move(identity);
  nodes_[i].meta = std::move(meta);
  group_.push_back(0);
  start_core(i);
  return i;
}

void Simulator::add_cluster(size_t n, size_t max_seeds) {
  for (size_t i = 0; i < n; ++i) add_node("node-" + std::to_string(nodes_.size()));
  seed_all(max_seeds);
}

void Simulator::start_core(size_t i) {
  Node& n = nodes_[i];
  n.generation++;
  const uint64_t a = next_address_++;
  n.address = "10." + std::to_string((a >> 16) & 0xFF) + "." + std::to_string((a >> 8) & 0xFF) +
              "." + std::to_string(a & 0xFF);
  by_address_[{n.address, options_.port}] = i;
  const uint64_t elapsed_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now_ - start_).count());
  uint64_t start_ms = kEpochUnixMs + elapsed_ms;
  // A restart is always a later start than the previous instance.
  if (!n.instance.is_zero()) start_ms = std::max(start_ms, (n.instance.hi >> 16) + 1);
  n.instance = InstanceId::make(start_ms, rng_.next(), rng_.next());
  LocalMember local{n.identity, n.instance, n.address, options_.port, n.meta};
  n.core.emplace(options_.config, local, std::make_shared<SimAuthority>(world_key(), n.identity),
                 rng_.next(), now_);
  n.paused = false;
  n.inbox.clear();
  n.tick_pending = false;
  schedule_tick(i);
}

std::vector<Seed> Simulator::discovery_set(size_t node, size_t max_seeds) {
  std::vector<Seed> all;
  all.reserve(nodes_.size());
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (j == node) continue;
    all.push_back(Seed{nodes_[j].identity, nodes_[j].address, options_.port});
  }
  if (all.size() > max_seeds) {
    for (size_t k = 0; k < max_seeds; ++k) {
      std::swap(all[k], all[k + static_cast<size_t>(rng_.below(all.size() - k))]);
    }
    all.resize(max_seeds);
  }
  return all;
}

void Simulator::seed_all(size_t max_seeds) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (running(i)) set_seeds(i, discovery_set(i, max_seeds));
  }
}

void Simulator::set_seeds(size_t i, const std::vector<Seed>& seeds) {
  nodes_[i].seeds = seeds;
  if (!running(i) || nodes_[i].paused) return;
  dispatch(i, core(i).set_seeds(seeds, now_), kNone, 0);
  schedule_tick(i);
}

void Simulator::crash(size_t i) {
  Node& n = nodes_[i];
  if (!n.core) return;
  by_address_.erase({n.address, options_.port});
  n.core.reset();
  n.inbox.clear();
  n.paused = false;
  n.tick_pending = false;
}

void Simulator::restart(size_t i, bool update_discovery, bool self_discovers) {
  crash(i);
  start_core(i);
  if (update_discovery && self_discovers) {
    seed_all();
    return;
  }
  if (update_discovery) {
    for (size_t j : running_nodes()) {
      if (j != i) set_seeds(j, discovery_set(j, SIZE_MAX));
    }
  }
  if (self_discovers) set_seeds(i, discovery_set(i, SIZE_MAX));
}

void Simulator::pause(size_t i) { nodes_[i].paused = true; }

void Simulator::resume(size_t i) {
  Node& n = nodes_[i];
  if (!n.paused) return;
  n.paused = false;
  std::deque<Message> inbox;
  inbox.swap(n.inbox);
  for (const Message& m : inbox) {
    if (!running(i) || nodes_[i].paused) break;
    deliver(i, m);
  }
  if (running(i)) {
    nodes_[i].tick_pending = false;
    schedule_tick(i);
  }
}

void Simulator::leave(size_t i) {
  dispatch(i, core(i).leave(now_), kNone, 0);
  schedule_tick(i);
}

void Simulator::set_meta(size_t i, const std::string& meta) {
  nodes_[i].meta = meta;
  dispatch(i, core(i).set_local_meta(meta, now_), kNone, 0);
  schedule_tick(i);
}

void Simulator::partition(const std::vector<std::vector<size_t>>& groups) {
  std::fill(group_.begin(), group_.end(), 0);
  int g = 1;
  for (const auto& members : groups) {
    for (size_t i : members) group_[i] = g;
    ++g;
  }
}

void Simulator::heal() { std::fill(group_.begin(), group_.end(), 0); }
void Simulator::cut(size_t from, size_t to) { cuts_.insert({from, to}); }
void Simulator::uncut(size_t from, size_t to) { cuts_.erase({from, to}); }
void Simulator::set_link_loss(size_t from, size_t to, double p) { link_loss_[{from, to}] = p; }

void Simulator::inject(size_t i, const Envelope& e, const std::string& from) {
  dispatch(i, core(i).step(e, from, now_), kNone, 0);
  schedule_tick(i);
}

bool Simulator::blocked(size_t from, size_t to) {
  if (group_[from] != group_[to]) return true;
  if (cuts_.count({from, to}) != 0) return true;
  double p = options_.loss;
  if (!link_loss_.empty()) {
    auto it = link_loss_.find({from, to});
    if (it != link_loss_.end()) p = std::max(p, it->second);
  }
  return p > 0 && rng_.unit() < p;
}

void Simulator::dispatch(size_t i, Ready ready, size_t reply_to, uint64_t reply_generation) {
  Node& n = nodes_[i];
  for (MembershipEvent& ev : ready.events) {
    n.counters.events++;
    ObservedEvent oe{now_, i, std::move(ev)};
    if (on_event_) on_event_(oe);
    if (options_.record_events) events_.push_back(std::move(oe));
  }
  if (n.core) n.counters.max_awareness = std::max(n.counters.max_awareness, n.core->awareness());
  for (Outgoing& o : ready.messages) send(i, std::move(o), reply_to, reply_generation);
}

void Simulator::send(size_t from, Outgoing o, size_t reply_to, uint64_t reply_generation) {
  Node& src = nodes_[from];
  const size_t bytes = size_of(o.envelope);
  src.counters.messages_sent++;
  src.counters.bytes_sent += bytes;
  size_t to = kNone;
  uint64_t generation = 0;
  if (!o.address.empty()) {
    auto it = by_address_.find({o.address, o.port});
    if (it != by_address_.end() && nodes_[it->second].identity == o.to) {
      to = it->second;
      generation = nodes_[to].generation;
    }
  } else if (reply_to != kNone && nodes_[reply_to].identity == o.to) {
    to = reply_to;  // on the connection the request came on
    generation = reply_generation;
  } else if (reply_to == kNone) {
    auto it = by_identity_.find(o.to);
    if (it != by_identity_.end() && running(it->second)) {
      to = it->second;
      generation = nodes_[to].generation;
    }
  }
  if (to == kNone || to == from || blocked(from, to)) {
    src.counters.messages_dropped++;
    return;
  }
  Duration latency = options_.base_latency;
  if (options_.jitter.count() > 0) {
    latency += Duration(
        static_cast<Duration::rep>(rng_.below(static_cast<uint64_t>(options_.jitter.count()) + 1)));
  }
  QueuedEvent ev{
      now_ + latency,
      next_seq_++,
      Kind::kDeliver,
      to,
      generation,
      Message{from, src.generation, std::make_shared<const Envelope>(std::move(o.envelope))}};
  queue_.push(std::move(ev));
}

void Simulator::deliver(size_t i, const Message& m) {
  Node& n = nodes_[i];
  n.counters.messages_received++;
  n.counters.bytes_received += size_of(*m.envelope);
  Ready r = n.core->step(*m.envelope, nodes_[m.from].identity, now_);
  dispatch(i, std::move(r), m.from, m.from_generation);
  schedule_tick(i);
}

void Simulator::schedule_tick(size_t i) {
  Node& n = nodes_[i];
  if (!n.core || n.paused) return;
  const Time at = std::max(n.core->next_deadline(), now_);
  if (n.tick_pending && n.tick_at <= at) return;
  n.tick_at = at;
  n.tick_pending = true;
  queue_.push(QueuedEvent{at, next_seq_++, Kind::kTick, i, n.generation, Message{}});
}

void Simulator::process(const QueuedEvent& ev) {
  Node& n = nodes_[ev.node];
  if (!n.core || ev.generation != n.generation) return;  // crashed or restarted since
  if (ev.kind == Kind::kDeliver) {
    if (n.paused) {
      if (options_.queue_while_paused) n.inbox.push_back(ev.message);
      return;
    }
    deliver(ev.node, ev.message);
    return;
  }
  if (n.paused || !n.tick_pending || ev.at != n.tick_at) return;  // superseded tick
  if (ev.at == last_tick_time_) {
    if (++ticks_at_same_time_ > 100000) {
      throw std::logic_error("gossip sim: next_deadline() does not advance");
    }
  } else {
    last_tick_time_ = ev.at;
    ticks_at_same_time_ = 0;
  }
  n.tick_pending = false;
  dispatch(ev.node, n.core->tick(now_), kNone, 0);
  schedule_tick(ev.node);
}

void Simulator::run_for(Duration d) {
  const Time end = now_ + d;
  while (!queue_.empty() && queue_.top().at <= end) {
    QueuedEvent ev = queue_.top();
    queue_.pop();
    now_ = ev.at;
    process(ev);
  }
  now_ = end;
}

RunResult Simulator::run_until(const std::function<bool()>& predicate, Duration max) {
  const Time end = now_ + max;
  while (true) {
    if (predicate()) return RunResult{true, now_};
    if (now_ >= end) return RunResult{false, now_};
    run_for(std::min(options_.poll, end - now_));
  }
}

std::optional<MemberRecord> Simulator::view(size_t observer, const std::string& identity) const {
  for (const MemberView& v : core(observer).members()) {
    if (v.record.identity == identity) return v.record;
  }
  return std::nullopt;
}

bool Simulator::all_see(const std::vector<size_t>& observers, const std::vector<size_t>& members,
                        MemberState state) const {
  for (size_t o : observers) {
    if (!running(o) || nodes_[o].paused) continue;
    const std::vector<MemberView> table = core(o).members();
    for (size_t m : members) {
      if (m == o) continue;
      auto it = std::lower_bound(
          table.begin(), table.end(), nodes_[m].identity,
          [](const MemberView& v, const std::string& id) { return v.record.identity < id; });
      if (it == table.end() || it->record.identity != nodes_[m].identity) return false;
      if (it->record.state != state || it->record.instance != nodes_[m].instance) return false;
    }
  }
  return true;
}

std::vector<size_t> Simulator::running_nodes() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (running(i)) out.push_back(i);
  }
  return out;
}

}  // namespace esk8s::gossip::sim
