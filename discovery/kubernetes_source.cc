#include "discovery/kubernetes_source.h"

#include <cstdio>
#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>

#include "discovery/endpointslice_parse.h"
#include "discovery/peer_model.h"

namespace esk8s::discovery {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-21T19:35:12Z" or with fractional seconds; UTC only (what the API server writes).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  int frac_ms = 0;
  if (s.size() < 20 || s.back() != 'Z') return std::nullopt;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  if (s[19] == '.') {
    std::string digits = s.substr(20, s.size() - 21);
    digits.resize(3, '0');
    if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    frac_ms = std::atoi(digits.c_str());
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t t = timegm(&tm);
  if (t < 0) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t) + std::chrono::milliseconds(frac_ms);
}

std::string status_message(const std::string& body) {
  json s = json::parse(body, nullptr, false);
  if (s.is_object() && s.contains("message") && s["message"].is_string())
    return s["message"].get<std::string>();
  return truncate_for_log(body);
}

}  // namespace

KubernetesSource::KubernetesSource(KubernetesSourceOptions opts, std::unique_ptr<KubeClient> client,
                                   Logger log, PeersCallback on_peers)
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
  return s;
}

bool KubernetesSource::sleep_until(Clock::time_point until) {
  std::unique_lock lock(mu_);
  wake_.wait_until(lock, until, [&] { return !running_.load(); });
  return running_.load();
}

std::string KubernetesSource::whoami(KubeClient& client) {
  json review = {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}};
  auto r = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", review.dump());
  if (r.status != 201 && r.status != 200) return "";
  json body = json::parse(r.body, nullptr, false);
  if (!body.is_object()) return "";
  return body.value("status", json::object())
      .value("userInfo", json::object())
      .value("username", "");
}

std::vector<PermissionCheck> KubernetesSource::check_permissions(
    KubeClient& client, const std::vector<std::string>& namespaces) {
  std::vector<PermissionCheck> out;
  for (const auto& ns : namespaces) {
    for (const char* verb : {"list", "watch"}) {
      PermissionCheck c{verb, "discovery.k8s.io", "endpointslices", ns, false, ""};
      json review = {
          {"apiVersion", "authorization.k8s.io/v1"},
          {"kind", "SelfSubjectAccessReview"},
          {"spec",
           {{"resourceAttributes",
             {{"namespace", ns}, {"verb", verb}, {"group", c.group}, {"resource", c.resource}}}}}};
      auto r = client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review.dump());
      json body = json::parse(r.body, nullptr, false);
      if ((r.status == 201 || r.status == 200) && body.is_object()) {
        c.allowed = body.value("status", json::object()).value("allowed", false);
      } else {
        c.error = r.status == 0
                      ? r.error
                      : "HTTP " + std::to_string(r.status) + ": " + status_message(r.body);
      }
      out.push_back(std::move(c));
    }
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
    out.push_back("cannot " + c.verb + " " + c.resource + "." + c.group + " in namespace \"" +
                  c.namespace_name + "\" as " + who + "; apply " + manifest);
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
                {{"namespace", c.namespace_name}, {"verb", c.verb}, {"error", c.error}});
      return;
    }
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
  for (const auto& w : warnings) log_.warn(w);
  if (published_once_ && peers == last_peers_) return;
  published_once_ = true;
  last_peers_ = peers;
  on_peers_(peers);
}

