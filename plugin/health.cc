#include "plugin/health.h"

#include "gossip/quorum.h"

namespace esk8s::plugin {

HealthReport live_report(std::chrono::steady_clock::time_point last_heartbeat,
                         std::chrono::steady_clock::time_point now,
                         std::chrono::milliseconds deadline) {
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heartbeat);
  HealthReport r;
  r.body["heartbeat_age_ms"] = age.count();
  r.body["deadline_ms"] = deadline.count();
  if (age <= deadline) {
    r.body["status"] = "ok";
  } else {
    r.http_status = 503;
    r.body["status"] = "failed";
    r.body["reason"] = "event-loop-stalled";
  }
  return r;
}

HealthReport startup_report(const Snapshot& snapshot) {
  HealthReport r;
  nlohmann::json checks = nlohmann::json::array();
  const StartupCheck* first_failed = nullptr;
  for (const auto& c : snapshot.startup_checks) {
    checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    if (!c.ok && !first_failed) first_failed = &c;
  }
  r.body["checks"] = std::move(checks);
  if (!snapshot.started) {
    r.http_status = 503;
    r.body["status"] = "not-started";
    r.body["reason"] = "starting";
  } else if (first_failed) {
    r.http_status = 503;
    r.body["status"] = "not-started";
    r.body["reason"] = first_failed->name;
  } else {
    r.body["status"] = "ok";
  }
  return r;
}

namespace {

void quorum_fields(nlohmann::json& body, const ReadinessState& r) {
  gossip::QuorumView q{r.cluster_size, r.alive};
  body["mode"] = std::string(to_string(r.mode));
  body["modeReason"] = r.mode_reason;
  body["alive"] = r.alive;
  body["needed"] = r.cluster_size == 0 ? 0 : q.needed();
  body["clusterSize"] = r.cluster_size;
  body["clusterSizeSource"] = r.cluster_size_source;
  body["quorumSeen"] = r.quorum_seen;
  body["discovered"] = r.discovered;
}

HealthReport not_ok(HealthReport r, const char* status, const char* reason) {
  r.http_status = 503;
  r.body["status"] = status;
  r.body["reason"] = reason;
  return r;
}

}  // namespace

bool quorum_observed(const ReadinessState& r) {
  return r.gossip_running && gossip::QuorumView{r.cluster_size, r.alive}.has_quorum();
}

HealthReport ready_report(const Snapshot& snapshot) {
  const ReadinessState& r = snapshot.readiness;
  HealthReport rep;
  quorum_fields(rep.body, r);
  rep.body["hostReady"] = r.host_ready;
  if (!snapshot.started) return not_ok(std::move(rep), "not-ready", "starting");
  if (r.superseded) return not_ok(std::move(rep), "not-ready", "superseded");
  if (!r.gossip_running) return not_ok(std::move(rep), "not-ready", "gossip-not-running");
  if (!r.host_ready) return not_ok(std::move(rep), "not-ready", "host-not-ready");
  // auto before the StatefulSet answered: the latch must not make a Parallel pod Ready alone.
  if (r.mode_pending) return not_ok(std::move(rep), "not-ready", "resolving-ready-mode");
  gossip::QuorumView q{r.cluster_size, r.alive};
  bool quorum = r.cluster_size > 0 && q.has_quorum();
  if (r.mode == ReadyMode::kBootstrapLatch && !quorum) {
    // Ready without quorum while the pods that would make it cannot exist unless this one is
    // Ready: OrderedReady creates pod N+1 only after pod N is Ready.
    if (!r.quorum_seen) {
      rep.body["status"] = "ready";
      rep.body["reason"] = "bootstrapping";
      return rep;
    }
    if (r.discovered < r.cluster_size) {
      rep.body["status"] = "ready";
      rep.body["reason"] = "pods-missing";
      return rep;
    }
  }
  if (r.cluster_size == 0) return not_ok(std::move(rep), "not-ready", "cluster-size-unknown");
  if (!quorum) return not_ok(std::move(rep), "not-ready", "quorum");
  rep.body["status"] = "ready";
  return rep;
}

HealthReport disruptable_report(const Snapshot& snapshot,
                                std::chrono::system_clock::time_point now) {
  const ReadinessState& r = snapshot.readiness;
  HealthReport rep;
  quorum_fields(rep.body, r);
  if (!snapshot.started || !r.gossip_running) {
    return not_ok(std::move(rep), "not-disruptable", "gossip-not-running");
  }
  if (r.cluster_size == 0) {
    return not_ok(std::move(rep), "not-disruptable", "cluster-size-unknown");
  }
  // Suspects count as down here: one may be dead already, and stopping this node then could take
  // the cluster below its majority (readiness keeps counting them, as the failure detector does).
  rep.body["confirmedAlive"] = r.confirmed_alive;
  gossip::QuorumView q{r.cluster_size, r.confirmed_alive};
  if (!q.can_lose_self()) return not_ok(std::move(rep), "not-disruptable", "would-lose-quorum");
  const DisruptionGuardView& g = snapshot.guard;
  if (g.enabled) {
    nlohmann::json guard = {{"lease", g.lease}};
    const bool held = g.held && now < g.held_until;
    guard["held"] = held;
    if (!held && !g.holder.empty() && now < g.holder_until) {
      guard["holder"] = g.holder;
      guard["holderSecondsLeft"] =
          std::chrono::duration_cast<std::chrono::seconds>(g.holder_until - now).count();
    }
    if (!g.error.empty()) guard["error"] = g.error;
    rep.body["guard"] = std::move(guard);
    if (!held) {
      rep.wants_guard = true;
      return not_ok(std::move(rep), "not-disruptable", "disruption-guard");
    }
  }
  rep.body["status"] = "disruptable";
  return rep;
}

}  // namespace esk8s::plugin
