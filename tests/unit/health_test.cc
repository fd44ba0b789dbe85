#include <doctest/doctest.h>

#include "plugin/health.h"

using namespace esk8s::plugin;
using namespace std::chrono;

TEST_CASE("health: live is ok while the heartbeat is within the deadline and fails after") {
  auto t0 = steady_clock::time_point(seconds(100));
  auto r = live_report(t0, t0 + milliseconds(1999), milliseconds(2000));
  CHECK(r.http_status == 200);
  CHECK(r.body["status"] == "ok");
  r = live_report(t0, t0 + milliseconds(2001), milliseconds(2000));
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "event-loop-stalled");
  CHECK(r.body["heartbeat_age_ms"] == 2001);
}

TEST_CASE("health: startup fails before start completes and names the first failed check") {
  Snapshot s;
  auto r = startup_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "starting");

  s.started = true;
  s.startup_checks = {{"config", true, ""}, {"http-listener", true, "127.0.0.1:1"}};
  r = startup_report(s);
  CHECK(r.http_status == 200);
  CHECK(r.body["status"] == "ok");
  CHECK(r.body["checks"].size() == 2);

  s.startup_checks.push_back({"tls-material", false, "no certificate"});
  r = startup_report(s);
  CHECK(r.http_status == 503);
  CHECK(r.body["reason"] == "tls-material");
}
