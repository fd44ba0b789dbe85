#include "plugin/timings.h"

#include <string>

namespace esk8s::plugin {

using std::chrono::milliseconds;

Timings Timings::lan() { return Timings{}; }

Timings Timings::local() {
  Timings t = lan();
  t.heartbeat_interval = milliseconds(50);
  t.live_deadline = milliseconds(1000);
  t.status_poll_interval = milliseconds(250);
  return t;
}

Timings Timings::wan() {
  Timings t = lan();
  t.heartbeat_interval = milliseconds(200);
  t.live_deadline = milliseconds(5000);
  t.status_poll_interval = milliseconds(2000);
  return t;
}

Timings Timings::for_preset(Preset p) {
  switch (p) {
    case Preset::kLan:
      return lan();
    case Preset::kLocal:
      return local();
    case Preset::kWan:
      return wan();
  }
  return lan();
}

Status Timings::validate() const {
  if (heartbeat_interval.count() <= 0) return Status::config("heartbeat_interval must be positive");
  if (live_deadline < 5 * heartbeat_interval) {
    return Status::config("live_deadline (" + std::to_string(live_deadline.count()) +
                          " ms) must be at least 5 heartbeat_intervals (" +
                          std::to_string(5 * heartbeat_interval.count()) +
                          " ms), or one late tick fails liveness");
  }
  if (status_poll_interval.count() <= 0)
    return Status::config("status_poll_interval must be positive");
  if (http_io_timeout.count() <= 0) return Status::config("http_io_timeout must be positive");
  if (http_keep_alive.count() <= 0) return Status::config("http_keep_alive must be positive");
  if (http_threads == 0) return Status::config("http_threads must be at least 1");
  return Status::ok();
}

}  // namespace esk8s::plugin
