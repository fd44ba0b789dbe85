// Kubernetes Events (events.k8s.io/v1) about this member, without I/O: occurrences in, API
// writes out (plugin/event_worker.h sends them). `kubectl describe pod <member>` then shows what
// the plugin saw.
//
// Aggregation, as client-go's tools/events recorder does it: occurrences with the same
// (type, reason, action, note) about the same object are one Event. The first occurrence creates
// it; the second starts its `series` {count: 2, lastObservedTime} at once; later ones only count,
// and the series is written again at most every `series_heartbeat` (and once more when it ends).
// A key without an occurrence for `series_finish` is forgotten: the next occurrence is a new
// Event. Counts are never lost to rate limiting, only delayed: a series write carries the total.
//
// Rate limit, as client-go's spam filter for one source and object: a token bucket of `burst`
// writes, refilled with one token every `refill_every`. Every create and patch takes a token;
// occurrences never do, so a flapping network costs at most burst + elapsed / refill_every
// writes whatever the number of flaps. The cache of keys is an LRU of at most `max_keys`.
//
// A 403 pauses every write for `forbidden_pause` (counts go on); on_result says when it is the
// first 403 since the last success, so the caller logs the missing permission once.
//
// Thread-safety: none; a plain value, used by one thread (the event worker).
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace esk8s::plugin {

enum class EventType { kNormal, kWarning };
std::string_view to_string(EventType t);

// The reasons the plugin reports (docs/OPERATIONS.md "Kubernetes Events").
namespace event_reason {
inline constexpr std::string_view kMemberDied = "MemberDied";
inline constexpr std::string_view kMemberLeft = "MemberLeft";
inline constexpr std::string_view kQuorumLost = "QuorumLost";
inline constexpr std::string_view kQuorumRegained = "QuorumRegained";
inline constexpr std::string_view kSuperseded = "Superseded";
inline constexpr std::string_view kRbacMissing = "RBACMissing";
inline constexpr std::string_view kCertificateRenewed = "CertificateRenewed";
inline constexpr std::string_view kCertificateRenewalFailed = "CertificateRenewalFailed";
inline constexpr std::string_view kDiscoveryStale = "DiscoveryStale";
inline constexpr std::string_view kDiscoveryRecovered = "DiscoveryRecovered";
}  // namespace event_reason

// The object an Event is about (`regarding`): this member's Pod.
struct ObjectRef {
  std::string api_version = "v1";
  std::string kind = "Pod";
  std::string namespace_name;
  std::string name;
  std::string uid;  // empty: left out (kubectl describe matches on it, kubectl get events not)
};

struct EventOccurrence {
  EventType type = EventType::kNormal;
  std::string reason;  // one of event_reason (at most 128 bytes)
  std::string action;  // what the plugin did or watched (at most 128 bytes)
  std::string note;    // for people; cut at 1024 bytes (the API's limit)
};

struct EventRecorderSettings {
  std::string controller = "esk8s";  // reportingController
  std::string instance;              // reportingInstance: this process (cut at 128 bytes)
  ObjectRef regarding;
  size_t max_keys = 256;  // LRU bound of aggregated keys
  // Token bucket: client-go's spam filter allows a burst of 25 per source and object.
  int burst = 25;
  std::chrono::seconds refill_every{30};
  // A running series is written at most this often (client-go: on its 30 min refresh).
  std::chrono::seconds series_heartbeat{60};
  // A key without an occurrence this long is finished (client-go: 6 min).
  std::chrono::seconds series_finish{360};
  // After a 403, no write for this long.
  std::chrono::seconds forbidden_pause{600};
  // After a failure without an answer (0, 429, 5xx), the entry waits this long.
  std::chrono::seconds retry_after_error{10};
};

// One API request to make.
struct EventWrite {
  enum class Kind { kCreate, kPatch };
  Kind kind = Kind::kCreate;
  std::string path;  // POST: the collection; PATCH: the Event (JSON merge patch)
  std::string body;
  uint64_t entry = 0;  // which aggregated key (for on_result)
  int64_t count = 0;   // occurrences this write reports
};

enum class WriteOutcome {
  kDone,            // written
  kRetry,           // not written; tried again later (no answer, 429, 5xx, a vanished Event)
  kRejected,        // the API refused the Event itself (4xx): dropped
  kForbiddenFirst,  // 403, the first since the last success: log the missing permission
  kForbidden,       // 403 again: already logged
};

struct EventRecorderStats {
  uint64_t occurrences = 0;
  uint64_t creates = 0;   // create requests handed out
  uint64_t patches = 0;   // series updates handed out
  uint64_t evicted = 0;   // keys dropped by the LRU bound
  uint64_t evicted_unwritten = 0;  // ... of which had occurrences not yet written
  uint64_t rejected = 0;  // writes the API refused (4xx but 403/404/409/429)
  uint64_t forbidden = 0;  // 403 answers
};

class EventRecorder {
 public:
  using Time = std::chrono::system_clock::time_point;

  explicit EventRecorder(EventRecorderSettings settings);

  // One occurrence at `now`: a write to make now, if one is due and allowed.
  std::optional<EventWrite> record(const EventOccurrence& e, Time now);
  // Writes due at `now` (deferred by the bucket, series heartbeats, retries, finished series);
  // forgets finished keys. Call about once a second.
  std::vector<EventWrite> tick(Time now);
  // The API's answer to `w` (HTTP status, 0 for none).
  WriteOutcome on_result(const EventWrite& w, int status, Time now);

  // The Pod's uid, once known; later Events carry it.
  void set_regarding_uid(std::string uid) { settings_.regarding.uid = std::move(uid); }
  const EventRecorderSettings& settings() const { return settings_; }
  const EventRecorderStats& stats() const { return stats_; }
  size_t keys() const { return entries_.size(); }
  bool paused(Time now) const { return now < paused_until_; }
  // Occurrences of the key (type, reason, action, note) counted so far; 0 when not cached.
  int64_t count_of(const EventOccurrence& e) const;

 private:
  using Key = std::tuple<EventType, std::string, std::string, std::string>;
  struct Entry {
    uint64_t id = 0;
    Key key;
    EventOccurrence occurrence;
    std::string name;
    Time event_time{};      // first occurrence
    Time last_observed{};   // latest occurrence
    int64_t count = 0;      // occurrences
    int64_t written = 0;    // the count the API has (0: not created)
    bool created = false;   // the API has the object
    bool in_flight = false;
    Time last_write{};
    Time not_before{};      // retry after an error
    std::list<uint64_t>::iterator lru;
  };

  std::optional<EventWrite> maybe_write(Entry& e, Time now);
  bool take_token(Time now);
  std::string new_name(Time now);
  std::string create_body(const Entry& e) const;
  std::string event_path(const std::string& name) const;
  void touch(Entry& e);
  void evict_beyond_cap();
  void erase(uint64_t id);

  EventRecorderSettings settings_;
  std::map<uint64_t, Entry> entries_;
  std::map<Key, uint64_t> by_key_;
  std::list<uint64_t> lru_;  // least recently used first
  uint64_t next_id_ = 1;
  std::chrono::nanoseconds credit_;  // token bucket: refill_every per token
  Time refilled_at_{};
  Time paused_until_{};
  bool forbidden_reported_ = false;
  int64_t last_name_nanos_ = 0;
  EventRecorderStats stats_;
};

}  // namespace esk8s::plugin
