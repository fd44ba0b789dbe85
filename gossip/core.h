// gossip::Core — the SWIM/Lifeguard membership state machine, sans-IO (etcd/raft style). It owns
// the membership table of one node and decides what to send and when; a driver (transport.h, or
// the simulator in tests) moves the messages and feeds time in.
//
//   step(envelope, authenticated_from, now)  a message arrived
//   tick(now)                                time passed (call at next_deadline() or later)
//   set_seeds(peers, now)                    discovery's current peer set
//   set_local_meta(meta, now)                the host's status changed
//   leave(now)                               graceful leave (announce, then stop probing)
//   refresh_signature(now)                   our credential changed: re-sign (incarnation + 1)
// each -> Ready { messages to send, membership events }.
//
// Choices this implementation makes within the protocol (see the .cc files per concern):
//   * Gossip carrier: every gossip_interval the queued updates are sent to gossip_nodes random
//     live members as an Ack with seq 0 (no probe ever uses seq 0, so receivers only merge its
//     updates). leave() uses the same carrier, one per live member. No new Body type.
//   * Superseded: when a claim from a newer instance of OUR identity arrives, kSuperseded is
//     emitted once and the core goes quiet: it sends nothing at all any more (no acks, no
//     probes, no refutations, no gossip) and only keeps merging what it receives, so the
//     driver can still show the table while it shuts the process down. The self row then
//     holds the newer instance's record.
//   * Claims about unknown identities are accepted only when alive (tombstones are never
//     re-learned, so removed members do not come back through push-pull).
//   * Seeds that are not known alive (never heard from, declared dead, or left) get a join push-pull
//     every seed_retry_interval, seed_fanout random ones at a time; that is also how the sides
//     of a healed partition find each other.
//   * Push-pull interval grows with the cluster as memberlist's: push_pull_interval *
//     (ceil(log2(N / 32)) + 1) for N > 32.
//   * No events are emitted about the local member itself, except kSuperseded.
//   * Every record is a signed self-claim (claim.h): a claim is applied only with its member's
//     valid proof, verified once (a record carrying a proof already verified is not checked
//     again); identities that are not lower-case DNS names are dropped first, and new identities
//     beyond Config::max_members are dropped. Each refusal is counted by reason.
//   * IndirectPing is relayed only to a live member at the address it signed.
//
// Same state + same inputs (including the RNG seed) = same outputs. No sockets, threads, clocks
// or global randomness inside.
//
// Thread-safety: none; a Core is used from one thread (the driver's strand) at a time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gossip/claim.h"
#include "gossip/config.h"
#include "gossip/message.h"

namespace esk8s::gossip {

// Who this node is.
struct LocalMember {
  std::string identity;
  InstanceId instance;
  std::string address;  // advertised gossip address
  uint16_t port = 0;
  std::string meta;  // initial host metadata (may be empty)
};

// A peer discovery knows about: where to reach an identity that may not have spoken yet.
struct Seed {
  std::string identity;
  std::string address;
  uint16_t port = 0;
};

// A message to send. The driver connects to address:port and must authenticate the peer as
// `to` (TLS certificate SAN) before handing the bytes over.
//
// Replies (Ack, Nack, the PushPull reply) are addressed to the sender's identity. When the core
// does not know where that identity listens — it is not in the table yet, or the envelope came
// from a different instance than the one the table holds (e.g. a stale process) — `address` is
// empty and port 0: the driver then answers on the connection the request came on (or another
// open connection authenticated as `to`), and drops the message if there is none.
struct Outgoing {
  std::string to;
  std::string address;
  uint16_t port = 0;
  Envelope envelope;
};

struct MembershipEvent {
  enum class Kind : uint8_t {
    kJoined,      // first seen alive (or alive again after dead/left, or a new instance)
    kUpdated,     // alive member changed address, incarnation or meta
    kSuspected,   // alive -> suspect
    kRecovered,   // suspect -> alive (refuted)
    kDied,        // -> dead
    kLeft,        // -> left (graceful)
    kRemoved,     // dropped from the table (dead/left past retention and no longer seeded)
    kSuperseded,  // a newer instance claims OUR identity: this process is stale; stop it
  };
  Kind kind;
  MemberRecord member;  // the member after the change
};
const char* to_string(MembershipEvent::Kind k);

struct Ready {
  std::vector<Outgoing> messages;
  std::vector<MembershipEvent> events;
};

// What the core counted (monotonic), for /metrics.
struct CoreStats {
  uint64_t dropped_other_cluster = 0;
  uint64_t dropped_bad_version = 0;
  uint64_t dropped_unauthenticated = 0;  // envelope.from != the authenticated identity
  uint64_t dropped_stale = 0;            // claims that lost to what we already knew
  uint64_t dropped_invalid_records = 0;  // records breaking message.h limits (empty identity...)
  // Claims refused, indexed by ClaimRejection (esk8s_gossip_claims_rejected_total{reason}).
  std::array<uint64_t, kAllClaimRejections.size()> claims_rejected{};
  uint64_t indirect_pings_refused = 0;  // target unknown, not live, or not at its signed address
  uint64_t probes_sent = 0, indirect_probes_sent = 0, acks_received = 0, nacks_received = 0;
  uint64_t suspicions_raised = 0, refutations = 0, deaths_declared = 0;
  uint64_t push_pulls_started = 0;
  uint64_t messages_sent = 0, updates_sent = 0;
};

// One row of the membership table (read-only view for the driver and the health endpoints).
struct MemberView {
  MemberRecord record;
  Time last_change{};  // when this node last saw the state change
  bool is_self = false;
};

class Core {
 public:
  // REQUIRES: config.validate() is ok; local.identity non-empty; local.instance non-zero;
  // authority non-null (it signs our records and verifies everyone's).
  Core(Config config, LocalMember local, std::shared_ptr<ClaimAuthority> authority,
       uint64_t rng_seed, Time now);
  ~Core();
  Core(Core&&) noexcept;
  Core& operator=(Core&&) noexcept;

  // `from` is the identity the transport authenticated for the connection the envelope came on.
  Ready step(const Envelope& e, const std::string& from, Time now);
  Ready tick(Time now);
  // Discovery's full current peer set (replaces the previous one; the local identity is ignored).
  // New seeds are contacted with a join push-pull; a seed that disappears from discovery is NOT
  // declared dead by that alone (failure detection decides).
  Ready set_seeds(const std::vector<Seed>& seeds, Time now);
  // REQUIRES: meta.size() <= kMaxMetaBytes (larger meta is ignored). No-op when unchanged.
  Ready set_local_meta(std::string meta, Time now);
  // Announces our departure (kLeft with a bumped incarnation) to every alive member; afterwards
  // the core answers pings but starts no probes.
  Ready leave(Time now);
  // The authority's credential changed (certificate rotation): our record is signed again at
  // incarnation + 1 and gossiped, so peers hold a proof made with the current certificate.
  Ready refresh_signature(Time now);

  // When tick() must next be called (never later than one probe interval from now).
  Time next_deadline() const;

  // Every member this node knows, itself included, sorted by identity.
  std::vector<MemberView> members() const;
  // Alive or suspect members (suspects are still counted as alive until declared dead), self
  // included. Used with QuorumView.
  uint32_t alive_count() const;
  // Members in state alive only (not suspect), self included: what a decision to take a member
  // away must count, since a suspect may be dead already.
  uint32_t confirmed_alive_count() const;
  const CoreStats& stats() const;
  const Config& config() const;
  // Current local-health multiplier (Lifeguard awareness), 0 = healthy.
  int awareness() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace esk8s::gossip
