#include "common/rfc3339.h"

#include <doctest/doctest.h>

#include <chrono>

using namespace esk8s;
using std::chrono::milliseconds;
using std::chrono::system_clock;

namespace {
// 2026-12-07T20:42:08.123456Z
const system_clock::time_point kT_logger{std::chrono::microseconds(1796676128123456)};
}  // namespace

TEST_CASE("rfc3339: parses Z, offsets and fractions and refuses anything else") {
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == system_clock::time_point{});
  CHECK(parse_rfc3339("2024-02-29T12:30:15Z")->time_since_epoch() ==
        std::chrono::seconds(1709209815));
  CHECK(parse_rfc3339("2024-02-29T14:30:15+02:00") == parse_rfc3339("2024-02-29T12:30:15Z"));
  CHECK(parse_rfc3339("2024-02-29T12:30:15.5-00:30")->time_since_epoch() ==
        std::chrono::milliseconds(1709211615500));
  CHECK_FALSE(parse_rfc3339("2024-02-29 12:30:15Z").has_value());
  CHECK_FALSE(parse_rfc3339("2024-02-29T12:30:15").has_value());
  CHECK_FALSE(parse_rfc3339("2024-13-01T00:00:00Z").has_value());
  CHECK_FALSE(parse_rfc3339("2024-01-01T00:00:00Zjunk").has_value());
  CHECK_FALSE(parse_rfc3339("").has_value());
}

TEST_CASE("rfc3339: formats UTC with milliseconds by default, also before 1970") {
  CHECK(format_rfc3339(kT_logger) == "2026-12-07T20:42:08.123Z");
  CHECK(format_rfc3339(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339(system_clock::time_point{milliseconds(-1)}) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339(system_clock::time_point{std::chrono::microseconds(1999)}) ==
        "1970-01-01T00:00:00.001Z");
}

TEST_CASE("rfc3339: seconds for certificates and microseconds for Kubernetes MicroTime") {
  CHECK(format_rfc3339(kT_logger, 0) == "2026-12-07T20:42:08Z");
  CHECK(format_rfc3339(kT_logger, 6) == "2026-12-07T20:42:08.123456Z");
  CHECK(format_rfc3339(kT_logger, 9) == "2026-12-07T20:42:08.123456000Z");
  CHECK(format_rfc3339(kT_logger, 42) == "2026-12-07T20:42:08.123456000Z");  // at most 9
  CHECK(format_rfc3339(system_clock::time_point{std::chrono::seconds(-86400 * 366)}, 0) ==
        "1968-12-31T00:00:00Z");
  CHECK(format_rfc3339(system_clock::time_point{std::chrono::seconds(951782400)}, 0) ==
        "2000-02-29T00:00:00Z");
}

TEST_CASE("rfc3339: what it writes it reads back") {
  for (int64_t us : {int64_t{0}, int64_t{1796676128123456}, int64_t{-1}, int64_t{951868799999999},
                     int64_t{4102444800000000}}) {
    const system_clock::time_point t{std::chrono::microseconds(us)};
    CAPTURE(us);
    CHECK(parse_rfc3339(format_rfc3339(t, 6)) == t);
  }
}
