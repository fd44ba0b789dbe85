// gossip::sim::Simulator — an in-process network with virtual time that drives N gossip::Core
// instances deterministically from one seed (the etcd/raft "network" test harness idea).
//
// Model:
//   * Every node has an identity (stable, like a pod's DNS name), an address:port (changes on
//     restart) and a Core. A message is delivered after base_latency + uniform[0, jitter] unless
//     it is lost (global loss, per-link loss), blocked by a partition (nodes in different groups)
//     or by a one-way cut (a -> b dropped, b -> a not).
//   * Addressing follows core.h: a message with an address goes to whatever process listens
//     there, and is dropped when that process's identity is not `to` (the TLS SAN check) or
//     nobody listens (crashed). A message with an empty address is a reply on the connection
//     the request came on (the sender of the envelope being processed), or, from a timer, on
//     any connection to the current process of `to`.
//   * pause(i): the node neither ticks nor processes messages until resume(i). Messages sent to
//     it meanwhile are queued like an OS socket buffer would (SimOptions::queue_while_paused,
//     default) and delivered, in order, at resume before its first tick; or dropped.
//   * crash(i): the process is gone (messages to its address are dropped); the identity stays
//     in discovery (a crashed pod stays in the EndpointSlice until Kubernetes notices).
//     restart(i): a new Core under the same identity with a new (later) instance id and a new
//     address; by default every running node gets the updated discovery set.
//   * Seeds are given to each node like discovery would (seed_all / set_seeds).
//   * Time is a priority queue of (time, sequence) events; nothing sleeps.
//
// Cost: O(log E) per message plus the cores' own work; events are recorded only when
// SimOptions::record_events (the per-node counters always are).
//
// Thread-safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "gossip/core.h"
#include "gossip/rng.h"

namespace esk8s::gossip::sim {

// A deterministic stand-in for the production TlsClaimAuthority (gossip/tls_claims.h): a
// member's credential is its identity and its signature an 8-byte keyed hash of the signed bytes
// under a secret derived from (world key, identity). A node's authority signs only for its own
// identity, so the protocol sees exactly the production rule "a member speaks only for itself";
// a test builds a valid record for another identity only on purpose (signature_for), to model a
// stolen key. Not cryptography: it stands in for it inside one test process.
class SimAuthority final : public ClaimAuthority {
 public:
  SimAuthority(uint64_t world_key, std::string identity)
      : world_key_(world_key), identity_(std::move(identity)) {}
  static std::string signature_for(uint64_t world_key, std::string_view identity,
                                   std::string_view bytes);
  Proof sign(std::string_view bytes) override;
  Verdict verify(std::string_view identity, std::string_view bytes, std::string_view credential,
                 std::string_view signature) override;

 private:
  uint64_t world_key_;
  std::string identity_;
};

// `r` with a valid proof made as its own identity in `cluster` (for tests that craft records).
MemberRecord sign_as_owner(uint64_t world_key, std::string_view cluster, MemberRecord r);

// A rough encoded size of an envelope (the default size hook).
size_t estimate_size(const Envelope& e);

struct SimOptions {
  Config config = Config::local();
  uint64_t seed = 1;
  Duration base_latency = std::chrono::microseconds(500);
  Duration jitter = std::chrono::microseconds(1000);
  double loss = 0.0;  // global packet loss probability
  bool queue_while_paused = true;
  bool record_events = true;
  // How often run_until() evaluates its predicate (virtual time).
  Duration poll = std::chrono::milliseconds(10);
  std::function<size_t(const Envelope&)> size_of;  // empty: estimate_size
  uint16_t port = 7946;
};

struct NodeCounters {
  uint64_t messages_sent = 0, messages_received = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;
  uint64_t messages_dropped = 0;  // sent by this node but lost/blocked/unroutable
  uint64_t events = 0;
  int max_awareness = 0;
};

struct ObservedEvent {
  Time at;
  size_t node;  // the observer
  MembershipEvent event;
};

struct RunResult {
  bool satisfied = false;
  Time at{};  // when the predicate was first seen true (or when the run stopped)
};

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Starts a node now (not seeded yet: call seed_all() or set_seeds()). Returns its index.
  size_t add_node(std::string identity, std::string meta = {});
  // Starts `n` nodes "node-<i>" and seeds every node with every other (max_seeds random ones).
  void add_cluster(size_t n, size_t max_seeds = SIZE_MAX);
  // Gives every running node the current discovery set (every node ever added, at its current
  // address), at most `max_seeds` of them chosen at random per node.
  void seed_all(size_t max_seeds = SIZE_MAX);
  void set_seeds(size_t node, const std::vector<Seed>& seeds);

