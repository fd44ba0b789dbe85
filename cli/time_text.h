// Human text for a span of time relative to now, shared by `esk8s cert inspect` and
// `esk8s doctor`: "in 29 days", "3 hours ago" (whole days, else hours, else minutes).
#pragma once

#include <chrono>
#include <string>

namespace esk8s::cli {

inline std::string describe_time_left(std::chrono::system_clock::duration d) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  bool past = secs < 0;
  if (past) secs = -secs;
  std::string text = secs >= 86400  ? std::to_string(secs / 86400) + " days"
                     : secs >= 3600 ? std::to_string(secs / 3600) + " hours"
                                    : std::to_string(secs / 60) + " minutes";
  return past ? text + " ago" : "in " + text;
}

}  // namespace esk8s::cli
