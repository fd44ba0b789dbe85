// libFuzzer target for the watch-stream decoder and the EndpointSlice parsers
// (discovery/endpointslice_parse.h). Whatever the input, nothing may crash, leak, throw or trip a
// sanitizer, and the decoder must honour its contract:
//   - the results do not depend on how the body is split into chunks;
//   - it never buffers more than max_line_bytes.
// Input layout: byte 0 picks max_line_bytes (small limits exercise the over-long-line path),
// byte 1 seeds the chunk sizes; the rest is the watch response body. parse_slice_list,
// parse_watch_event and parse_endpoint_slice also get the body.
//
// Build and run (see tests/fuzz/corpus/watch_stream for seeds):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. common/status.cc \
//     discovery/endpointslice.cc tests/fuzz/watch_stream_fuzz.cc -o watch_stream_fuzz
//   ./watch_stream_fuzz -max_total_time=30 -max_len=4096 tests/fuzz/corpus/watch_stream
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/escape.h"
#include "discovery/endpointslice_parse.h"

using esk8s::Result;
using esk8s::discovery::SliceEvent;
using esk8s::discovery::WatchStreamDecoder;

namespace {

std::string summarize(const Result<SliceEvent>& r) {
  if (!r.is_ok()) return "E " + r.status().message();
  const SliceEvent& e = r.value();
  const esk8s::discovery::EndpointSlice& o = e.object;
  std::string s = std::to_string(static_cast<int>(e.type)) + " " + e.resource_version + " " +
                  o.namespace_name + "/" + o.name + " " + o.service_name + " " + o.address_type +
                  " " + std::to_string(e.status.code) + e.status.reason + e.status.message;
  for (const auto& ep : o.endpoints) {
    s += " [" + ep.hostname + ep.target_name + (ep.ready ? "r" : "") + (ep.serving ? "s" : "") +
         (ep.terminating ? "t" : "");
    for (const auto& a : ep.addresses) s += " " + a;
    s += "]";
  }
  for (const auto& p : o.ports) s += " " + p.name + ":" + std::to_string(p.port);
  return s;
}

void collect(std::vector<std::string>& out, const std::vector<Result<SliceEvent>>& results) {
  for (const auto& r : results) out.push_back(summarize(r));
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Limits from 1 to 1021 bytes, or (byte 0 == 255) the default 4 MiB.
  const size_t max_line = data[0] == 255 ? esk8s::discovery::kMaxObjectBytes : 1 + 4 * data[0];
  uint32_t rng = 0x9e3779b9u ^ data[1];
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  // Reference: the whole body in one chunk.
  std::vector<std::string> whole;
  {
    WatchStreamDecoder d(max_line);
    collect(whole, d.feed(body));
    check(d.buffered_bytes() <= max_line);
    collect(whole, d.finish());
    check(d.buffered_bytes() == 0);
  }

  // The same body in pseudo-random chunks (sizes 0-63, empty chunks included).
  std::vector<std::string> split;
  {
    WatchStreamDecoder d(max_line);
    size_t pos = 0;
    while (pos < body.size()) {
      rng = rng * 1664525u + 1013904223u;
      const size_t len = (rng >> 24) % 64;
      collect(split, d.feed(body.substr(pos, len)));
      check(d.buffered_bytes() <= max_line);
      pos += len;
    }
    collect(split, d.finish());
  }
  check(whole == split);

  // The other entry points on the same bytes (and on the full input).
  (void)esk8s::discovery::parse_slice_list(body);
  (void)esk8s::discovery::parse_slice_list(
      std::string_view(reinterpret_cast<const char*>(data), size));
  (void)esk8s::discovery::parse_watch_event(body);
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_discarded()) (void)esk8s::discovery::parse_endpoint_slice(doc);
  (void)esk8s::truncate_for_log(body, data[1]);
  return 0;
}
