#include <doctest/doctest.h>

#include <string>

#include "gossip/config.h"
#include "gossip/message.h"

using esk8s::gossip::Config;
using std::chrono::milliseconds;

TEST_CASE(
    "gossip config: the lan, local and wan presets validate and hold their documented values") {
  const Config lan = Config::lan(), local = Config::local(), wan = Config::wan();
  CHECK(lan.validate().is_ok());
  CHECK(local.validate().is_ok());
  CHECK(wan.validate().is_ok());
  CHECK(lan.cluster_name == "esk8s");
  CHECK(lan.probe_interval == milliseconds(1000));
  CHECK(local.probe_interval == milliseconds(200));
  CHECK(wan.probe_interval == milliseconds(5000));
  CHECK(lan.probe_timeout == milliseconds(500));
  CHECK(local.probe_timeout == milliseconds(100));
  CHECK(wan.probe_timeout == milliseconds(3000));
  CHECK(lan.suspicion_mult == 4);
  CHECK(local.suspicion_mult == 3);
  CHECK(wan.suspicion_mult == 6);
  CHECK(lan.retransmit_mult == 4);
  CHECK(local.retransmit_mult == 3);
  CHECK(wan.retransmit_mult == 4);
  CHECK(lan.gossip_interval == milliseconds(200));
  CHECK(local.gossip_interval == milliseconds(50));
  CHECK(wan.gossip_interval == milliseconds(500));
  CHECK(wan.gossip_nodes == 4);
  CHECK(lan.push_pull_interval == milliseconds(30000));
  CHECK(local.push_pull_interval == milliseconds(5000));
  CHECK(wan.push_pull_interval == milliseconds(60000));
  CHECK(lan.seed_retry_interval == milliseconds(2000));
  CHECK(local.seed_retry_interval == milliseconds(500));
  CHECK(wan.seed_retry_interval == milliseconds(5000));
  CHECK(lan.dead_retention == milliseconds(60000));
  CHECK(local.dead_retention == milliseconds(30000));
  CHECK(wan.dead_retention == milliseconds(120000));
  for (const Config* c : {&lan, &local, &wan}) {
    CHECK(c->indirect_checks == 3);
    CHECK(c->suspicion_max_timeout_mult == 6);
    CHECK(c->awareness_max_multiplier == 8);
    CHECK(c->max_piggyback_updates <= esk8s::gossip::kMaxPiggybackUpdates);
  }
}

TEST_CASE("gossip config: validate rejects impossible combinations and names the fields") {
  struct Case {
    const char* field;
    void (*mutate)(Config&);
  };
  const Case cases[] = {
      {"probe_timeout", [](Config& c) { c.probe_timeout = c.probe_interval; }},
      {"probe_timeout", [](Config& c) { c.probe_timeout = milliseconds(0); }},
      {"cluster_name", [](Config& c) { c.cluster_name.clear(); }},
      {"cluster_name", [](Config& c) { c.cluster_name = std::string(64, 'a'); }},
      {"indirect_checks", [](Config& c) { c.indirect_checks = -1; }},
      {"suspicion_mult", [](Config& c) { c.suspicion_mult = 0; }},
      {"suspicion_max_timeout_mult", [](Config& c) { c.suspicion_max_timeout_mult = 0; }},
      {"retransmit_mult", [](Config& c) { c.retransmit_mult = 0; }},
      {"gossip_nodes", [](Config& c) { c.gossip_nodes = 0; }},
      {"gossip_interval", [](Config& c) { c.gossip_interval = milliseconds(0); }},
      {"seed_retry_interval", [](Config& c) { c.seed_retry_interval = milliseconds(0); }},
      {"push_pull_interval", [](Config& c) { c.push_pull_interval = milliseconds(-1); }},
      {"seed_fanout", [](Config& c) { c.seed_fanout = 0; }},
      {"awareness_max_multiplier", [](Config& c) { c.awareness_max_multiplier = 0; }},
      {"dead_retention", [](Config& c) { c.dead_retention = milliseconds(10); }},
      {"max_piggyback_updates", [](Config& c) { c.max_piggyback_updates = 0; }},
      {"max_piggyback_updates",
       [](Config& c) { c.max_piggyback_updates = esk8s::gossip::kMaxPiggybackUpdates + 1; }},
      {"max_queued_broadcasts", [](Config& c) { c.max_queued_broadcasts = 0; }},
  };
  for (const Case& k : cases) {
    CAPTURE(k.field);
    Config c = Config::lan();
    k.mutate(c);
    const esk8s::Status s = c.validate();
    CHECK_FALSE(s.is_ok());
    CHECK(s.message().find(k.field) != std::string::npos);
  }
}
