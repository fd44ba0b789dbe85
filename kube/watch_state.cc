#include "kube/watch_state.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace esk8s::kube {

namespace {

using std::chrono::milliseconds;

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

bool is_gone(const ApiStatus& s) {
  return s.code == 410 || s.reason == "Expired" || s.reason == "Gone";
}

}  // namespace

std::string WatchMachine::describe_http(int status, const char* what) const {
  const std::string req = std::string("the ") + what + " request";
  if (status == 0) return req + " got no response (connection error or timeout)";
  if (status == 401) {
    return "the API server rejected " + req +
           " with HTTP 401 Unauthorized (the service-account token is missing, expired or "
           "invalid; it is re-read before the retry)";
  }
  if (status == 403) {
    return "the API server rejected " + req +
           " with HTTP 403 Forbidden (the service account may lack list/watch on " +
           subject_.resource + ")";
  }
  if (status >= 500 && status <= 599) {
    return req + " failed with HTTP " + std::to_string(status) + " (server error)";
  }
  return req + " failed with HTTP " + std::to_string(status);
}

Status WatchConfig::validate() const {
  if (backoff_initial.count() <= 0) {
    return Status::config("backoff_initial must be positive (got " + ms_text(backoff_initial) +
                          ")");
  }
  if (!std::isfinite(backoff_factor) || backoff_factor < 1.0) {
    return Status::config("backoff_factor must be a finite number of at least 1 (got " +
                          std::to_string(backoff_factor) + ")");
  }
  if (backoff_cap < backoff_initial) {
    return Status::config("backoff_cap (" + ms_text(backoff_cap) +
                          ") must be at least backoff_initial (" + ms_text(backoff_initial) + ")");
  }
  if (backoff_reset_after.count() <= 0) {
    return Status::config("backoff_reset_after must be positive (got " +
                          ms_text(backoff_reset_after) + ")");
  }
  if (watch_timeout_min.count() <= 0) {
    return Status::config("watch_timeout_min must be positive (got " +
                          std::to_string(watch_timeout_min.count()) + " s)");
  }
  if (watch_timeout_max < watch_timeout_min) {
    return Status::config("watch_timeout_max (" + std::to_string(watch_timeout_max.count()) +
                          " s) must be at least watch_timeout_min (" +
                          std::to_string(watch_timeout_min.count()) + " s)");
  }
  if (watch_timeout_max.count() > std::numeric_limits<uint32_t>::max()) {
    return Status::config("watch_timeout_max (" + std::to_string(watch_timeout_max.count()) +
                          " s) does not fit timeoutSeconds");
  }
  if (short_watch.count() < 0) {
    return Status::config("short_watch must not be negative (got " + ms_text(short_watch) + ")");
  }
  if (short_watch >= watch_timeout_min) {
    return Status::config("short_watch (" + ms_text(short_watch) +
                          ") must be shorter than watch_timeout_min (" +
                          std::to_string(watch_timeout_min.count()) +
                          " s), or every quiet watch would count as an error");
  }
  if (page_limit == 0) return Status::config("page_limit must be at least 1 (got 0)");
  return Status::ok();
}

WatchMachine::WatchMachine(WatchConfig config, uint64_t seed, WatchSubject subject)
    : config_(std::move(config)),
      subject_(subject),
      rng_(seed),
      backoff_(BackoffPolicy{config_.backoff_initial, config_.backoff_factor, config_.backoff_cap,
                             config_.backoff_reset_after}) {}

Output WatchMachine::begin(TimePoint now) {
  if (started_) ++relists_;
  started_ = true;
  return ask_list("", milliseconds(0), now);
}

Output WatchMachine::list_page(const std::string& resource_version,
                               const std::string& continue_token, TimePoint now, bool& complete) {
  note_healthy(now);
  if (!resource_version.empty()) list_resource_version_ = resource_version;
  complete = continue_token.empty();
  if (!complete) return ask_list(continue_token, milliseconds(0), now);
  synced_ = true;
  resource_version_ = list_resource_version_;
  return ask_watch(milliseconds(0), now);
}

Output WatchMachine::error_event(const ApiStatus& status, TimePoint now) {
  const std::string why = "the watch delivered an ERROR event (code " +
                          std::to_string(status.code) + ", reason \"" + status.reason +
                          "\": " + status.message + ")";
  return is_gone(status) ? relist(why, now) : back_off(why, now);
}

void WatchMachine::watch_progress(const std::string& rv, TimePoint now) {
  ++watch_events_;
  note_progress(now);
  if (!rv.empty()) resource_version_ = rv;
}

Output WatchMachine::on_watch_end(TimePoint now) {
  if (!expecting(InFlight::kWatch, now)) return ignore();
  const auto lasted = std::chrono::duration_cast<milliseconds>(now - not_before_);
  if (watch_events_ == 0 && lasted < config_.short_watch) {
    return back_off("the watch ended " + ms_text(lasted) +
                        " after it was issued without any event (sooner than short_watch = " +
                        ms_text(config_.short_watch) + ")",
                    now);
  }
  note_progress(now);
  ++watch_restarts_;
  return ask_watch(milliseconds(0), now);
}

