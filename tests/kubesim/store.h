// The object store behind kubesim's API: objects by (resource, namespace, name), one global
// resourceVersion counter (as etcd's revision), a bounded event history per resource for watches
// and consistent paginated lists, and watchers.
//
// Semantics kept from the real API server:
// - every write gets the next resourceVersion; metadata.uid/creationTimestamp/generation are set
//   by the store; a write carrying a stale metadata.resourceVersion is a 409 Conflict;
// - a watch from resourceVersion N replays the events after N from history, or fails with 410
//   Expired when N is older than the oldest event kept (bounded history or compact());
// - a watch without a resourceVersion (or "0") starts with ADDED events for the current state;
// - a watch whose selector stops (starts) matching an object sees DELETED (ADDED);
// - lists can be served at an exact past resourceVersion (reconstructed from history), which
//   makes `continue` tokens consistent snapshots.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/kubesim/api_error.h"
#include "tests/kubesim/resources.h"
#include "tests/kubesim/selector.h"

namespace kubesim {

struct WatchEvent {
  std::string type;  // ADDED MODIFIED DELETED BOOKMARK ERROR
  nlohmann::json object;
};

// One watch stream's queue. The store pushes; the HTTP handler pops.
class Watcher {
 public:
  Watcher(std::string resource, std::string ns, LabelSelector labels, FieldSelector fields)
      : resource_(std::move(resource)),
        ns_(std::move(ns)),
        labels_(std::move(labels)),
        fields_(std::move(fields)) {}

  // Waits up to `wait` for events and takes them all (possibly none).
  std::vector<WatchEvent> next(std::chrono::milliseconds wait);
  void close();
  bool closed() const;
  // The resourceVersion of the last event delivered or the start point (for bookmarks).
  uint64_t last_rv() const;

 private:
  friend class Store;
  // REQUIRES: the store's lock is held (orders events); takes the watcher's own lock.
  void offer(const std::string& type, const nlohmann::json& obj, const nlohmann::json& old,
             uint64_t rv);
  bool wants(const nlohmann::json& obj) const;

  const std::string resource_;
  const std::string ns_;  // "" = all namespaces
  const LabelSelector labels_;
  const FieldSelector fields_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchEvent> queue_;  // guarded by mu_
  bool closed_ = false;           // guarded by mu_
  uint64_t last_rv_ = 0;          // guarded by mu_
};

struct ListResult {
  std::vector<nlohmann::json> items;  // sorted by namespace/name
  uint64_t resource_version = 0;      // the revision the list reflects
  std::string continue_token;         // non-empty when more items remain
  int64_t remaining = 0;
};

enum class UpdateScope { kMain, kStatus, kApproval };

class Store {
 public:
  explicit Store(size_t history_per_resource = 1000);

  uint64_t current_rv() const;

  ApiResult<nlohmann::json> get(const ResourceType& t, const std::string& ns,
                                const std::string& name) const;

  // resource_version: nullopt = most recent; "0"-like callers pass nullopt too. `exact` serves
  // the list at that revision (410 if compacted, 504 if in the future). `limit` 0 = no limit.
  ApiResult<ListResult> list(const ResourceType& t, const std::string& ns,
                             const LabelSelector& labels, const FieldSelector& fields,
                             std::optional<uint64_t> exact_rv, size_t limit,
                             const std::string& continue_token) const;

  ApiResult<nlohmann::json> create(const ResourceType& t, const std::string& ns,
                                   nlohmann::json obj);
  ApiResult<nlohmann::json> update(const ResourceType& t, const std::string& ns,
                                   const std::string& name, nlohmann::json obj,
                                   UpdateScope scope = UpdateScope::kMain);
  // Graceful deletion: sets metadata.deletionTimestamp (now) and deletionGracePeriodSeconds
  // once; later calls return the object unchanged.
  ApiResult<nlohmann::json> mark_deleting(const ResourceType& t, const std::string& ns,
                                          const std::string& name, int64_t grace_seconds);
  // Removes the object now (graceful deletion is the API layer's business). `precondition_uid`
  // non-empty must match.
  ApiResult<nlohmann::json> remove(const ResourceType& t, const std::string& ns,
                                   const std::string& name,
                                   const std::string& precondition_uid = "");

  // from_rv: nullopt = start with the current state as ADDED events.
  ApiResult<std::shared_ptr<Watcher>> watch(const ResourceType& t, const std::string& ns,
                                            std::optional<uint64_t> from_rv, LabelSelector labels,
                                            FieldSelector fields);
  void unwatch(const std::shared_ptr<Watcher>& w);

  // Drops all history: watches and continue tokens from older revisions get 410.
  void compact();
  void close_all_watches();

  // Blocks until the revision exceeds `seen` or `timeout` passes; returns the current revision.
  uint64_t wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const;

  // Every object of a resource (all namespaces), for controllers.
  std::vector<nlohmann::json> all(const std::string& qualified_resource) const;

 private:
  using Key = std::pair<std::string, std::string>;  // namespace, name
  struct HistoryEntry {
    uint64_t rv;
    std::string type;
    nlohmann::json object;
    nlohmann::json old;  // previous state (null for ADDED)
  };
  struct Bucket {
    std::map<Key, nlohmann::json> objects;
    std::deque<HistoryEntry> history;
    uint64_t floor = 0;  // events at or below this revision are gone
    std::vector<std::shared_ptr<Watcher>> watchers;
  };

  // REQUIRES: mu_ held.
  uint64_t record(Bucket& b, const std::string& type, const nlohmann::json& obj,
                  const nlohmann::json& old);
  Bucket& bucket(const std::string& qualified) const;
  std::map<Key, nlohmann::json> state_at(const Bucket& b, uint64_t rv) const;

  const size_t history_limit_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  mutable std::map<std::string, Bucket> buckets_;  // guarded by mu_
  uint64_t rv_ = 1;                                // guarded by mu_
};

// "2026-11-21T17:00:00Z"
std::string rfc3339_now();
// "2026-11-21T17:00:00.123Z"
std::string rfc3339_millis_now();
// A random RFC 4122 v4 UUID string.
std::string random_uuid();
// Five characters of Kubernetes' generateName alphabet.
std::string random_suffix(size_t n = 5);

}  // namespace kubesim
