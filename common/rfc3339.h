// RFC 3339 timestamps, the one place that reads and writes them: the API server's times
// (creationTimestamp, renewTime, lastChangeTriggerTime), exec credentials' expirationTimestamp,
// Kubernetes MicroTime fields (eventTime, Lease times), log records and certificate validity in
// messages. Always UTC on output ("Z").
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace esk8s {

// "2024-05-01T10:00:00Z", with any number of fraction digits (read to the nanosecond) and "Z" or
// a "+HH:MM"/"-HH:MM" offset; T and Z may be lower case. Anything else, including trailing bytes,
// out-of-range fields or a missing zone, is nullopt (outside text: never an exception).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// `time` in UTC with `fraction_digits` (0 to 9) digits after the seconds, truncated toward the
// past: 0 "2026-12-07T21:30:05Z" (certificates), 3 "...05.123Z" (logs), 6 "...05.123456Z"
// (Kubernetes MicroTime). Times before 1970 are written as such.
std::string format_rfc3339(std::chrono::system_clock::time_point time,
                           unsigned fraction_digits = 3);

}  // namespace esk8s
