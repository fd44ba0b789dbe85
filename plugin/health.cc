#include "plugin/health.h"

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

}  // namespace esk8s::plugin