void KubernetesSource::run_namespace(const std::string& ns, uint64_t seed) {
  WatchState state(opts_.watch, seed);
  const std::string base = "/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices";
  const std::string selector =
      "labelSelector=" + url_encode("kubernetes.io/service-name=" + opts_.service);
  auto count_error = [&](int code) {
    std::lock_guard lock(mu_);
    ++stats_.errors_by_code[code];
  };
  Output out = state.start(Clock::now());
  while (running_) {
    {
      std::lock_guard lock(mu_);
      counters_by_ns_[ns] = {state.relists(), state.watch_restarts(), state.errors()};
    }
    if (out.slices_changed) publish(ns, state.slices(), state.synced());
    if (!out.error.empty()) log_.warn(out.error, {{"namespace", ns}});
    if (!out.next) {
      // Nothing to do until an input arrives; with a blocking driver that means a bug.
      log_.error("discovery state machine asked for nothing; restarting it", {{"namespace", ns}});
      out = state.start(Clock::now());
      continue;
    }
    Next next = *out.next;
    if (!sleep_until(next.not_before)) break;
    const Request& req = next.request;
    if (req.kind == Request::Kind::kList) {
      std::string path = base + "?" + selector + "&limit=" + std::to_string(req.limit);
      if (!req.continue_token.empty()) path += "&continue=" + url_encode(req.continue_token);
      ApiResponse r = client_->get(path);
      if (!running_) break;
      if (r.status == 200) {
        auto page = parse_slice_list(r.body);
        if (page.is_ok()) {
          out = state.on_list_page(page.value(), Clock::now());
          continue;
        }
        log_.error("malformed EndpointSlice list from the API server; retrying",
                   {{"namespace", ns},
                    {"error", page.status().message()},
                    {"body", truncate_for_log(r.body)}});
        count_error(200);
        out = state.on_http_error(500, std::nullopt, Clock::now());
        continue;
      }
      count_error(r.status);
      log_.warn("EndpointSlice list failed",
                {{"namespace", ns},
                 {"status", std::to_string(r.status)},
                 {"error", r.status == 0 ? r.error : status_message(r.body)}});
      if (r.status == 403) rbac_self_check();
      out = state.on_http_error(r.status, r.retry_after, Clock::now());
      continue;
    }

    // Watch: events are applied as they arrive; an output that asks for a new request (a 410
    // ERROR event) ends the stream.
    std::string path =
        base + "?" + selector +
        "&watch=true&allowWatchBookmarks=true&resourceVersion=" + url_encode(req.resource_version) +
        "&timeoutSeconds=" + std::to_string(req.timeout_seconds);
    WatchStreamDecoder decoder;
    std::optional<Output> interrupted;
    bool malformed = false;
    auto handle = [&](std::vector<Result<SliceEvent>> events) {
      for (auto& ev : events) {
        if (!ev.is_ok()) {
          log_.error(
              "malformed watch event from the API server; re-watching from the last good "
              "resourceVersion",
              {{"namespace", ns}, {"error", ev.status().message()}});
          malformed = true;
          return false;
        }
        Output o = state.on_event(ev.value(), Clock::now());
        {
          std::lock_guard lock(mu_);
          ++stats_.events;
          const SliceEvent& e = ev.value();
          if ((e.type == EventType::kAdded || e.type == EventType::kModified) &&
              !e.slice.last_change_trigger_time.empty()) {
            if (auto t = parse_rfc3339(e.slice.last_change_trigger_time)) {
              double seconds =
                  std::chrono::duration<double>(std::chrono::system_clock::now() - *t).count();
              if (seconds >= 0 && seconds < 3600) {
                ++stats_.latency_count;
                stats_.latency_sum_seconds += seconds;
              }
            }
          }
        }
        if (o.slices_changed) publish(ns, state.slices(), state.synced());
        if (!o.error.empty()) log_.warn(o.error, {{"namespace", ns}});
        if (o.next) {
          interrupted = o;
          return false;
        }
      }
      return running_.load();
    };
    ApiResponse r = client_->stream(
        path, [&](std::string_view chunk) { return handle(decoder.feed(chunk)); },
        std::chrono::seconds(req.timeout_seconds + 30));
    if (!running_) break;
    if (interrupted) {
      out = *interrupted;
      out.slices_changed = false;
      continue;
    }
    if (malformed) {
      count_error(0);
      out = state.on_http_error(0, std::nullopt, Clock::now());
      continue;
    }
    if (r.status >= 200 && r.status < 300) {
      handle(decoder.finish());
      if (interrupted) {
        out = *interrupted;
        out.slices_changed = false;
        continue;
      }
      out = state.on_watch_end(Clock::now());
      continue;
    }
    count_error(r.status);
    log_.warn("EndpointSlice watch failed",
              {{"namespace", ns},
               {"status", std::to_string(r.status)},
               {"error", r.status == 0 ? r.error : status_message(r.body)}});
    if (r.status == 403) rbac_self_check();
    out = state.on_http_error(r.status, r.retry_after, Clock::now());
  }
}

}  // namespace esk8s::discovery
