#include "discovery/watch_state.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

namespace esk8s::discovery {

namespace {

using std::chrono::milliseconds;

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return std::tie(a.addresses, a.ready, a.serving, a.terminating, a.hostname, a.target_kind,
                  a.target_name, a.target_namespace, a.target_uid, a.node_name, a.zone) ==
         std::tie(b.addresses, b.ready, b.serving, b.terminating, b.hostname, b.target_kind,
                  b.target_name, b.target_namespace, b.target_uid, b.node_name, b.zone);
}

bool same_port(const EndpointPort& a, const EndpointPort& b) {
  return std::tie(a.name, a.port, a.protocol) == std::tie(b.name, b.port, b.protocol);
}

bool same_slice(const EndpointSlice& a, const EndpointSlice& b) {
  return std::tie(a.name, a.namespace_name, a.service_name, a.address_type, a.resource_version) ==
             std::tie(b.name, b.namespace_name, b.service_name, b.address_type,
                      b.resource_version) &&
         std::equal(a.endpoints.begin(), a.endpoints.end(), b.endpoints.begin(), b.endpoints.end(),
                    same_endpoint) &&
         std::equal(a.ports.begin(), a.ports.end(), b.ports.begin(), b.ports.end(), same_port);
}

bool same_set(const std::map<std::string, EndpointSlice>& a,
              const std::map<std::string, EndpointSlice>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.first == y.first && same_slice(x.second, y.second);
  });
}

// Uniform in [0, bound]. Hand-rolled (rejection sampling) rather than a std distribution, whose
// output differs between standard libraries: the same seed gives the same delays everywhere.
uint64_t uniform_upto(std::mt19937_64& rng, uint64_t bound) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (bound == kMax) return rng();
  const uint64_t range = bound + 1;
  const uint64_t accept_below = kMax - kMax % range;  // a multiple of range
  uint64_t r = rng();
  while (r >= accept_below) r = rng();
  return r % range;
}

bool is_gone(const ApiStatus& s) {
  return s.code == 410 || s.reason == "Expired" || s.reason == "Gone";
}

std::string describe_http(int status, const char* what) {
  const std::string req = std::string("the ") + what + " request";
  if (status == 0) return req + " got no response (connection error or timeout)";
  if (status == 401) {
    return "the API server rejected " + req +
           " with HTTP 401 Unauthorized (the service-account token is missing, expired or "
           "invalid; it is re-read before the retry)";
  }
  if (status == 403) {
    return "the API server rejected " + req +
           " with HTTP 403 Forbidden (the service account may lack list/watch on "
           "endpointslices.discovery.k8s.io in this namespace)";
  }
  if (status >= 500 && status <= 599) {
    return req + " failed with HTTP " + std::to_string(status) + " (server error)";
  }
  return req + " failed with HTTP " + std::to_string(status);
}

}  // namespace

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

WatchState::WatchState(WatchConfig config, uint64_t seed)
    : config_(std::move(config)), rng_(seed) {}

Output WatchState::start(TimePoint now) {
  if (started_) ++relists_;
  started_ = true;
  return ask_list("", milliseconds(0), now);
}

Output WatchState::on_list_page(const SliceList& page, TimePoint now) {
  if (!expecting(InFlight::kList, now)) return ignore();
  note_healthy(now);
  for (const EndpointSlice& s : page.items) {
    if (!s.name.empty()) pending_[s.name] = s;
  }
  if (!page.resource_version.empty()) list_resource_version_ = page.resource_version;
  if (!page.continue_token.empty()) return ask_list(page.continue_token, milliseconds(0), now);

  // The last page: the list is complete, replace the set in one step.
  const bool changed = !synced_ || !same_set(slices_, pending_);
  slices_ = std::move(pending_);
  pending_.clear();
  synced_ = true;
  resource_version_ = list_resource_version_;
  Output out = ask_watch(milliseconds(0), now);
  out.slices_changed = changed;
  return out;
}

Output WatchState::on_event(const SliceEvent& ev, TimePoint now) {
  if (!expecting(InFlight::kWatch, now)) return ignore();
  if (ev.type == EventType::kError) {
    const std::string why = "the watch delivered an ERROR event (code " +
                            std::to_string(ev.status.code) + ", reason \"" + ev.status.reason +
                            "\": " + ev.status.message + ")";
    return is_gone(ev.status) ? relist(why, now) : back_off(why, now);
  }

  ++watch_events_;
  note_progress(now);
  const std::string& rv =
      ev.resource_version.empty() ? ev.slice.resource_version : ev.resource_version;
  if (!rv.empty()) resource_version_ = rv;

  Output out;
  const std::string& name = ev.slice.name;
  switch (ev.type) {
    case EventType::kAdded:
    case EventType::kModified: {
      if (name.empty()) break;
      auto it = slices_.find(name);
      if (it == slices_.end()) {
        slices_.emplace(name, ev.slice);
        out.slices_changed = true;
      } else if (!same_slice(it->second, ev.slice)) {
        it->second = ev.slice;
        out.slices_changed = true;
      }
      break;
    }
    case EventType::kDeleted:
      out.slices_changed = !name.empty() && slices_.erase(name) > 0;
      break;
    case EventType::kBookmark:
    case EventType::kError:
      break;
  }
  return out;
}

