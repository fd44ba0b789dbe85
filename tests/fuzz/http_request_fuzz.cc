// libFuzzer target for the HTTP endpoints' request path: the bytes a client sends, through the
// same Beast parser configuration and limits the server uses (plugin/http_request_parser.h), to
// the pure routing function (plugin/http_router.h), exactly as a connection does it: heads are
// read one after the other (pipelining), a refusal ends the connection. Whatever the input,
// nothing may crash, throw, leak or trip a sanitizer, and:
//   - every JSON answer parses (untrusted text is escaped and invalid UTF-8 replaced);
//   - the parser never holds more than the server's buffer bound;
//   - a refusal answer carries the status its reason maps to;
//   - a head that parses (complete, within the limit) gets the same answer however its bytes are
//     split into reads; one that does not is refused (400 or 431) or left waiting for more bytes
//     depending on the split (Beast checks the bytes of a head as they arrive only when the first
//     read holds the whole start line).
// Input layout: byte 0 seeds the read sizes; the rest is what the client sends.
//
// Build and run (see tests/fuzz/corpus/http_request for seeds):
//   tests/fuzz/run_fuzz.sh . build/fuzz http_request 600
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/error.hpp>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "plugin/http_request_parser.h"
#include "plugin/http_router.h"

using namespace esk8s::plugin;
namespace http = boost::beast::http;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const Snapshot& snapshot() {
  static const Snapshot s = [] {
    Snapshot snap;
    snap.started = true;
    snap.startup_checks.push_back({"http-listener", true, "127.0.0.1:2115"});
    snap.gossip_json = R"({"members":[],"serverIp":"esdb-0"})";
    snap.members_json = R"({"members":[]})";
    snap.readiness.cluster_size = 3;
    snap.readiness.alive = 2;
    snap.readiness.gossip_running = true;
    return snap;
  }();
  return s;
}

void check_answer(const HttpAnswer& a) {
  check(a.status >= 200 && a.status < 600);
  if (a.content_type == "application/json") {
    check(nlohmann::json::accept(a.body));
  }
  if (a.refusal) {
    switch (*a.refusal) {
      case HttpRefusal::kHeaderTooLarge:
        check(a.status == 431);
        break;
      case HttpRefusal::kBodyTooLarge:
        check(a.status == 413);
        break;
      case HttpRefusal::kMethodNotAllowed:
        check(a.status == 405);
        break;
      default:
        check(a.status == 400);
        break;
    }
  }
}

struct Served {
  std::vector<std::string> answers;  // "status body", in order
  std::vector<bool> parse_refusal;   // answers[i] refuses bytes that are not a head within limits
  bool ended_mid_head = false;       // the input stopped before a head was complete
};

// One connection's worth of requests.
Served serve(std::string_view input, uint32_t seed, bool split) {
  Served out;
  const auto now = std::chrono::steady_clock::now();
  std::string buffer;  // what the server has read and the parser has not consumed
  size_t pos = 0;
  uint32_t rng = 0x9e3779b9u ^ seed;
  for (int request = 0; request < 16; ++request) {
    HttpRequestParser parser;
    configure_request_parser(parser);
    boost::beast::error_code ec;
    size_t head_bytes = 0;  // what the parser consumed for this head
    // Read until the head is parsed, an error, or the input ends (the client stops sending).
    for (;;) {
      if (!buffer.empty()) {
        size_t used = parser.put(boost::asio::buffer(buffer), ec);
        buffer.erase(0, used);
        head_bytes += used;
        if (ec == http::error::need_more) ec = {};
        if (ec || parser.is_header_done()) break;
      }
      check(buffer.size() <= kHttpMaxBufferBytes);
      if (pos == input.size()) break;
      size_t n = input.size() - pos;
      if (split) {
        rng = rng * 1664525u + 1013904223u;
        n = std::min<size_t>(n, 1 + (rng >> 24) % 97);
      }
      n = std::min(n, kHttpMaxBufferBytes - buffer.size());
      if (n == 0) {  // the buffer is full and still no head: what the server reports
        ec = http::error::buffer_overflow;
        break;
      }
      buffer.append(input.substr(pos, n));
      pos += n;
    }
    HttpAnswer answer;
    std::optional<HttpRefusal> head_refusal;
    if (ec || parser.is_header_done()) head_refusal = refusal_for_head_read(ec, head_bytes);
    if (ec && !head_refusal) break;  // not the request's fault: the connection just ends
    if (head_refusal) {
      answer = refusal_answer(*head_refusal, {});
    } else if (!parser.is_header_done()) {
      out.ended_mid_head = !buffer.empty();  // the server's deadline would close it
      break;
    } else {
      const auto& req = parser.get();
      HttpRequestHead head{{req.method_string().data(), req.method_string().size()},
                           {req.target().data(), req.target().size()}};
      HttpRouteInputs in{snapshot(), now - std::chrono::milliseconds(5), now,
                         std::chrono::milliseconds(1000), HttpRefusalCounts{}};
      answer = route_request(head, in);
      if (!answer.refusal) {
        if (std::optional<HttpRefusal> r = refusal_for_body(parser)) {
          answer = refusal_answer(*r, head);
        }
      }
      check(!answer.refusal || answer.status >= 400);
    }
    check_answer(answer);
    out.answers.push_back(std::to_string(answer.status) + " " + answer.body);
    out.parse_refusal.push_back(head_refusal.has_value());
    if (answer.refusal || (parser.is_header_done() && !parser.get().keep_alive())) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  Served whole = serve(input, data[0], /*split=*/false);
  Served split = serve(input, data[0], /*split=*/true);
  const size_t common = std::min(whole.answers.size(), split.answers.size());
  for (size_t i = 0; i < common; ++i) {
    check(whole.parse_refusal[i] == split.parse_refusal[i]);
    if (!whole.parse_refusal[i]) check(whole.answers[i] == split.answers[i]);
  }
  if (whole.answers.size() != split.answers.size()) {
    const bool whole_longer = whole.answers.size() > split.answers.size();
    const Served& shorter = whole_longer ? split : whole;
    const Served& longer = whole_longer ? whole : split;
    check(shorter.ended_mid_head && longer.parse_refusal[common]);
  }
  (void)esk8s::truncate_for_log(input, data[0]);
  return 0;
}