Output WatchMachine::on_http_error(int status, std::optional<std::chrono::seconds> retry_after,
                                 TimePoint now) {
  if (in_flight_ == InFlight::kNone || now < not_before_) return ignore();
  const char* what = in_flight_ == InFlight::kList ? "list" : "watch";
  if (status == 410) {
    std::string cause = "the list expired";
    if (in_flight_ == InFlight::kWatch) {
      cause = "resourceVersion \"" + resource_version_ + "\" is too old";
    } else if (!request_.continue_token.empty()) {
      cause = "the continue token expired";
    }
    return relist(std::string("the ") + what + " request failed with HTTP 410 Gone (" + cause + ")",
                  now);
  }
  if (status == 429) {
    ++errors_;
    const std::chrono::seconds wait = Backoff::retry_after_wait(retry_after);
    if (in_flight_ == InFlight::kWatch) ++watch_restarts_;
    Output out = ask_again(wait, now);
    out.error = std::string("the API server throttled the ") + what +
                " request (HTTP 429 Too Many Requests); retrying it in " +
                std::to_string(wait.count()) + " s";
    return out;
  }
  return back_off(describe_http(status, what), now);
}

Output WatchMachine::on_malformed(const std::string& why, TimePoint now) {
  if (in_flight_ == InFlight::kNone || now < not_before_) return ignore();
  const std::string what = in_flight_ == InFlight::kList
                               ? "the API server answered the list request with a malformed page"
                               : "the API server sent a malformed watch event";
  return back_off(what + " (" + why + ")", now);
}

WatchMachine::Phase WatchMachine::phase(TimePoint now) const {
  if (in_flight_ == InFlight::kNone) return Phase::kIdle;
  if (now < not_before_) return Phase::kWaiting;
  return in_flight_ == InFlight::kList ? Phase::kListing : Phase::kWatching;
}

std::chrono::milliseconds WatchMachine::backoff_ceiling(TimePoint now) const {
  return backoff_.ceiling(now);
}

Output WatchMachine::ask_list(std::string continue_token, milliseconds delay, TimePoint now) {
  if (continue_token.empty()) {
    ++list_generation_;
    list_resource_version_.clear();
  }
  in_flight_ = InFlight::kList;
  request_ = Request{};
  request_.kind = Request::Kind::kList;
  request_.limit = config_.page_limit;
  request_.continue_token = std::move(continue_token);
  not_before_ = now + delay;
  Output out;
  out.next = Next{request_, not_before_};
  return out;
}

Output WatchMachine::ask_watch(milliseconds delay, TimePoint now) {
  const auto min = static_cast<uint64_t>(std::max<int64_t>(config_.watch_timeout_min.count(), 0));
  const auto max = static_cast<uint64_t>(std::max<int64_t>(config_.watch_timeout_max.count(), 0));
  const uint64_t timeout = min + uniform_upto(rng_, max > min ? max - min : 0);
  in_flight_ = InFlight::kWatch;
  request_ = Request{};
  request_.kind = Request::Kind::kWatch;
  request_.resource_version = resource_version_;
  request_.timeout_seconds =
      static_cast<uint32_t>(std::min<uint64_t>(timeout, std::numeric_limits<uint32_t>::max()));
  request_.allow_watch_bookmarks = true;
  not_before_ = now + delay;
  watch_events_ = 0;
  Output out;
  out.next = Next{request_, not_before_};
  return out;
}

Output WatchMachine::ask_again(milliseconds delay, TimePoint now) {
  not_before_ = now + delay;
  watch_events_ = 0;
  Output out;
  out.next = Next{request_, not_before_};
  return out;
}

Output WatchMachine::relist(std::string why, TimePoint now) {
  ++errors_;
  ++relists_;
  ++gone_streak_;
  milliseconds delay(0);
  if (gone_streak_ >= 2) delay = draw_backoff(now);
  Output out = ask_list("", delay, now);
  out.error = std::move(why) + "; relisting from the first page";
  if (gone_streak_ >= 2) {
    out.error += " in " + ms_text(delay) + " (another 410 without watch progress since the last)";
  }
  return out;
}

Output WatchMachine::back_off(std::string why, TimePoint now) {
  ++errors_;
  const milliseconds delay = draw_backoff(now);
  Output out;
  if (in_flight_ == InFlight::kList) {
    out = ask_again(delay, now);
  } else {
    ++watch_restarts_;
    out = ask_watch(delay, now);
  }
  out.error = std::move(why) + "; keeping the last " + std::to_string(kept_) +
              " " + subject_.noun + "(s), retrying in " + ms_text(delay);
  return out;
}

milliseconds WatchMachine::draw_backoff(TimePoint now) { return backoff_.draw(now, rng_); }

void WatchMachine::note_healthy(TimePoint now) { backoff_.note_healthy(now); }

void WatchMachine::note_progress(TimePoint now) {
  note_healthy(now);
  gone_streak_ = 0;
}

bool WatchMachine::expecting(InFlight kind, TimePoint now) const {
  return in_flight_ == kind && now >= not_before_;
}

Output WatchMachine::ignore() {
  ++ignored_;
  Output out;
  out.ignored = true;
  return out;
}

}  // namespace esk8s::kube
