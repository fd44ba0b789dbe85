#include "gossip/config.h"

#include <string>

#include "gossip/message.h"

namespace esk8s::gossip {

using std::chrono::milliseconds;

Config Config::lan() { return Config{}; }

Config Config::local() {
  Config c = lan();
  c.probe_interval = milliseconds(200);
  c.probe_timeout = milliseconds(100);
  c.suspicion_mult = 3;
  c.retransmit_mult = 3;
  c.gossip_interval = milliseconds(50);
  c.push_pull_interval = milliseconds(5000);
  c.seed_retry_interval = milliseconds(500);
  c.dead_retention = milliseconds(30000);
  return c;
}

Config Config::wan() {
  Config c = lan();
  c.probe_interval = milliseconds(5000);
  c.probe_timeout = milliseconds(3000);
  c.suspicion_mult = 6;
  c.gossip_interval = milliseconds(500);
  c.gossip_nodes = 4;
  c.push_pull_interval = milliseconds(60000);
  c.seed_retry_interval = milliseconds(5000);
  c.dead_retention = milliseconds(120000);
  return c;
}

namespace {

std::string ms(milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Status Config::validate() const {
  if (cluster_name.empty() || cluster_name.size() > kMaxClusterNameBytes) {
    return Status::config("gossip cluster_name must be 1.." + std::to_string(kMaxClusterNameBytes) +
                          " bytes, got " + std::to_string(cluster_name.size()));
  }
  if (probe_interval.count() <= 0 || probe_timeout.count() <= 0) {
    return Status::config("gossip probe_interval (" + ms(probe_interval) + ") and probe_timeout (" +
                          ms(probe_timeout) + ") must be positive");
  }
  if (probe_timeout >= probe_interval) {
    return Status::config("gossip probe_timeout (" + ms(probe_timeout) +
                          ") must be shorter than probe_interval (" + ms(probe_interval) +
                          ") so that indirect probes have time to answer");
  }
  if (indirect_checks < 0) {
    return Status::config("gossip indirect_checks must be >= 0, got " +
                          std::to_string(indirect_checks));
  }
  if (suspicion_mult < 1 || suspicion_max_timeout_mult < 1) {
    return Status::config("gossip suspicion_mult (" + std::to_string(suspicion_mult) +
                          ") and suspicion_max_timeout_mult (" +
                          std::to_string(suspicion_max_timeout_mult) + ") must be >= 1");
  }
  if (retransmit_mult < 1) {
    return Status::config("gossip retransmit_mult must be >= 1, got " +
                          std::to_string(retransmit_mult));
  }
  if (gossip_interval.count() <= 0 || gossip_nodes < 1) {
    return Status::config("gossip gossip_interval (" + ms(gossip_interval) +
                          ") must be positive and gossip_nodes (" + std::to_string(gossip_nodes) +
                          ") >= 1");
  }
  if (push_pull_interval.count() <= 0 || seed_retry_interval.count() <= 0 || seed_fanout < 1) {
    return Status::config("gossip push_pull_interval (" + ms(push_pull_interval) +
                          ") and seed_retry_interval (" + ms(seed_retry_interval) +
                          ") must be positive and seed_fanout (" + std::to_string(seed_fanout) +
                          ") >= 1");
  }
  if (awareness_max_multiplier < 1) {
    return Status::config("gossip awareness_max_multiplier must be >= 1, got " +
                          std::to_string(awareness_max_multiplier));
  }
  if (dead_retention < probe_interval) {
    return Status::config("gossip dead_retention (" + ms(dead_retention) +
                          ") must be at least probe_interval (" + ms(probe_interval) +
                          ") or a dead member could be forgotten before the news spreads");
  }
  if (max_piggyback_updates < 1 || max_piggyback_updates > kMaxPiggybackUpdates) {
    return Status::config("gossip max_piggyback_updates must be 1.." +
                          std::to_string(kMaxPiggybackUpdates) + ", got " +
                          std::to_string(max_piggyback_updates));
  }
  if (max_members < 2) {
    return Status::config("gossip max_members must be >= 2 (self and one peer), got " +
                          std::to_string(max_members));
  }
  if (max_queued_broadcasts < 1) {
    return Status::config("gossip max_queued_broadcasts must be >= 1");
  }
  return Status::ok();
}

}  // namespace esk8s::gossip
