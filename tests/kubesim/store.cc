#include "tests/kubesim/store.h"

#include "tests/kubesim/base64.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

namespace kubesim {

using nlohmann::json;

namespace {

std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

json spec_of(const json& obj) {
  json copy = obj;
  copy.erase("metadata");
  copy.erase("status");
  return copy;
}

}  // namespace

namespace {

std::string rfc3339(bool millis) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (millis) {
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
    out += frac;
  }
  return out + "Z";
}

}  // namespace

std::string rfc3339_now() { return rfc3339(false); }

std::string rfc3339_millis_now() { return rfc3339(true); }

std::string random_uuid() {
  uint64_t a = rng()(), b = rng()();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string random_suffix(size_t n) {
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kAlphabet[rng()() % (sizeof kAlphabet - 1)]);
  return s;
}

// ---- Watcher ----

std::vector<WatchEvent> Watcher::next(std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return !queue_.empty() || closed_; });
  std::vector<WatchEvent> out(std::make_move_iterator(queue_.begin()),
                              std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

void Watcher::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

bool Watcher::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

uint64_t Watcher::last_rv() const {
  std::lock_guard lock(mu_);
  return last_rv_;
}

bool Watcher::wants(const json& obj) const {
  if (!obj.is_object()) return false;
  const json& md = obj.contains("metadata") ? obj["metadata"] : json::object();
  if (!ns_.empty() && md.value("namespace", "") != ns_) return false;
  if (!labels_.matches(md.contains("labels") ? md["labels"] : json())) return false;
  return fields_.matches(obj);
}

void Watcher::offer(const std::string& type, const json& obj, const json& old, uint64_t rv) {
  std::string effective = type;
  bool now = wants(obj);
  if (type == "MODIFIED") {
    bool before = wants(old);
    if (before && !now)
      effective = "DELETED";
    else if (!before && now)
      effective = "ADDED";
    else if (!before && !now)
      effective.clear();
  } else if (!now) {
    effective.clear();
  }
  std::lock_guard lock(mu_);
  last_rv_ = rv;
  if (effective.empty() || closed_) return;
  queue_.push_back({effective, obj});
  cv_.notify_all();
}

// ---- Store ----

Store::Store(size_t history_per_resource) : history_limit_(history_per_resource) {}

uint64_t Store::current_rv() const {
  std::lock_guard lock(mu_);
  return rv_;
}

Store::Bucket& Store::bucket(const std::string& qualified) const { return buckets_[qualified]; }

uint64_t Store::record(Bucket& b, const std::string& type, const json& obj, const json& old) {
  uint64_t rv = rv_;
  b.history.push_back({rv, type, obj, old});
  while (b.history.size() > history_limit_) {
    b.floor = b.history.front().rv;
    b.history.pop_front();
  }
  for (auto& w : b.watchers) w->offer(type, obj, old, rv);
  changed_.notify_all();
  return rv;
}

ApiResult<json> Store::get(const ResourceType& t, const std::string& ns,
                           const std::string& name) const {
  std::lock_guard lock(mu_);
  auto& b = bucket(t.qualified());
  auto it = b.objects.find({ns, name});
  if (it == b.objects.end()) return ApiError::not_found(t, name);
  return it->second;
}

std::map<Store::Key, json> Store::state_at(const Bucket& b, uint64_t rv) const {
  std::map<Key, json> state = b.objects;
  for (auto it = b.history.rbegin(); it != b.history.rend() && it->rv > rv; ++it) {
    const json& md = it->object["metadata"];
    Key k{md.value("namespace", ""), md.value("name", "")};
    if (it->type == "ADDED")
      state.erase(k);
    else
      state[k] = it->old;  // MODIFIED or DELETED: restore the previous object
  }
  return state;
}

ApiResult<ListResult> Store::list(const ResourceType& t, const std::string& ns,
                                  const LabelSelector& labels, const FieldSelector& fields,
                                  std::optional<uint64_t> exact_rv, size_t limit,
                                  const std::string& continue_token) const {
  std::lock_guard lock(mu_);
  auto& b = bucket(t.qualified());
  std::optional<uint64_t> at = exact_rv;
  Key start;
  bool has_start = false;
  if (!continue_token.empty()) {
    auto decoded = base64_decode(continue_token);
    json c = decoded ? json::parse(*decoded, nullptr, false) : json();
    if (!c.is_object() || !c.contains("rv") || !c["rv"].is_number_unsigned() || !c.contains("ns") ||
        !c.contains("name")) {
      return ApiError::bad_request(
          "continue key is not valid: illegal base64 data or malformed token");
    }
    at = c["rv"].get<uint64_t>();
    start = {c["ns"].get<std::string>(), c["name"].get<std::string>()};
    has_start = true;
    if (*at < b.floor) {
      return ApiError::gone(
          "The provided continue parameter is too old to display a consistent list result. You can "
          "start a new list without the continue parameter, or use the continue token in this "
          "response to retrieve the remainder of the results. Continuing with the provided token "
          "results in an inconsistent list - objects that were created, modified, or deleted "
          "between the time the first chunk was returned and now may show up in the list.");
    }
  }
  if (at && *at > rv_) {
    return ApiError::timeout("Too large resource version: " + std::to_string(*at) +
                             ", current: " + std::to_string(rv_));
  }
  if (at && *at < b.floor && !has_start) {
    return ApiError::gone("The resourceVersion for the provided list is too old.");
  }
  std::map<Key, json> snapshot;
  const std::map<Key, json>* state = &b.objects;
  if (at && *at < rv_) {
    snapshot = state_at(b, *at);
    state = &snapshot;
  }
  ListResult r;
  r.resource_version = at.value_or(rv_);
  for (auto it = has_start ? state->upper_bound(start) : state->begin(); it != state->end(); ++it) {
    if (!ns.empty() && it->first.first != ns) continue;
    const json& md = it->second["metadata"];
    if (!labels.matches(md.contains("labels") ? md["labels"] : json())) continue;
    if (!fields.matches(it->second)) continue;
    if (limit && r.items.size() == limit) {
      // More remain: count them and hand out a token that resumes after the last item.
      const json& last = r.items.back()["metadata"];
      json c = {{"rv", r.resource_version},
                {"ns", last.value("namespace", "")},
                {"name", last.value("name", "")}};
      r.continue_token = base64_encode(c.dump());
      for (auto rest = it; rest != state->end(); ++rest) {
        if (!ns.empty() && rest->first.first != ns) continue;
        const json& rmd = rest->second["metadata"];
        if (labels.matches(rmd.contains("labels") ? rmd["labels"] : json()) &&
            fields.matches(rest->second)) {
          ++r.remaining;
        }
      }
      break;
    }
    r.items.push_back(it->second);
  }
  return r;
}

ApiResult<json> Store::create(const ResourceType& t, const std::string& ns, json obj) {
  std::lock_guard lock(mu_);
  auto& b = bucket(t.qualified());
  json& md = obj["metadata"];
  if (!md.is_object()) md = json::object();
  std::string name = md.value("name", "");
  if (name.empty() && md.contains("generateName") && md["generateName"].is_string()) {
    do {
      name = md["generateName"].get<std::string>() + random_suffix();
    } while (b.objects.count({ns, name}));
    md["name"] = name;
  }
  if (name.empty()) {
    return ApiError::invalid(t, "", "metadata.name", "FieldValueRequired",
                             "Required value: name or generateName is required");
  }
  if (t.namespaced && ns.empty()) {
    return ApiError::bad_request(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  if (t.namespaced) {
    auto& nsb = bucket("namespaces");
    if (t.plural != "namespaces" && !nsb.objects.count({"", ns}))
      return ApiError::namespace_not_found(ns);
    md["namespace"] = ns;
  } else {
    md.erase("namespace");
  }
  if (b.objects.count({ns, name})) return ApiError::already_exists(t, name);
  ++rv_;
  md["uid"] = random_uuid();
  md["creationTimestamp"] = rfc3339_now();
  md["resourceVersion"] = std::to_string(rv_);
  if (t.tracks_generation) md["generation"] = 1;
  md.erase("deletionTimestamp");
  if (!obj.contains("apiVersion")) obj["apiVersion"] = t.group_version();
  if (!obj.contains("kind")) obj["kind"] = t.kind;
  b.objects[{ns, name}] = obj;
  record(b, "ADDED", obj, nullptr);
  return obj;
}

ApiResult<json> Store::update(const ResourceType& t, const std::string& ns, const std::string& name,
                              json obj, UpdateScope scope) {
  std::lock_guard lock(mu_);
  auto& b = bucket(t.qualified());
  auto it = b.objects.find({ns, name});
  if (it == b.objects.end()) return ApiError::not_found(t, name);
  const json& old = it->second;
  if (!obj.is_object()) return ApiError::bad_request("the object must be a JSON object");
  json& md = obj["metadata"];
  if (!md.is_object()) md = json::object();
  if (md.contains("name") && md["name"] != name) {
    return ApiError::bad_request("the name of the object (" + md["name"].dump() +
                                 ") does not match the name on the URL (" + name + ")");
  }
  if (md.contains("resourceVersion") && md["resourceVersion"].is_string() &&
      !md["resourceVersion"].get<std::string>().empty() &&
      md["resourceVersion"] != old["metadata"]["resourceVersion"]) {
    return ApiError::conflict(t, name);
  }
  json next;
  bool status_sub = t.has_subresource("status");
  if (scope == UpdateScope::kStatus) {
    next = old;
    if (obj.contains("status"))
      next["status"] = obj["status"];
    else
      next.erase("status");
  } else if (scope == UpdateScope::kApproval) {
    next = old;
    json conditions = obj.contains("status") && obj["status"].contains("conditions")
                          ? obj["status"]["conditions"]
                          : json::array();
    next["status"]["conditions"] = conditions;
  } else {
    next = obj;
    if (status_sub) {
      if (old.contains("status"))
        next["status"] = old["status"];
      else
        next.erase("status");
    }
  }
  // Fields the server owns.
  json& nmd = next["metadata"];
  if (!nmd.is_object()) nmd = json::object();
  for (const char* k : {"uid", "creationTimestamp", "namespace", "generation", "deletionTimestamp",
                        "deletionGracePeriodSeconds"}) {
    if (old["metadata"].contains(k))
      nmd[k] = old["metadata"][k];
    else
      nmd.erase(k);
  }
  nmd["name"] = name;
  if (!next.contains("apiVersion")) next["apiVersion"] = t.group_version();
  if (!next.contains("kind")) next["kind"] = t.kind;
  if (scope == UpdateScope::kMain && nmd.contains("generation") && spec_of(next) != spec_of(old)) {
    nmd["generation"] = nmd["generation"].get<int64_t>() + 1;
  }
  json cmp_old = old, cmp_new = next;
  cmp_old["metadata"].erase("resourceVersion");
  cmp_new["metadata"].erase("resourceVersion");
  if (cmp_old == cmp_new) return old;  // no-op writes do not bump the revision (as the real server)
  ++rv_;
  nmd["resourceVersion"] = std::to_string(rv_);
  json prev = old;
  it->second = next;
  record(b, "MODIFIED", next, prev);
  return next;
}

ApiResult<json> Store::mark_deleting(const ResourceType& t, const std::string& ns,
                                     const std::string& name, int64_t grace_seconds) {
  std::lock_guard lock(mu_);
  auto& b = bucket(t.qualified());
  auto it = b.objects.find({ns, name});
  if (it == b.objects.end()) return ApiError::not_found(t, name);
  if (it->second["metadata"].contains("deletionTimestamp")) return it->second;
  json prev = it->second;
  ++rv_;
  it->second["metadata"]["deletionTimestamp"] = rfc3339_now();
  it->second["metadata"]["deletionGracePeriodSeconds"] = grace_seconds;
  it->second["metadata"]["resourceVersion"] = std::to_string(rv_);
  record(b, "MODIFIED", it->second, prev);
  return it->second;
}

ApiResult<json> Store::remove(const ResourceType& t, const std::string& ns, const std::string& name,
                              const std::string& precondition_uid) {
  std::lock_guard lock(mu_);
  auto& b = bucket(t.qualified());
  auto it = b.objects.find({ns, name});
  if (it == b.objects.end()) return ApiError::not_found(t, name);
  if (!precondition_uid.empty() && it->second["metadata"].value("uid", "") != precondition_uid) {
    return ApiError::conflict(t, name);
  }
  json obj = it->second;
  b.objects.erase(it);
  ++rv_;
  obj["metadata"]["resourceVersion"] = std::to_string(rv_);
  json old = obj;
  record(b, "DELETED", obj, old);
  return obj;
}

ApiResult<std::shared_ptr<Watcher>> Store::watch(const ResourceType& t, const std::string& ns,
                                                 std::optional<uint64_t> from_rv,
                                                 LabelSelector labels, FieldSelector fields) {
  std::lock_guard lock(mu_);
  auto& b = bucket(t.qualified());
  auto w = std::make_shared<Watcher>(t.qualified(), ns, std::move(labels), std::move(fields));
  if (from_rv) {
    if (*from_rv < b.floor) {
      return ApiError::gone("too old resource version: " + std::to_string(*from_rv) + " (" +
                            std::to_string(b.floor + 1) + ")");
    }
    if (*from_rv > rv_) {
      return ApiError::timeout("Too large resource version: " + std::to_string(*from_rv) +
                               ", current: " + std::to_string(rv_));
    }
    for (const auto& e : b.history) {
      if (e.rv > *from_rv) w->offer(e.type, e.object, e.old, e.rv);
    }
  } else {
    for (const auto& [k, obj] : b.objects) w->offer("ADDED", obj, nullptr, rv_);
  }
  {
    std::lock_guard wl(w->mu_);
    w->last_rv_ = rv_;
  }
  b.watchers.push_back(w);
  return w;
}

void Store::unwatch(const std::shared_ptr<Watcher>& w) {
  std::lock_guard lock(mu_);
  auto& b = bucket(w->resource_);
  std::erase(b.watchers, w);
}

void Store::compact() {
  std::lock_guard lock(mu_);
  for (auto& [name, b] : buckets_) {
    b.history.clear();
    b.floor = rv_;
  }
}

void Store::close_all_watches() {
  std::lock_guard lock(mu_);
  for (auto& [name, b] : buckets_) {
    for (auto& w : b.watchers) w->close();
    b.watchers.clear();
  }
}

uint64_t Store::wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return rv_ > seen; });
  return rv_;
}

std::vector<json> Store::all(const std::string& qualified_resource) const {
  std::lock_guard lock(mu_);
  std::vector<json> out;
  for (const auto& [k, v] : bucket(qualified_resource).objects) out.push_back(v);
  return out;
}

}  // namespace kubesim
