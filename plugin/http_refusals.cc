#include "plugin/http_refusals.h"

#include <string>

namespace esk8s::plugin {

std::string_view to_string(HttpRefusal r) {
  switch (r) {
    case HttpRefusal::kHeaderTooLarge:
      return "header_too_large";
    case HttpRefusal::kHeaderTimeout:
      return "header_timeout";
    case HttpRefusal::kIdleTimeout:
      return "idle_timeout";
    case HttpRefusal::kConnectionCap:
      return "connection_cap";
    case HttpRefusal::kBadRequest:
      return "bad_request";
    case HttpRefusal::kMethodNotAllowed:
      return "method_not_allowed";
    case HttpRefusal::kBodyTooLarge:
      return "body_too_large";
    case HttpRefusal::kTlsHandshake:
      return "tls_handshake";
  }
  return "unknown";
}

HttpRefusalCounts HttpRefusalCounters::load() const {
  HttpRefusalCounts out{};
  for (size_t i = 0; i < kHttpRefusalReasons; ++i) {
    out[i] = counts_[i].load(std::memory_order_relaxed);
  }
  return out;
}

std::vector<Metric> refusal_metrics(const HttpRefusalCounts& counts) {
  std::vector<Metric> out;
  for (size_t i = 0; i < kHttpRefusalReasons; ++i) {
    out.push_back({"esk8s_http_refused_connections_total",
                   "HTTP connections the endpoints refused or closed, by reason (limits, "
                   "deadlines, the connection cap, failed HTTPS handshakes).",
                   "counter",
                   {{"reason", std::string(to_string(static_cast<HttpRefusal>(i)))}},
                   static_cast<double>(counts[i])});
  }
  return out;
}

}  // namespace esk8s::plugin
