// WatchState: the list/watch state machine for the EndpointSlices of one service in one namespace,
// with client-go reflector semantics and no I/O (etcd/raft style). The driver performs the HTTP
// requests and feeds their results in; the machine answers with the next request to make (and
// when), and keeps the current slice set. Time is an argument and the only randomness (backoff
// jitter, watch timeouts) comes from a generator seeded in the constructor, so the same seed and
// the same inputs always produce the same outputs.
//
// States (named after the request the machine has asked for; WAITING while its not_before is
// still ahead):
//
//            start()                   page with a continue token: the next page, at once
//   IDLE -------------> LISTING -----+
//                        ^  |  ^     |
//                        |  |  +-----+
//   410 (HTTP status or  |  | last page: replace the slice set atomically, then
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
// Errors never empty the slice set: an outage keeps the last known slices until a complete list
// or watch events say otherwise.
//
// Driver contract: at most one request is in flight. Whenever an Output carries `next`, the
// driver abandons the current request or stream (inputs from it must not be fed any more),
// waits until `next->not_before` and issues `next->request`. Inputs that do not fit the request
// in flight (an event while listing, anything before `not_before` or before start()) are
// ignored: they change nothing and return an Output with `ignored` set.
//
// Thread-safety: none; a plain value. Use one instance from one thread (or one strand).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "common/status.h"
#include "discovery/endpointslice.h"

namespace esk8s::discovery {

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
  // The slice set changed: recompute peers from slices(). Also true when this input completed
  // the first list, even if the set is empty, so the driver publishes its first view.
  bool slices_changed = false;
  // A sentence for the logs when this input was an error (HTTP error, ERROR event, short
  // watch), else empty.
  std::string error;
  // The input did not fit the request in flight and changed nothing (see the driver contract).
  bool ignored = false;
};

class WatchState {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  enum class Phase {
    kIdle,      // before start()
    kWaiting,   // a request was asked for but its not_before is still ahead
    kListing,   // a list page is in flight
    kWatching,  // a watch stream is open
  };

  // REQUIRES: config.validate().is_ok(). `seed` drives all jitter; equal seeds and inputs give
  // equal outputs.
  WatchState(WatchConfig config, uint64_t seed);

  // Asks for the first list page at `now`. Calling it again restarts from a fresh list (counted
  // as a relist); the slice set is kept until that list completes.
  Output start(TimePoint now);

  // A list page arrived. With a continue token: asks for the next page at once and keeps the
  // items aside. On the last page: replaces the slice set with all pages' items atomically
  // (a slice missing from the new list is removed), marks synced, and asks for a watch from the
  // list's resourceVersion at once. Ignored unless a list is in flight.
  Output on_list_page(const SliceList& page, TimePoint now);

  // A watch event arrived. ADDED/MODIFIED upsert the slice by name, DELETED erases it, BOOKMARK
  // only advances resource_version(); each advances resource_version() to the event's.
  // ERROR with code 410 or reason Expired/Gone -> relist at once; any other ERROR -> backoff,
  // then re-watch from resource_version(). Ignored unless a watch is in flight.
  Output on_event(const SliceEvent& ev, TimePoint now);

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
  //              resource_version(). 401/403 are never "no peers": the driver re-reads its
  //              token, the slices are kept.
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

  // The current slice set, by slice name. Kept across errors: an outage never empties it.
  const std::map<std::string, EndpointSlice>& slices() const { return slices_; }
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
  // The n used for the next backoff at `now` (after the reset rule).
  uint32_t effective_exponent(TimePoint now) const;
  std::chrono::milliseconds draw_backoff(TimePoint now);
  void note_healthy(TimePoint now);
  void note_progress(TimePoint now);  // a watch made progress: healthy, 410 streak over
  // An input is expected only when a request of `kind` is in flight and its wait is over.
  bool expecting(InFlight kind, TimePoint now) const;
  Output ignore();

  WatchConfig config_;
  std::mt19937_64 rng_;

  InFlight in_flight_ = InFlight::kNone;
  Request request_;       // the request last asked for
  TimePoint not_before_;  // ... and when

  std::map<std::string, EndpointSlice> pending_;  // items of the pages of the list in flight
  std::string list_resource_version_;             // last non-empty resourceVersion of the pages
  uint64_t watch_events_ = 0;                     // events delivered by the watch in flight

  std::map<std::string, EndpointSlice> slices_;
  bool synced_ = false;
  bool started_ = false;
  std::string resource_version_;

  uint32_t backoff_n_ = 0;                  // consecutive backoff-counted errors
  std::optional<TimePoint> healthy_since_;  // first success after the last counted error
  uint32_t gone_streak_ = 0;                // 410s since the last watch progress

  uint64_t relists_ = 0;
  uint64_t watch_restarts_ = 0;
  uint64_t errors_ = 0;
  uint64_t ignored_ = 0;
};

}  // namespace esk8s::discovery
