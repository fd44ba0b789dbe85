// gossip::Config — every tunable of the SWIM/Lifeguard core, with three presets as named
// constructors (hashicorp/memberlist style): Config::lan() for a Kubernetes cluster network,
// Config::local() for one host / tests (fast), Config::wan() for clusters stretched over regions.
// A variant starts from a preset and overrides a few fields; validate() then rejects impossible
// combinations with a sentence naming the fields.
//
// N below is the number of members this node currently counts alive (self included).
//
// Thread-safety: a plain value.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "common/status.h"

namespace esk8s::gossip {

struct Config {
  // Every envelope carries it; envelopes from another cluster are dropped and counted. A DNS
  // label (1..63 bytes). Default "esk8s" in every preset.
  std::string cluster_name = "esk8s";

  // Time between two probes (one member probed per period, in randomized round-robin order), and
  // the time a probe waits for any ack before the target is suspected. Scaled by the local health
  // multiplier (awareness + 1). lan 1 s, local 200 ms, wan 5 s. Shorter detects failures sooner
  // at the cost of more messages (one ping per member per period, cluster-wide).
  std::chrono::milliseconds probe_interval{1000};

  // How long a direct ping waits for its ack before indirect probes are sent; a relay waits
  // 80% of it before it answers a Nack (so that the nack arrives within the probe period). Scaled
  // by (awareness + 1). lan 500 ms, local 100 ms, wan 3 s. Should be above the 99th-percentile
  // round trip; must be < probe_interval so that the indirect probes have time to answer.
  std::chrono::milliseconds probe_timeout{500};

  // k: members asked to probe the target indirectly after a direct ping timed out. Default 3 in
  // every preset. More makes a false suspicion from a single bad link less likely, at k extra
  // messages per failed probe.
  int indirect_checks = 3;

  // Suspicion timeout floor: min = suspicion_mult * max(1, log10(N)) * probe_interval.
  // lan 4, local 3, wan 6. Higher gives a suspected member longer to refute (fewer false deaths)
  // and detects real deaths later.
  int suspicion_mult = 4;

  // Suspicion timeout ceiling: max = suspicion_max_timeout_mult * min. A fresh suspicion starts at
  // max and shrinks toward min as independent accusers confirm it (Lifeguard):
  //   timeout = max(min, max - (max - min) * log(C + 1) / log(K + 1)),
  //   C = confirmations so far, K = min(indirect_checks, N - 2) (K <= 0: min at once).
  // Default 6 in every preset.
  int suspicion_max_timeout_mult = 6;

  // A queued update is piggybacked retransmit_mult * ceil(log10(N + 1)) times before it is
  // dropped from the broadcast queue. lan 4, local 3, wan 4. Higher makes the epidemic reach
  // everyone with more certainty at the cost of bandwidth.
  int retransmit_mult = 4;

  // Every gossip_interval the pending updates are sent to gossip_nodes random live members (in
  // addition to piggybacking on probes). lan 200 ms / 3, local 50 ms / 3, wan 500 ms / 4.
  // Shorter or more spreads news faster; the queue bounds the total cost.
  std::chrono::milliseconds gossip_interval{200};
  int gossip_nodes = 3;

  // Full-state anti-entropy with one random live member. lan 30 s, local 5 s, wan 60 s. Each
  // exchange costs O(N) records both ways; it repairs whatever the epidemic missed.
  std::chrono::milliseconds push_pull_interval{30000};

  // How often seeds (discovery peers) that are not known alive (never heard from, or declared
  // dead) are sent a join push-pull again; at most seed_fanout random such seeds per attempt.
  // lan 2 s, local 500 ms, wan 5 s; seed_fanout 3 in every preset. This is also how the two
  // sides of a healed partition find each other again.
  std::chrono::milliseconds seed_retry_interval{2000};
  int seed_fanout = 3;

  // Lifeguard local-health score ceiling: the score ranges over 0..awareness_max_multiplier-1 and
  // probe interval and timeout are multiplied by (score + 1). Default 8 in every preset. 1
  // disables Lifeguard's self-awareness.
  int awareness_max_multiplier = 8;

  // How long dead/left records are kept as tombstones (so that a late or stale claim cannot
  // resurrect them) before they are removed (kRemoved); a tombstone whose identity is still a
  // seed is kept. lan 60 s, local 30 s, wan 120 s.
  std::chrono::milliseconds dead_retention{60000};

  // Updates piggybacked on one message (Ping, Ack, IndirectPing, Nack, gossip carrier).
  // 1..kMaxPiggybackUpdates; 16 in every preset (16 records with 1 KiB meta stay under 20 KiB).
  size_t max_piggyback_updates = 16;

  // Bound of the broadcast queue (one entry per identity; when full the most-transmitted, oldest
  // entry is dropped — push-pull repairs what was lost). 16384 in every preset.
  size_t max_queued_broadcasts = 16384;

  // Cap of the membership table (self and tombstones included): a claim about a new identity
  // while the table holds this many rows is dropped and counted (table_full). Every row needs a
  // record signed by a certificate the cluster CA issued, so the cap is a second line of defence
  // against a CA or allow-list that admits more than the cluster. 4096 in every preset; the
  // plugin sets it from the cluster size (ESK8S_MAX_MEMBERS, default 2 * size + 16).
  size_t max_members = 4096;

  // Kubernetes cluster network: sub-millisecond RTT, occasional node pressure.
  static Config lan();
  // One host or tests: everything ~5x faster than lan.
  static Config local();
  // Members in different regions: 10-100 ms RTT, lossy links.
  static Config wan();

  // Ok, or a config error naming the fields that make the combination impossible.
  Status validate() const;
};

}  // namespace esk8s::gossip
