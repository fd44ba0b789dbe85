// The readiness state machine (plugin/readiness.h): its start from the configuration, the
// StatefulSet read, and the quorum latch, driven as a table over its inputs.
#include <doctest/doctest.h>

#include "plugin/readiness.h"

using namespace esk8s;
using namespace esk8s::plugin;

namespace {

Config config(ReadyMode mode, std::optional<uint32_t> size, DiscoveryMode discovery) {
  Config c;
  c.ready_mode = mode;
  c.cluster_size = size;
  c.discovery = discovery;
  return c;
}

ReadinessObservation seen(uint32_t alive, bool gossip_running = true) {
  ReadinessObservation o;
  o.gossip_running = gossip_running;
  o.alive = alive;
  o.confirmed_alive = alive;
  return o;
}

StatefulSetInfo statefulset(const char* policy, uint32_t replicas) {
  return StatefulSetInfo{"esdb", policy, replicas};
}

}  // namespace

TEST_CASE("readiness: the start follows ESK8S_READY_MODE and ESK8S_CLUSTER_SIZE or waits for the "
          "StatefulSet") {
  struct Row {
    ReadyMode mode;
    std::optional<uint32_t> size;
    DiscoveryMode discovery;
    bool reads_statefulset;
    ReadyMode want_mode;
    bool want_pending;
    uint32_t want_size;
    const char* reason_has;
    const char* source_has;
  };
  const Row rows[] = {
      {ReadyMode::kQuorum, 3, DiscoveryMode::kStatic, false, ReadyMode::kQuorum, false, 3,
       "ESK8S_READY_MODE=quorum", "static peers"},
      {ReadyMode::kBootstrapLatch, 5, DiscoveryMode::kKubernetes, false,
       ReadyMode::kBootstrapLatch, false, 5, "ESK8S_READY_MODE=bootstrap-latch",
       "ESK8S_CLUSTER_SIZE"},
      {ReadyMode::kAuto, std::nullopt, DiscoveryMode::kKubernetes, true,
       ReadyMode::kBootstrapLatch, true, 0, "reading the pod's StatefulSet", "waiting for"},
      {ReadyMode::kAuto, std::nullopt, DiscoveryMode::kDns, false, ReadyMode::kBootstrapLatch,
       false, 0, "no Kubernetes API in dns", "set ESK8S_CLUSTER_SIZE"},
      {ReadyMode::kQuorum, std::nullopt, DiscoveryMode::kKubernetes, true, ReadyMode::kQuorum,
       false, 0, "ESK8S_READY_MODE=quorum", "waiting for"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.reason_has);
    ReadinessMemory m = initial_readiness(config(row.mode, row.size, row.discovery),
                                          row.reads_statefulset);
    CHECK(m.mode == row.want_mode);
    CHECK(m.mode_pending == row.want_pending);
    CHECK(m.cluster_size == row.want_size);
    CHECK(m.mode_reason.find(row.reason_has) != std::string::npos);
    CHECK(m.cluster_size_source.find(row.source_has) != std::string::npos);
    CHECK_FALSE(m.quorum_seen);
  }
}

TEST_CASE("readiness: auto resolves from the StatefulSet's policy and takes its replicas as the "
          "size unless ESK8S_CLUSTER_SIZE is set") {
  const Config autosize = config(ReadyMode::kAuto, std::nullopt, DiscoveryMode::kKubernetes);
  ReadinessMemory m = on_statefulset_read(initial_readiness(autosize, true), autosize,
                                          statefulset("Parallel", 5));
  CHECK(m.mode == ReadyMode::kQuorum);
  CHECK_FALSE(m.mode_pending);
  CHECK(m.cluster_size == 5);
  CHECK(m.cluster_size_source == "StatefulSet esdb spec.replicas");
  CHECK(m.mode_reason.find("Parallel") != std::string::npos);

  m = on_statefulset_read(initial_readiness(autosize, true), autosize,
                          statefulset("OrderedReady", 3));
  CHECK(m.mode == ReadyMode::kBootstrapLatch);
  CHECK(m.cluster_size == 3);

  const Config fixed = config(ReadyMode::kAuto, 7, DiscoveryMode::kKubernetes);
  m = on_statefulset_read(initial_readiness(fixed, true), fixed, statefulset("Parallel", 3));
  CHECK(m.mode == ReadyMode::kQuorum);
  CHECK(m.cluster_size == 7);
  CHECK(m.cluster_size_source == "ESK8S_CLUSTER_SIZE");

  // An explicit mode is kept; only the size follows the StatefulSet.
  const Config latch = config(ReadyMode::kBootstrapLatch, std::nullopt, DiscoveryMode::kKubernetes);
  m = on_statefulset_read(initial_readiness(latch, true), latch, statefulset("Parallel", 3));
  CHECK(m.mode == ReadyMode::kBootstrapLatch);
  CHECK(m.mode_reason == "ESK8S_READY_MODE=bootstrap-latch");
  CHECK(m.cluster_size == 3);
}

