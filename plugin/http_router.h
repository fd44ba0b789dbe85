// What each HTTP request is answered with, as a pure function of the request head and the state
// the endpoints read (the published Snapshot, the loop heartbeat, the clock, the refusal
// counters). The server only moves bytes; everything an attacker's bytes can reach after parsing
// is here, so it is unit-tested and fuzzed (tests/fuzz/http_request_fuzz.cc) without sockets.
//
// Request headers do not influence any answer: Range, If-*, Accept-Encoding and the like are
// ignored by design (a probe endpoint has one representation), so `Range: bytes=0-,0-,...` gets
// the normal body once.
//
// Untrusted text (method, path) echoed in a JSON body is cut to kHttpMaxEchoBytes and dumped with
// invalid UTF-8 replaced, so no input makes serialisation throw.
//
// Thread-safety: pure functions; call from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugin/http_refusals.h"
#include "plugin/snapshot.h"

namespace esk8s::plugin {

// Longest method or path echoed in an answer or a log record.
inline constexpr size_t kHttpMaxEchoBytes = 256;

// The parsed request line; the views are only read during the call.
struct HttpRequestHead {
  std::string_view method;  // as sent (any bytes the parser accepted)
  std::string_view target;  // origin-form "/path?query" as sent, not percent-decoded
};

struct HttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type/-Length
  // Set when the answer is a refusal: the server counts it and closes after writing.
  std::optional<HttpRefusal> refusal;
  // /health/disruptable wants the disruption guard's Lease (HealthReport::wants_guard).
  bool wants_disruption_guard = false;
};

// What the endpoints answer from.
struct HttpRouteInputs {
  const Snapshot& snapshot;
  std::chrono::steady_clock::time_point last_heartbeat;
  std::chrono::steady_clock::time_point now;
  std::chrono::milliseconds live_deadline;
  HttpRefusalCounts refusals{};  // appended to /metrics
  // Wall-clock time for the disruption guard's Lease expiry.
  std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now();
};

// GET and HEAD of the endpoints; 404 (JSON naming the endpoints) for an unknown path; 405 (JSON,
// `Allow: GET, HEAD`, refusal kMethodNotAllowed) for any other method. Never throws except
// std::bad_alloc.
HttpAnswer route_request(const HttpRequestHead& head, const HttpRouteInputs& in);

// The JSON answer for a refusal found before routing (kHeaderTooLarge 431, kBadRequest 400,
// kBodyTooLarge 413, kMethodNotAllowed 405, anything else 400). `head` may be empty when the
// request line was never parsed.
HttpAnswer refusal_answer(HttpRefusal reason, const HttpRequestHead& head);

// The 500 answer when answering failed unexpectedly (no detail: it could echo anything).
HttpAnswer internal_error_answer();

// The endpoints this server routes, for 404 bodies and tests.
const std::vector<std::string>& http_endpoints();

}  // namespace esk8s::plugin
