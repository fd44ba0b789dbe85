#include "plugin/http_router.h"

#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "plugin/health.h"

namespace esk8s::plugin {

namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

// Invalid UTF-8 becomes U+FFFD instead of a type_error exception.
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

HttpAnswer json_answer(int status, const nlohmann::json& body) {
  HttpAnswer a;
  a.status = status;
  a.content_type = kJson;
  a.body = dump(body);
  a.headers.emplace_back("Cache-Control", "no-store");
  return a;
}

HttpAnswer text_answer(std::string content_type, std::string body) {
  HttpAnswer a;
  a.content_type = std::move(content_type);
  a.body = std::move(body);
  a.headers.emplace_back("Cache-Control", "no-store");
  return a;
}

// The path without the query.
std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

nlohmann::json error_body(std::string_view reason, const HttpRequestHead& head) {
  nlohmann::json body = {{"status", "error"}, {"reason", reason}};
  if (!head.method.empty()) body["method"] = truncate_for_log(head.method, kHttpMaxEchoBytes);
  if (!head.target.empty()) {
    body["path"] = truncate_for_log(path_of(head.target), kHttpMaxEchoBytes);
  }
  return body;
}

std::string metrics_text(const HttpRouteInputs& in) {
  std::vector<Metric> metrics = in.snapshot.metrics;
  metrics.push_back({"esk8s_event_loop_heartbeat_age_seconds",
                     "Seconds since the event loop last ran its heartbeat (/health/live fails "
                     "past the deadline).",
                     "gauge",
                     {},
                     std::chrono::duration<double>(in.now - in.last_heartbeat).count()});
  metrics.push_back({"esk8s_started",
                     "1 once the plugin has started.",
                     "gauge",
                     {},
                     in.snapshot.started ? 1.0 : 0.0});
  for (Metric& m : refusal_metrics(in.refusals)) metrics.push_back(std::move(m));
  return render_prometheus(metrics);
}

}  // namespace

const std::vector<std::string>& http_endpoints() {
  static const std::vector<std::string> endpoints = {
      "/health/live", "/health/startup", "/health/ready", "/health/disruptable",
      "/members",     "/gossip",         "/metrics"};
  return endpoints;
}

HttpAnswer route_request(const HttpRequestHead& head, const HttpRouteInputs& in) {
  if (head.method != "GET" && head.method != "HEAD") {
    return refusal_answer(HttpRefusal::kMethodNotAllowed, head);
  }
  const std::string_view path = path_of(head.target);
  const Snapshot& snap = in.snapshot;
  if (path == "/health/live") {
    HealthReport r = live_report(in.last_heartbeat, in.now, in.live_deadline);
    return json_answer(r.http_status, r.body);
  }
  if (path == "/health/startup") {
    HealthReport r = startup_report(snap);
    return json_answer(r.http_status, r.body);
  }
  if (path == "/health/ready") {
    HealthReport r = ready_report(snap);
    return json_answer(r.http_status, r.body);
  }
  if (path == "/health/disruptable") {
    HealthReport r = disruptable_report(snap, in.wall_now);
    HttpAnswer a = json_answer(r.http_status, r.body);
    a.wants_disruption_guard = r.wants_guard;
    return a;
  }
  // Members and gossip: rendered by the loop when the view changed, served as they are.
  if (path == "/members") {
    return text_answer(kJson,
                       snap.members_json.empty() ? "{\"members\":[]}\n" : snap.members_json + "\n");
  }
  if (path == "/gossip") {
    return text_answer(kJson,
                       snap.gossip_json.empty() ? "{\"members\":[]}\n" : snap.gossip_json + "\n");
  }
  if (path == "/metrics") return text_answer(kPrometheus, metrics_text(in));
  nlohmann::json body = error_body("unknown-endpoint", head);
  body["endpoints"] = http_endpoints();
  return json_answer(404, body);
}

HttpAnswer refusal_answer(HttpRefusal reason, const HttpRequestHead& head) {
  int status = 400;
  std::string_view why = "bad-request";
  switch (reason) {
    case HttpRefusal::kHeaderTooLarge:
      status = 431;
      why = "header-too-large";
      break;
    case HttpRefusal::kBodyTooLarge:
      status = 413;
      why = "body-not-accepted";
      break;
    case HttpRefusal::kMethodNotAllowed:
      status = 405;
      why = "method-not-allowed";
      break;
    default:
      break;
  }
  nlohmann::json body = error_body(why, head);
  if (reason == HttpRefusal::kMethodNotAllowed) body["allowed"] = {"GET", "HEAD"};
  HttpAnswer a = json_answer(status, body);
  if (reason == HttpRefusal::kMethodNotAllowed) a.headers.emplace_back("Allow", "GET, HEAD");
  a.refusal = reason;
  return a;
}

HttpAnswer internal_error_answer() {
  return json_answer(500, {{"status", "error"}, {"reason", "internal"}});
}

}  // namespace esk8s::plugin
