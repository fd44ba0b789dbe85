// WatchState<Object>: the list/watch state machine for one collection of Kubernetes objects
// (the EndpointSlices of a service in a namespace, the one CertificateSigningRequest a node
// waits for, ...), with client-go reflector semantics and no I/O (etcd/raft style). The driver
// performs the HTTP requests and feeds their results in; the machine answers with the next
// request to make (and when), and keeps the current object set. Time is an argument and the
// only randomness (backoff jitter, watch timeouts) comes from a generator seeded in the
// constructor, so the same seed and the same inputs always produce the same outputs.
//
// States (named after the request the machine has asked for; WAITING while its not_before is
// still ahead):
//
//            start()                   page with a continue token: the next page, at once
//   IDLE -------------> LISTING -----+
//                        ^  |  ^     |
//                        |  |  +-----+
//   410 (HTTP status or  |  | last page: replace the object set atomically, then
//   ERROR event 410/     |  | watch from the list's resourceVersion, at once
//   Expired/Gone):       |  v
//   page 1, at once     WATCHING ----+ event/bookmark: resourceVersion advances;
//                        ^  |  ^     | clean end: re-watch from it, at once
//                        |  |  +-----+
//   not_before reached:  |  | 5xx, 0, 401, 403, other 4xx, other ERROR event, short watch,
//                        |  | malformed event:
//   re-watch from the    |  | backoff with full jitter; 429: Retry-After
//   last resourceVersion |  v
//                       WAITING
//
// LISTING has its own WAITING: a list error other than 410 waits (backoff or Retry-After), then
// retries the current page.
//
// Errors never empty the object set: an outage keeps the last known objects until a complete
// list or watch events say otherwise.
//
// Driver contract: at most one request is in flight. Whenever an Output carries `next`, the
// driver abandons the current request or stream (inputs from it must not be fed any more),
// waits until `next->not_before` and issues `next->request`. Inputs that do not fit the request
// in flight (an event while listing, anything before `not_before` or before start()) are
// ignored: they change nothing and return an Output with `ignored` set.
//
// The object type is a template argument; what the machine needs to know about it comes from
// its traits (ObjectTraits<Object> unless another traits type is given):
//   static std::string key(const Object&)          identity in the set (the name; empty: skipped)
//   static std::string resource_version(const Object&)  its metadata.resourceVersion
//   static bool same(const Object&, const Object&)  equal for the purpose of "changed"
//   static constexpr const char* kNoun              "slice": for messages ("2 slice(s)")
//   static constexpr const char* kResource          "endpointslices.discovery.k8s.io": for 403s
// Everything but the object set lives in the non-template WatchMachine (watch_state.cc).
//
// Thread-safety: none; a plain value. Use one instance from one thread (or one strand).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kube/backoff.h"

namespace esk8s::kube {

// A Kubernetes Status (from an ERROR watch event or an error response body).
struct ApiStatus {
  int code = 0;
  std::string reason;  // "Expired", "Gone", "Forbidden", ...
  std::string message;
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };

// One decoded watch event.
template <class Object>
struct WatchEvent {
  EventType type = EventType::kAdded;
  Object object;                 // ADDED/MODIFIED/DELETED
  std::string resource_version;  // every type but ERROR: the object's metadata.resourceVersion
  ApiStatus status;              // ERROR
};

// One decoded list response page.
template <class Object>
struct ListPage {
  std::vector<Object> items;
  std::string resource_version;  // metadata.resourceVersion of the list
  std::string continue_token;    // metadata.continue; empty on the last page
};

// Specialise (or pass another traits type to WatchState) for each object type; see the header
// comment for what it provides.
template <class Object>
struct ObjectTraits;

struct WatchConfig {
  // Upper bound of the first retry delay after an error (full jitter: the delay is drawn
  // uniformly from [0, bound]). client-go's reflector uses 800 ms.
  std::chrono::milliseconds backoff_initial{800};
  // The bound grows as backoff_initial * backoff_factor^n for the n-th consecutive error
  // (n from 0). Must be >= 1.
  double backoff_factor = 2.0;
  // The bound never exceeds this. Trade-off: a larger cap spares a struggling API server, but
  // delays recovery after an outage by up to the cap.
  std::chrono::milliseconds backoff_cap{30000};
  // Healthy this long (a success after the last error, and no error since) -> n resets to 0.
  std::chrono::milliseconds backoff_reset_after{120000};
  // Every watch asks the server to end it after timeoutSeconds drawn uniformly from
  // [watch_timeout_min, watch_timeout_max] (whole seconds), so that many clients do not
  // reconnect in lockstep. client-go draws from [5 min, 10 min).
  std::chrono::seconds watch_timeout_min{300};
  std::chrono::seconds watch_timeout_max{600};
  // A watch that ends cleanly sooner than this after it was issued, having delivered no event
  // (bookmarks count as events), is treated as an error and backs off: a server that closes
  // watches at once would otherwise be hammered.
  std::chrono::milliseconds short_watch{1000};
  // `limit` of each list page (pagination). Must be >= 1.
  uint32_t page_limit = 500;

