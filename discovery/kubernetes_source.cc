#include "discovery/kubernetes_source.h"

#include <cstdio>
#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/rfc3339.h"
#include "common/text.h"
#include "discovery/endpointslice_parse.h"
#include "discovery/peer_model.h"

namespace esk8s::discovery {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// body.k1.k2... when every step is an object holding the key, else nullptr (an answer of the
// wrong shape is "no answer", never an exception).
const json* member_at(const json& body, std::initializer_list<const char*> keys) {
  const json* at = &body;
  for (const char* k : keys) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(k);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

}  // namespace

std::string slice_list_path(const std::string& ns, const std::string& service, uint32_t limit,
                            const std::string& continue_token) {
  std::string path = "/apis/discovery.k8s.io/v1/namespaces/" + percent_encode(ns) +
                     "/endpointslices?labelSelector=" +
                     percent_encode("kubernetes.io/service-name=" + service) +
                     "&limit=" + std::to_string(limit);
  if (!continue_token.empty()) path += "&continue=" + percent_encode(continue_token);
  return path;
}

KubernetesSource::KubernetesSource(KubernetesSourceOptions opts,
                                   std::unique_ptr<kube::KubeClient> client, Logger log,
                                   PeersCallback on_peers)
    : opts_(std::move(opts)),
      client_(std::move(client)),
      log_(std::move(log)),
      on_peers_(std::move(on_peers)) {}

KubernetesSource::~KubernetesSource() { stop(); }

void KubernetesSource::start() {
  if (running_.exchange(true)) return;
  client_->reset_cancel();
  rbac_self_check();
  uint64_t seed = opts_.seed;
  for (const auto& ns : opts_.namespaces) {
    threads_.emplace_back([this, ns, s = seed++] { run_namespace(ns, s); });
  }
}

void KubernetesSource::stop() {
  if (!running_.exchange(false)) return;
  client_->cancel();
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

DiscoveryStats KubernetesSource::stats() const {
  std::lock_guard lock(mu_);
  DiscoveryStats s = stats_;
  s.relists = s.watch_restarts = s.errors = 0;
  for (const auto& [ns, c] : counters_by_ns_) {
    s.relists += c[0];
    s.watch_restarts += c[1];
    s.errors += c[2];
  }
  const auto now = Clock::now();
  for (const auto& [ns, since] : failing_since_by_ns_) {
    auto open = watch_open_since_by_ns_.find(ns);
    const bool answered =
        open != watch_open_since_by_ns_.end() && now - open->second >= kWatchOpenCounts;
    if (since == 0 || answered) continue;
    if (s.failing_since_unix_ms == 0 || since < s.failing_since_unix_ms)
      s.failing_since_unix_ms = since;
  }
  return s;
}

bool KubernetesSource::sleep_until(Clock::time_point until) {
  std::unique_lock lock(mu_);
  wake_.wait_until(lock, until, [&] { return !running_.load(); });
  return running_.load();
}

SelfReview KubernetesSource::review_self(kube::KubeClient& client) {
  json review = {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}};
  auto r = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", review.dump());
  SelfReview out;
  out.status = r.status;
  json body = json::parse(r.body, nullptr, false);
  if ((r.status == 201 || r.status == 200) && body.is_object()) {
    const json* name = member_at(body, {"status", "userInfo", "username"});
    if (name != nullptr && name->is_string()) out.user = name->get<std::string>();
    if (out.user.empty()) out.error = "the SelfSubjectReview named no user";
    return out;
  }
  out.error = kube::describe_failure(r);
  return out;
}

std::string KubernetesSource::whoami(kube::KubeClient& client) { return review_self(client).user; }

std::vector<PermissionCheck> KubernetesSource::check_permissions(
    kube::KubeClient& client, const std::vector<std::string>& namespaces) {
  kube::PermissionNeeds needs;
  needs.discovery_namespaces = namespaces;
  if (!namespaces.empty()) needs.own_namespace = namespaces.front();
  std::vector<PermissionCheck> out;
  for (kube::Permission& p : kube::required_permissions(needs)) {
    PermissionCheck c{std::move(p), false, ""};
    kube::review_access(client, c);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> KubernetesSource::describe_missing(
    const std::vector<PermissionCheck>& checks, const std::string& user, bool multi_namespace) {
  std::vector<std::string> out;
  const std::string who = user.empty() ? "this pod's service account" : user;
  const std::string manifest = multi_namespace
                                   ? "rbac/role.yaml if that is this pod's own namespace, else "
                                     "rbac/clusterrole.yaml and rbac/rolebinding-per-namespace.yaml "
                                     "with PEER_NAMESPACE set to it"
                                   : "rbac/role.yaml";
  for (const auto& c : checks) {
    if (c.allowed || !c.error.empty()) continue;
    const kube::Permission& p = c.permission;
    out.push_back("cannot " + p.verb + " " + p.resource_name() + " " + p.where() + " as " + who +
                  "; apply " + manifest);
  }
  return out;
}

void KubernetesSource::rbac_self_check() {
  {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    if (last_rbac_check_ != Clock::time_point{} &&
        now - last_rbac_check_ < std::chrono::seconds(60))
      return;
    last_rbac_check_ = now;
  }
  auto checks = check_permissions(*client_, opts_.namespaces);
  auto missing = describe_missing(checks, whoami(*client_), opts_.namespaces.size() > 1);
  for (const auto& c : checks) {
    if (!c.error.empty()) {
      log_.warn("RBAC self-check could not run",
                {{"namespace", c.permission.namespace_name},
                 {"verb", c.permission.verb},
                 {"error", c.error}});
      return;
    }
  }
  {
    std::lock_guard lock(mu_);
    stats_.rbac_missing.clear();
    for (const auto& m : missing)
      stats_.rbac_missing += (stats_.rbac_missing.empty() ? "" : "\n") + m;
    if (!missing.empty()) ++stats_.rbac_missing_checks;
  }
  if (missing.empty()) {
    log_.info("RBAC self-check passed", {{"namespaces", std::to_string(opts_.namespaces.size())}});
    return;
  }
  std::string all;
  for (const auto& m : missing) all += (all.empty() ? "" : "\n  ") + m;
  log_.error(
      "discovery is missing Kubernetes permissions; it keeps retrying, and this node does not "
      "start a cluster of its own meanwhile:\n  " +
      all);
}

void KubernetesSource::publish(const std::string& ns,
                               const std::map<std::string, EndpointSlice>& slices, bool synced) {
  std::lock_guard lock(mu_);
  auto& v = slices_by_ns_[ns];
  v.clear();
  for (const auto& [name, s] : slices) v.push_back(s);
  synced_by_ns_[ns] = synced;
  stats_.last_sync_unix_ms = unix_ms();
  bool all_synced = synced_by_ns_.size() == opts_.namespaces.size();
  for (const auto& [n, s] : synced_by_ns_) all_synced = all_synced && s;
  stats_.synced = all_synced;
  // Until every namespace has listed once, a partial union would look like lost peers.
  if (!all_synced) return;
  std::vector<EndpointSlice> all;
  for (const auto& [n, list] : slices_by_ns_) all.insert(all.end(), list.begin(), list.end());
  PeerContext ctx{opts_.service, opts_.cluster_domain, opts_.self_pod, opts_.self_namespace,
                  opts_.default_gossip_port};
  std::vector<std::string> warnings;
  PeerSet peers = peers_from_slices(all, ctx, &warnings);
  for (const auto& w : peer_warnings_.fresh(warnings)) log_.warn(w);
  if (published_once_ && peers == last_peers_) return;
  published_once_ = true;
  last_peers_ = peers;
  on_peers_(peers);
}

void KubernetesSource::run_namespace(const std::string& ns, uint64_t seed) {
  SliceWatchState state(opts_.watch, seed);
  const std::string base = "/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices";
  const std::string selector =
      "labelSelector=" + percent_encode("kubernetes.io/service-name=" + opts_.service);
  auto count_error = [&](int code) {
    std::lock_guard lock(mu_);
    ++stats_.errors_by_code[code];
    if (failing_since_by_ns_[ns] == 0) failing_since_by_ns_[ns] = unix_ms();
  };
  auto count_success = [&] {
    std::lock_guard lock(mu_);
    failing_since_by_ns_[ns] = 0;
  };
  // Every output of the state machine is reported here exactly once: its slice change is
  // published and its error is one log record, with the details of the response behind it.
  auto report = [&](const kube::Output& o, LogLevel level, std::vector<LogField> details) {
    if (o.items_changed) publish(ns, state.items(), state.synced());
    if (o.error.empty()) return;
    details.insert(details.begin(), {"namespace", ns});
    log_.log(level, o.error, details);
  };
  // The API's answer to a failed request, for the log record of the resulting error.
  auto failure = [](const kube::ApiResponse& r) -> std::vector<LogField> {
    return {{"status", std::to_string(r.status)},
            {"error", r.status == 0 ? r.error : kube::status_message(r.body)}};
  };
  kube::Output out = state.start(Clock::now());
  while (running_) {
    {
      std::lock_guard lock(mu_);
      counters_by_ns_[ns] = {state.relists(), state.watch_restarts(), state.errors()};
    }
    if (!out.next) {
      // Nothing to do until an input arrives; with a blocking driver that means a bug.
      log_.error("discovery state machine asked for nothing; restarting it", {{"namespace", ns}});
      out = state.start(Clock::now());
      continue;
    }
    kube::Next next = *out.next;
    if (!sleep_until(next.not_before)) break;
    const kube::Request& req = next.request;
    if (req.kind == kube::Request::Kind::kList) {
      kube::ApiResponse r = client_->get(slice_list_path(ns, opts_.service, req.limit,
                                                   req.continue_token));
      if (!running_) break;
      if (r.status == 200) {
        auto page = parse_slice_list(r.body);
        if (page.is_ok()) {
          count_success();
          out = state.on_list_page(page.value(), Clock::now());
          report(out, LogLevel::kWarn, {});
          continue;
        }
        count_error(200);
        out = state.on_malformed(page.status().message(), Clock::now());
        report(out, LogLevel::kError, {{"body", truncate_for_log(r.body)}});
        continue;
      }
      count_error(r.status);
      out = state.on_http_error(r.status, r.retry_after, Clock::now());
      report(out, LogLevel::kWarn, failure(r));
      if (r.status == 403) rbac_self_check();
      continue;
    }

    // Watch: events are applied as they arrive; an output that asks for a new request (a 410
    // ERROR event) ends the stream, and so does a malformed line.
    std::string path =
        base + "?" + selector +
        "&watch=true&allowWatchBookmarks=true&resourceVersion=" +
        percent_encode(req.resource_version) +
        "&timeoutSeconds=" + std::to_string(req.timeout_seconds);
    WatchStreamDecoder decoder;
    bool interrupted = false;
    std::optional<Status> malformed;
    auto handle = [&](std::vector<Result<SliceEvent>> events) {
      for (auto& ev : events) {
        if (!ev.is_ok()) {
          malformed = ev.status();
          return false;
        }
        kube::Output o = state.on_event(ev.value(), Clock::now());
        {
          std::lock_guard lock(mu_);
          ++stats_.events;
          failing_since_by_ns_[ns] = 0;
          const SliceEvent& e = ev.value();
          if ((e.type == EventType::kAdded || e.type == EventType::kModified) &&
              !e.object.last_change_trigger_time.empty()) {
            if (auto t = parse_rfc3339(e.object.last_change_trigger_time)) {
              double seconds =
                  std::chrono::duration<double>(std::chrono::system_clock::now() - *t).count();
              if (seconds >= 0 && seconds < 3600) {
                ++stats_.latency_count;
                stats_.latency_sum_seconds += seconds;
              }
            }
          }
        }
        report(o, LogLevel::kWarn, {});
        if (o.next) {
          out = std::move(o);
          interrupted = true;
          return false;
        }
      }
      return running_.load();
    };
    {
      std::lock_guard lock(mu_);
      watch_open_since_by_ns_[ns] = Clock::now();
    }
    kube::ApiResponse r = client_->stream(
        path, [&](std::string_view chunk) { return handle(decoder.feed(chunk)); },
        std::chrono::seconds(req.timeout_seconds + 30));
    {
      std::lock_guard lock(mu_);
      watch_open_since_by_ns_.erase(ns);
    }
    if (!running_) break;
    const bool answered = r.status >= 200 && r.status < 300;
    if (answered && !interrupted && !malformed) handle(decoder.finish());
    if (interrupted) continue;
    if (malformed) {
      // The answer was there but one of its lines was not an event: not a connection error.
      count_error(200);
      out = state.on_malformed(malformed->message(), Clock::now());
      report(out, LogLevel::kError, {});
      continue;
    }
    if (answered) {
      count_success();
      out = state.on_watch_end(Clock::now());
      report(out, LogLevel::kWarn, {});
      continue;
    }
    count_error(r.status);
    out = state.on_http_error(r.status, r.retry_after, Clock::now());
    report(out, LogLevel::kWarn, failure(r));
    if (r.status == 403) rbac_self_check();
  }
}

}  // namespace esk8s::discovery
