#include <doctest/doctest.h>

#include "plugin/timings.h"

using namespace esk8s::plugin;
using std::chrono::milliseconds;

TEST_CASE("timings: every preset validates and local is faster than lan, wan slower") {
  for (Preset p : {Preset::kLan, Preset::kLocal, Preset::kWan}) {
    CAPTURE(to_string(p));
    CHECK(Timings::for_preset(p).validate().is_ok());
  }
  CHECK(Timings::local().live_deadline < Timings::lan().live_deadline);
  CHECK(Timings::wan().live_deadline > Timings::lan().live_deadline);
}

TEST_CASE("timings: impossible combinations are refused with a sentence") {
  Timings t = Timings::lan();
  t.live_deadline = milliseconds(300);
  auto s = t.validate();
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.message().find("at least 5 heartbeat_intervals") != std::string::npos);
  t = Timings::lan();
  t.http_threads = 0;
  CHECK(t.validate().message().find("http_threads") != std::string::npos);
  t = Timings::lan();
  t.heartbeat_interval = milliseconds(0);
  CHECK_FALSE(t.validate().is_ok());
}