  void crash(size_t node);
  // New instance id, new address, same identity. Re-seeds everyone when `update_discovery`;
  // the node itself is seeded with the discovery set unless `self_discovers` is false (a pod
  // whose own discovery finds nobody, e.g. for lack of RBAC).
  void restart(size_t node, bool update_discovery = true, bool self_discovers = true);
  void pause(size_t node);
  void resume(size_t node);
  void leave(size_t node);
  void set_meta(size_t node, const std::string& meta);

  // Nodes in different groups cannot talk; nodes not listed form one more group.
  void partition(const std::vector<std::vector<size_t>>& groups);
  void heal();
  // Messages from `from` to `to` are dropped (not the other direction).
  void cut(size_t from, size_t to);
  void uncut(size_t from, size_t to);
  void set_link_loss(size_t from, size_t to, double p);
  void set_loss(double p) { options_.loss = p; }

  // Hands `e` to the node as if it had arrived on a connection authenticated as `from`; what the
  // core answers is routed normally.
  void inject(size_t node, const Envelope& e, const std::string& from);

  // The key every node's SimAuthority derives its secret from (SimOptions::seed).
  uint64_t world_key() const { return options_.seed; }
  Time now() const { return now_; }
  Time start() const { return start_; }
  void run_for(Duration d);
  RunResult run_until(const std::function<bool()>& predicate, Duration max);

  size_t size() const { return nodes_.size(); }
  bool running(size_t node) const { return nodes_[node].core.has_value(); }
  bool paused(size_t node) const { return nodes_[node].paused; }
  Core& core(size_t node) { return *nodes_[node].core; }
  const Core& core(size_t node) const { return *nodes_[node].core; }
  const std::string& identity(size_t node) const { return nodes_[node].identity; }
  const std::string& address(size_t node) const { return nodes_[node].address; }
  InstanceId instance(size_t node) const { return nodes_[node].instance; }
  const NodeCounters& counters(size_t node) const { return nodes_[node].counters; }
  const std::vector<ObservedEvent>& events() const { return events_; }
  void clear_events() { events_.clear(); }
  // Called for every event (also when record_events is off).
  void on_event(std::function<void(const ObservedEvent&)> f) { on_event_ = std::move(f); }

  // What `observer` believes about `identity` (O(N): copies the observer's table).
  std::optional<MemberRecord> view(size_t observer, const std::string& identity) const;
  // Every running, unpaused node sees every node in `members` (indices) in state `state`, at its
  // current instance. O(N * |members|).
  bool all_see(const std::vector<size_t>& observers, const std::vector<size_t>& members,
               MemberState state) const;
  // Running nodes.
  std::vector<size_t> running_nodes() const;

 private:
  struct Message {
    size_t from;
    uint64_t from_generation;
    std::shared_ptr<const Envelope> envelope;
  };
  struct Node {
    std::string identity;
    std::string address;
    InstanceId instance;
    uint64_t generation = 0;
    std::optional<Core> core;
    bool paused = false;
    std::deque<Message> inbox;  // while paused
    Time tick_at{};
    bool tick_pending = false;
    std::vector<Seed> seeds;
    std::string meta;
    NodeCounters counters;
  };
  enum class Kind : uint8_t { kDeliver, kTick };
  struct QueuedEvent {
    Time at;
    uint64_t seq;
    Kind kind;
    size_t node;
    uint64_t generation;
    Message message;
    bool operator>(const QueuedEvent& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void start_core(size_t node);
  std::vector<Seed> discovery_set(size_t node, size_t max_seeds);
  // Routes what node `node` produced. `reply_to` is the sender of the envelope being processed
  // (for empty-address replies), or npos.
  void dispatch(size_t node, Ready ready, size_t reply_to, uint64_t reply_generation);
  void send(size_t from, Outgoing o, size_t reply_to, uint64_t reply_generation);
  void deliver(size_t node, const Message& m);
  void schedule_tick(size_t node);
  void process(const QueuedEvent& ev);
  size_t size_of(const Envelope& e) const;
  bool blocked(size_t from, size_t to);

  SimOptions options_;
  Rng rng_;
  Time start_;
  Time now_;
  uint64_t next_seq_ = 0;
  uint64_t next_address_ = 1;
  std::vector<Node> nodes_;
  std::map<std::pair<std::string, uint16_t>, size_t> by_address_;
  std::map<std::string, size_t> by_identity_;
  std::priority_queue<QueuedEvent, std::vector<QueuedEvent>, std::greater<>> queue_;
  std::vector<int> group_;
  std::set<std::pair<size_t, size_t>> cuts_;
  std::map<std::pair<size_t, size_t>, double> link_loss_;
  std::vector<ObservedEvent> events_;
  std::function<void(const ObservedEvent&)> on_event_;
  // Guards against a core whose next_deadline() does not advance.
  Time last_tick_time_{};
  size_t ticks_at_same_time_ = 0;
};

}  // namespace esk8s::gossip::sim