  // Ok, or a config error whose sentence names the bad field and its value.
  Status validate() const;
};

struct Request {
  enum class Kind { kList, kWatch };
  Kind kind = Kind::kList;
  // kList: the page size (?limit=) and the continue token of the page to fetch (empty for the
  // first page). A list never sets resourceVersion: it is a consistent read from the server.
  uint32_t limit = 0;
  std::string continue_token;
  // kWatch: resume point (?resourceVersion=), the server-side timeout (?timeoutSeconds=, within
  // [watch_timeout_min, watch_timeout_max]) and ?allowWatchBookmarks= (always true).
  std::string resource_version;
  uint32_t timeout_seconds = 0;
  bool allow_watch_bookmarks = true;
};

// What the driver should do next: issue `request` at or after `not_before` (== the input's `now`
// when there is no wait).
struct Next {
  Request request;
  std::chrono::steady_clock::time_point not_before;
};

struct Output {
  // Set whenever the driver must (re)issue a request; empty while the request in flight goes on
  // (e.g. after an ordinary watch event) or when the input was ignored.
  std::optional<Next> next;
  // The object set changed: recompute what depends on items(). Also true when this input
  // completed the first list, even if the set is empty, so the driver publishes its first view.
  bool items_changed = false;
  // A sentence for the logs when this input was an error (HTTP error, ERROR event, short
  // watch), else empty.
  std::string error;
  // The input did not fit the request in flight and changed nothing (see the driver contract).
  bool ignored = false;
};

// What the messages call the objects and the resource (see the header comment).
struct WatchSubject {
  const char* noun = "object";
  const char* resource = "the watched resource";
};

// The part of the machine that does not depend on the object type: requests, resume points,
// backoff, counters. WatchState<Object> adds the object set.
class WatchMachine {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  enum class Phase {
    kIdle,      // before start()
    kWaiting,   // a request was asked for but its not_before is still ahead
    kListing,   // a list page is in flight
    kWatching,  // a watch stream is open
  };

  // The watch stream ended cleanly (timeoutSeconds elapsed, the server closed it). Re-watches
  // from resource_version() at once, without relisting -- unless the watch lasted less than
  // short_watch and delivered no event, which counts as an error and backs off. Ignored unless a
  // watch is in flight.
  Output on_watch_end(TimePoint now);

  // The request in flight failed. `status` is the HTTP code, or 0 for a connection error or
  // timeout; `retry_after` the Retry-After header if any.
  //   410     -> relist from scratch (no continue token, partial pages dropped) at once.
  //   429     -> the same request again after Retry-After (1 s when absent, negative taken as
  //              0); backoff does not grow.
  //   other   -> (5xx, 0, 401, 403, other 4xx) backoff with full jitter, then the same kind of
  //              request: a list retries its current page, a watch resumes from
  //              resource_version(). 401/403 are never "no objects": the driver re-reads its
  //              token, the objects are kept.
  // A repeated 410 with no progress in between (no watch event, no clean watch end) backs off
  // like a 5xx instead of relisting at once, so a server that keeps answering 410 is not
  // hammered. Ignored before start() and while waiting.
  Output on_http_error(int status, std::optional<std::chrono::seconds> retry_after, TimePoint now);