TEST_CASE("readiness: a failed StatefulSet read resolves auto to bootstrap-latch and leaves the "
          "size unknown, naming the error") {
  const Config c = config(ReadyMode::kAuto, std::nullopt, DiscoveryMode::kKubernetes);
  const Result<StatefulSetInfo> failed = Status::io("403: cannot get pods");
  ReadinessMemory m = on_statefulset_read(initial_readiness(c, true), c, failed);
  CHECK(m.mode == ReadyMode::kBootstrapLatch);
  CHECK_FALSE(m.mode_pending);
  CHECK(m.cluster_size == 0);
  CHECK(m.mode_reason.find("403: cannot get pods") != std::string::npos);
  CHECK(m.cluster_size_source.find("403: cannot get pods") != std::string::npos);
  CHECK(m.cluster_size_source.find("set ESK8S_CLUSTER_SIZE") != std::string::npos);
}

TEST_CASE("readiness: quorumSeen latches on the first majority of a known size and stays set") {
  ReadinessMemory m;
  m.mode = ReadyMode::kBootstrapLatch;
  m.cluster_size = 3;
  // alive over time -> whether this step latches, and quorumSeen after it.
  struct Row {
    uint32_t alive;
    bool gossip_running;
    bool latched;
    bool seen;
  };
  const Row trace[] = {
      {1, true, false, false},   // alone
      {2, false, false, false},  // a majority counted while gossip is down does not count
      {2, true, true, true},     // the first majority latches
      {3, true, false, true},    // already latched: no second latch
      {1, true, false, true},    // the latch survives losing the majority
      {0, false, false, true},   // and gossip going down
  };
  for (const Row& row : trace) {
    CAPTURE(row.alive);
    ReadinessStep step = step_readiness(m, seen(row.alive, row.gossip_running));
    CHECK(step.quorum_latched == row.latched);
    CHECK(step.next.quorum_seen == row.seen);
    CHECK(step.state.quorum_seen == row.seen);
    CHECK(step.state.alive == (row.gossip_running ? row.alive : 0));
    m = step.next;
  }
}

TEST_CASE("readiness: an unknown cluster size never latches a quorum, however many are alive") {
  for (uint32_t alive = 0; alive <= 9; ++alive) {
    CAPTURE(alive);
    ReadinessMemory m;  // cluster_size 0: unknown
    ReadinessStep step = step_readiness(m, seen(alive));
    CHECK_FALSE(step.quorum_latched);
    CHECK_FALSE(step.next.quorum_seen);
    // Once the size is known, the same count latches exactly when it is a majority of it.
    m.cluster_size = 5;
    step = step_readiness(m, seen(alive));
    CHECK(step.quorum_latched == (alive >= 3));
  }
}

TEST_CASE("readiness: a step copies the memory and the observation into the decision") {
  ReadinessMemory m;
  m.mode = ReadyMode::kQuorum;
  m.mode_reason = "why";
  m.mode_pending = true;
  m.cluster_size = 3;
  m.cluster_size_source = "from";
  ReadinessObservation o;
  o.gossip_running = true;
  o.alive = 2;
  o.confirmed_alive = 1;
  o.discovered = 4;
  o.host_ready = false;
  o.superseded = true;
  const ReadinessState r = step_readiness(m, o).state;
  CHECK(r.mode == ReadyMode::kQuorum);
  CHECK(r.mode_reason == "why");
  CHECK(r.mode_pending);
  CHECK(r.cluster_size == 3);
  CHECK(r.cluster_size_source == "from");
  CHECK(r.gossip_running);
  CHECK(r.alive == 2);
  CHECK(r.confirmed_alive == 1);
  CHECK(r.discovered == 4);
  CHECK_FALSE(r.host_ready);
  CHECK(r.superseded);
  // Gossip down: nobody counts as alive, whatever the counts say.
  o.gossip_running = false;
  const ReadinessState down = step_readiness(m, o).state;
  CHECK(down.alive == 0);
  CHECK(down.confirmed_alive == 0);
}