Output WatchState::on_watch_end(TimePoint now) {
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

Output WatchState::on_http_error(int status, std::optional<std::chrono::seconds> retry_after,
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
    const std::chrono::seconds wait =
        std::max(retry_after.value_or(std::chrono::seconds(1)), std::chrono::seconds(0));
    if (in_flight_ == InFlight::kWatch) ++watch_restarts_;
    Output out = ask_again(wait, now);
    out.error = std::string("the API server throttled the ") + what +
                " request (HTTP 429 Too Many Requests); retrying it in " +
                std::to_string(wait.count()) + " s";
    return out;
  }
  return back_off(describe_http(status, what), now);
}

Output WatchState::on_malformed(const std::string& why, TimePoint now) {
  if (in_flight_ == InFlight::kNone || now < not_before_) return ignore();
  const std::string what = in_flight_ == InFlight::kList
                               ? "the API server answered the list request with a malformed page"
                               : "the API server sent a malformed watch event";
  return back_off(what + " (" + why + ")", now);
}

WatchState::Phase WatchState::phase(TimePoint now) const {
  if (in_flight_ == InFlight::kNone) return Phase::kIdle;
  if (now < not_before_) return Phase::kWaiting;
  return in_flight_ == InFlight::kList ? Phase::kListing : Phase::kWatching;
}

std::chrono::milliseconds WatchState::backoff_ceiling(TimePoint now) const {
  const double cap = static_cast<double>(config_.backoff_cap.count());
  double bound = static_cast<double>(config_.backoff_initial.count()) *
                 std::pow(config_.backoff_factor, static_cast<double>(effective_exponent(now)));
  if (!(bound < cap)) bound = cap;  // also catches overflow to infinity
  return milliseconds(static_cast<int64_t>(bound));
}

Output WatchState::ask_list(std::string continue_token, milliseconds delay, TimePoint now) {
  if (continue_token.empty()) {
    pending_.clear();
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

Output WatchState::ask_watch(milliseconds delay, TimePoint now) {
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

Output WatchState::ask_again(milliseconds delay, TimePoint now) {
  not_before_ = now + delay;
  watch_events_ = 0;
  Output out;
  out.next = Next{request_, not_before_};
  return out;
}

Output WatchState::relist(std::string why, TimePoint now) {
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

Output WatchState::back_off(std::string why, TimePoint now) {
  ++errors_;
  const milliseconds delay = draw_backoff(now);
  Output out;
  if (in_flight_ == InFlight::kList) {
    out = ask_again(delay, now);
  } else {
    ++watch_restarts_;
    out = ask_watch(delay, now);
  }
  out.error = std::move(why) + "; keeping the last " + std::to_string(slices_.size()) +
              " slice(s), retrying in " + ms_text(delay);
  return out;
}

uint32_t WatchState::effective_exponent(TimePoint now) const {
  if (healthy_since_ && now - *healthy_since_ >= config_.backoff_reset_after) return 0;
  return backoff_n_;
}

milliseconds WatchState::draw_backoff(TimePoint now) {
  backoff_n_ = effective_exponent(now);
  const milliseconds ceiling = backoff_ceiling(now);
  const auto bound = static_cast<uint64_t>(std::max<int64_t>(ceiling.count(), 0));
  const milliseconds delay(static_cast<int64_t>(uniform_upto(rng_, bound)));
  if (ceiling < config_.backoff_cap && backoff_n_ < std::numeric_limits<uint32_t>::max()) {
    ++backoff_n_;
  }
  healthy_since_.reset();
  return delay;
}

void WatchState::note_healthy(TimePoint now) {
  if (!healthy_since_) healthy_since_ = now;
}

void WatchState::note_progress(TimePoint now) {
  note_healthy(now);
  gone_streak_ = 0;
}

bool WatchState::expecting(InFlight kind, TimePoint now) const {
  return in_flight_ == kind && now >= not_before_;
}

Output WatchState::ignore() {
  ++ignored_;
  Output out;
  out.ignored = true;
  return out;
}

}  // namespace esk8s::discovery