  // The request in flight was answered (HTTP 2xx) but its content cannot be used: a list page
  // or a watch line that is malformed or too large. `why` says what was wrong with it (the
  // parser's sentence). Not an HTTP error and not a connection error: the output's error names
  // the malformed response. Backs off like a 5xx, then a list retries its current page and a
  // watch resumes from resource_version() (the last good event). Ignored unless a request is in
  // flight and its wait is over.
  Output on_malformed(const std::string& why, TimePoint now);

  // --- Observations ---

  // A complete list has been received at least once.
  bool synced() const { return synced_; }
  // Where the next watch resumes: the last list's, event's or bookmark's resourceVersion.
  const std::string& resource_version() const { return resource_version_; }
  Phase phase(TimePoint now) const;
  // Lists restarted from scratch after the first one (410s, repeated start()).
  uint64_t relists() const { return relists_; }
  // Watches issued again without a relist (clean end, error, short watch, 429).
  uint64_t watch_restarts() const { return watch_restarts_; }
  // Inputs that were errors (HTTP errors of any code, ERROR events, short watches, malformed
  // responses).
  uint64_t errors() const { return errors_; }
  // Inputs ignored because they did not fit the request in flight.
  uint64_t ignored() const { return ignored_; }
  // The upper bound of the delay that a backoff-counted error at `now` would draw from:
  // min(backoff_cap, backoff_initial * backoff_factor^n), n reset if healthy long enough.
  std::chrono::milliseconds backoff_ceiling(TimePoint now) const;

 protected:
  // REQUIRES: config.validate().is_ok().
  WatchMachine(WatchConfig config, uint64_t seed, WatchSubject subject);

  // For WatchState<Object>: the object-free halves of its inputs.
  Output begin(TimePoint now);  // start()
  bool expecting_list(TimePoint now) const { return expecting(InFlight::kList, now); }
  bool expecting_watch(TimePoint now) const { return expecting(InFlight::kWatch, now); }
  // A page of the list in flight was received. Returns the output for a page with a continue
  // token (the next page); for the last page it marks synced, resumes from the list's
  // resourceVersion and asks for a watch, and sets `complete`.
  Output list_page(const std::string& resource_version, const std::string& continue_token,
                   TimePoint now, bool& complete);
  // An ERROR watch event: relist on 410/Expired/Gone, else back off.
  Output error_event(const ApiStatus& status, TimePoint now);
  // A non-ERROR watch event: progress, resume point advanced to `rv` when non-empty.
  void watch_progress(const std::string& rv, TimePoint now);
  Output ignore();
  // Incremented whenever a list restarts from page 1: pages kept aside for an older list are
  // to be dropped.
  uint64_t list_generation() const { return list_generation_; }
  // The number of objects held, for messages ("keeping the last N slice(s)").
  void set_kept(size_t n) { kept_ = n; }

 private:
  enum class InFlight { kNone, kList, kWatch };

  // Ask for the list page `continue_token` (empty: first page) after `delay`.
  Output ask_list(std::string continue_token, std::chrono::milliseconds delay, TimePoint now);
  // Ask for a fresh watch from resource_version_ after `delay`.
  Output ask_watch(std::chrono::milliseconds delay, TimePoint now);
  // Ask for the request in flight again, unchanged, after `delay`.
  Output ask_again(std::chrono::milliseconds delay, TimePoint now);
  // Drop partial pages and ask for page 1 at once (or after a backoff for a repeated 410).
  Output relist(std::string why, TimePoint now);
  // Count an error toward backoff and retry the same kind of request after the drawn delay.
  Output back_off(std::string why, TimePoint now);
  std::chrono::milliseconds draw_backoff(TimePoint now);
  void note_healthy(TimePoint now);
  void note_progress(TimePoint now);  // a watch made progress: healthy, 410 streak over
  // An input is expected only when a request of `kind` is in flight and its wait is over.
  bool expecting(InFlight kind, TimePoint now) const;
  std::string describe_http(int status, const char* what) const;

  WatchConfig config_;
  WatchSubject subject_;
  std::mt19937_64 rng_;
  Backoff backoff_;

