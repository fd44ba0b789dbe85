#include "plugin/event_recorder.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/rfc3339.h"

namespace esk8s::plugin {

using nlohmann::json;

namespace {

// The API's limits (k8s.io/kubernetes pkg/apis/core/validation/events.go).
constexpr size_t kNoteLimit = 1024;
constexpr size_t kReportingInstanceLimit = 128;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string_view to_string(EventType t) { return t == EventType::kWarning ? "Warning" : "Normal"; }

EventRecorder::EventRecorder(EventRecorderSettings settings)
    : settings_(std::move(settings)),
      credit_(std::chrono::nanoseconds(settings_.refill_every) * std::max(settings_.burst, 0)) {
  if (settings_.instance.size() > kReportingInstanceLimit)
    settings_.instance.resize(kReportingInstanceLimit);
  settings_.max_keys = std::max<size_t>(settings_.max_keys, 1);
}

int64_t EventRecorder::count_of(const EventOccurrence& e) const {
  auto it = by_key_.find(Key{e.type, e.reason, e.action, e.note});
  return it == by_key_.end() ? 0 : entries_.at(it->second).count;
}

std::optional<EventWrite> EventRecorder::record(const EventOccurrence& occurrence, Time now) {
  ++stats_.occurrences;
  Key key{occurrence.type, occurrence.reason, occurrence.action, occurrence.note};
  auto found = by_key_.find(key);
  if (found == by_key_.end()) {
    Entry e;
    e.id = next_id_++;
    e.key = key;
    e.occurrence = occurrence;
    // Escaped (valid UTF-8, no control characters) and within the API's limit with the marker.
    e.occurrence.note = escape_untrusted(occurrence.note, kNoteLimit - 32);
    e.event_time = now;
    e.last_observed = now;
    e.count = 1;
    lru_.push_back(e.id);
    e.lru = std::prev(lru_.end());
    by_key_[key] = e.id;
    const uint64_t id = e.id;
    entries_.emplace(id, std::move(e));
    evict_beyond_cap();
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;  // every older key is being written
    return maybe_write(it->second, now);
  }
  Entry& e = entries_.at(found->second);
  ++e.count;
  e.last_observed = std::max(e.last_observed, now);
  touch(e);
  return maybe_write(e, now);
}

std::vector<EventWrite> EventRecorder::tick(Time now) {
  std::vector<EventWrite> out;
  std::vector<uint64_t> finished;
  for (uint64_t id : lru_) {  // oldest first: a starved key is served before newer ones
    Entry& e = entries_.at(id);
    if (auto w = maybe_write(e, now)) out.push_back(std::move(*w));
    // Finished: no occurrence for series_finish and the API has the final count. A key that
    // cannot be written yet (paused, failing) stays until it is, within the LRU bound.
    if (!e.in_flight && e.created && e.written == e.count &&
        now - e.last_observed >= settings_.series_finish)
      finished.push_back(id);
  }
  for (uint64_t id : finished) erase(id);
  return out;
}

std::optional<EventWrite> EventRecorder::maybe_write(Entry& e, Time now) {
  if (e.in_flight || e.count == e.written || paused(now) || now < e.not_before) return std::nullopt;
  // Created, and the series already started: wait for the heartbeat, unless the series is over
  // (then its final count goes out now).
  const bool series_running = e.created && e.written >= 2;
  const bool finished = now - e.last_observed >= settings_.series_finish;
  if (series_running && !finished && now - e.last_write < settings_.series_heartbeat)
    return std::nullopt;
  if (!take_token(now)) return std::nullopt;
  EventWrite w;
  w.entry = e.id;
  w.count = e.count;
  if (e.created) {
    w.kind = EventWrite::Kind::kPatch;
    w.path = event_path(e.name);
    w.body = dump(json{{"series",
                        {{"count", e.count},
                         {"lastObservedTime", format_rfc3339(e.last_observed, 6)}}}});
    ++stats_.patches;
  } else {
    if (e.name.empty()) e.name = new_name(e.event_time);
    w.kind = EventWrite::Kind::kCreate;
    w.path = event_path("");
    w.body = create_body(e);
    ++stats_.creates;
  }
  e.in_flight = true;
  return w;
}

WriteOutcome EventRecorder::on_result(const EventWrite& w, int status, Time now) {
  auto it = entries_.find(w.entry);
  Entry* e = it == entries_.end() ? nullptr : &it->second;
  if (e) e->in_flight = false;
  if (status >= 200 && status < 300) {
    forbidden_reported_ = false;
    if (e) {
      e->created = true;
      e->written = std::max(e->written, w.count);
      e->last_write = now;
    }
    return WriteOutcome::kDone;
  }
  if (status == 403) {
    ++stats_.forbidden;
    paused_until_ = now + settings_.forbidden_pause;
    if (forbidden_reported_) return WriteOutcome::kForbidden;
    forbidden_reported_ = true;
    return WriteOutcome::kForbiddenFirst;
  }
  if (status == 404 && w.kind == EventWrite::Kind::kPatch) {
    // The Event is gone (its TTL, one hour by default, or deleted): create it again, series and
    // all, as client-go does.
    if (e) {
      e->created = false;
      e->written = 0;
      e->name.clear();
    }
    return WriteOutcome::kRetry;
  }
  if (status == 409 && w.kind == EventWrite::Kind::kCreate) {
    // The name is taken (another process of this pod drew the same one): a new name.
    if (e) e->name.clear();
    return WriteOutcome::kRetry;
  }
  if (status == 0 || status == 429 || status >= 500 || status == 401) {
    if (e) e->not_before = now + settings_.retry_after_error;
    return WriteOutcome::kRetry;
  }
  ++stats_.rejected;
  if (e) erase(e->id);
  return WriteOutcome::kRejected;
}

bool EventRecorder::take_token(Time now) {
  // The bucket in time units (exact): a token is `refill_every` of credit.
  const std::chrono::nanoseconds token = std::max<std::chrono::nanoseconds>(
      settings_.refill_every, std::chrono::nanoseconds(1));
  if (refilled_at_ == Time{}) refilled_at_ = now;
  if (now > refilled_at_)
    credit_ = std::min(credit_ + (now - refilled_at_), token * settings_.burst);
  refilled_at_ = now;  // a clock that goes back refills nothing
  if (credit_ < token) return false;
  credit_ -= token;
  return true;
}

std::string EventRecorder::new_name(Time now) {
  // client-go's GenerateEventName: "<regarding name>.<unix nanoseconds in hex>", made strictly
  // increasing here so two Events of one process never share a name.
  int64_t nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  nanos = std::max(nanos, last_name_nanos_ + 1);
  last_name_nanos_ = nanos;
  char hex[32];
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(nanos));
  return settings_.regarding.name + "." + hex;
}

std::string EventRecorder::event_path(const std::string& name) const {
  std::string p = "/apis/events.k8s.io/v1/namespaces/" + settings_.regarding.namespace_name +
                  "/events";
  return name.empty() ? p : p + "/" + name;
}

std::string EventRecorder::create_body(const Entry& e) const {
  const ObjectRef& r = settings_.regarding;
  json regarding = {{"apiVersion", r.api_version},
                    {"kind", r.kind},
                    {"namespace", r.namespace_name},
                    {"name", r.name}};
  if (!r.uid.empty()) regarding["uid"] = r.uid;
  json body = {{"apiVersion", "events.k8s.io/v1"},
               {"kind", "Event"},
               {"metadata", {{"name", e.name}, {"namespace", r.namespace_name}}},
               {"eventTime", format_rfc3339(e.event_time, 6)},
               {"reportingController", settings_.controller},
               {"reportingInstance", settings_.instance},
               {"action", e.occurrence.action},
               {"reason", e.occurrence.reason},
               {"regarding", regarding},
               {"note", e.occurrence.note},
               {"type", std::string(to_string(e.occurrence.type))}};
  // A series the API never saw (the create was deferred or the Event vanished) starts whole.
  if (e.count >= 2) {
    body["series"] = {{"count", e.count},
                      {"lastObservedTime", format_rfc3339(e.last_observed, 6)}};
  }
  return dump(body);
}

void EventRecorder::touch(Entry& e) { lru_.splice(lru_.end(), lru_, e.lru); }

void EventRecorder::evict_beyond_cap() {
  // The least recently used key that is not being written goes first.
  for (auto it = lru_.begin(); entries_.size() > settings_.max_keys && it != lru_.end();) {
    const Entry& e = entries_.at(*it);
    ++it;
    if (e.in_flight) continue;
    ++stats_.evicted;
    if (e.count != e.written) ++stats_.evicted_unwritten;
    erase(e.id);
  }
}

void EventRecorder::erase(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  by_key_.erase(it->second.key);
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

}  // namespace esk8s::plugin