  InFlight in_flight_ = InFlight::kNone;
  Request request_;       // the request last asked for
  TimePoint not_before_;  // ... and when

  std::string list_resource_version_;  // last non-empty resourceVersion of the pages
  uint64_t list_generation_ = 0;       // lists started from page 1
  uint64_t watch_events_ = 0;          // events delivered by the watch in flight

  bool synced_ = false;
  bool started_ = false;
  std::string resource_version_;
  size_t kept_ = 0;

  uint32_t gone_streak_ = 0;                // 410s since the last watch progress

  uint64_t relists_ = 0;
  uint64_t watch_restarts_ = 0;
  uint64_t errors_ = 0;
  uint64_t ignored_ = 0;
};

template <class Object, class Traits = ObjectTraits<Object>>
class WatchState : public WatchMachine {
 public:
  // REQUIRES: config.validate().is_ok(). `seed` drives all jitter; equal seeds and inputs give
  // equal outputs.
  WatchState(WatchConfig config, uint64_t seed)
      : WatchMachine(std::move(config), seed, WatchSubject{Traits::kNoun, Traits::kResource}) {}

  // Asks for the first list page at `now`. Calling it again restarts from a fresh list (counted
  // as a relist); the object set is kept until that list completes.
  Output start(TimePoint now) { return begin(now); }

  // A list page arrived. With a continue token: asks for the next page at once and keeps the
  // items aside. On the last page: replaces the object set with all pages' items atomically
  // (an object missing from the new list is removed), marks synced, and asks for a watch from
  // the list's resourceVersion at once. Ignored unless a list is in flight.
  Output on_list_page(const ListPage<Object>& page, TimePoint now) {
    if (!expecting_list(now)) return ignore();
    if (pending_generation_ != list_generation()) {
      pending_.clear();
      pending_generation_ = list_generation();
    }
    for (const Object& o : page.items) {
      std::string key = Traits::key(o);
      if (!key.empty()) pending_[std::move(key)] = o;
    }
    const bool first = !synced();
    bool complete = false;
    Output out = list_page(page.resource_version, page.continue_token, now, complete);
    if (!complete) return out;
    // The last page: the list is complete, replace the set in one step.
    out.items_changed = first || !same_set(items_, pending_);
    items_ = std::move(pending_);
    pending_.clear();
    set_kept(items_.size());
    return out;
  }

  // A watch event arrived. ADDED/MODIFIED upsert the object by key, DELETED erases it, BOOKMARK
  // only advances resource_version(); each advances resource_version() to the event's.
  // ERROR with code 410 or reason Expired/Gone -> relist at once; any other ERROR -> backoff,
  // then re-watch from resource_version(). Ignored unless a watch is in flight.
  Output on_event(const WatchEvent<Object>& ev, TimePoint now) {
    if (!expecting_watch(now)) return ignore();
    if (ev.type == EventType::kError) return error_event(ev.status, now);
    watch_progress(ev.resource_version, now);
    Output out;
    if (ev.type == EventType::kBookmark) return out;
    const std::string key = Traits::key(ev.object);
    if (key.empty()) return out;
    if (ev.type == EventType::kDeleted) {
      out.items_changed = items_.erase(key) > 0;
    } else if (auto it = items_.find(key); it == items_.end()) {
      items_.emplace(key, ev.object);
      out.items_changed = true;
    } else if (!Traits::same(it->second, ev.object)) {
      it->second = ev.object;
      out.items_changed = true;
    }
    set_kept(items_.size());
    return out;
  }

  // The current object set, by key. Kept across errors: an outage never empties it.
  const std::map<std::string, Object>& items() const { return items_; }

 private:
  static bool same_set(const std::map<std::string, Object>& a,
                       const std::map<std::string, Object>& b) {
    if (a.size() != b.size()) return false;
    for (auto x = a.begin(), y = b.begin(); x != a.end(); ++x, ++y) {
      if (x->first != y->first || !Traits::same(x->second, y->second)) return false;
    }
    return true;
  }

  std::map<std::string, Object> pending_;  // items of the pages of the list in flight
  uint64_t pending_generation_ = 0;        // the list generation pending_ belongs to
  std::map<std::string, Object> items_;
};

}  // namespace esk8s::kube
