// libFuzzer target for the gossip wire decoder (gossip/wire.h), the host-status decoder
// (gossip/host_status.h) and the JSON renderings fed with what they decode (plugin/esdb_gossip.h).
// Whatever the input, nothing may crash, leak, throw or trip a sanitizer, and:
//   - an input that decodes re-encodes to a frame that decodes to the same envelope, and that
//     re-encodes to the same bytes (the encoding is canonical);
//   - error messages stay short (they never quote more than 64 bytes of input);
//   - a decoded host status round trips through encode_host_status.
// The input is one frame as the transport hands it to decode() (no length header).
//
// Build and run (seeds in tests/fuzz/corpus/gossip_wire, written by the wire test
// "the gossip_wire fuzz seeds are current encodings of every body type"):
//   tests/fuzz/run_fuzz.sh . build/fuzz gossip_wire 600
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gossip/host_status.h"
#include "gossip/wire.h"
#include "plugin/esdb_gossip.h"
#include "tests/wire/wire_test_util.h"

using esk8s::Result;
using namespace esk8s::gossip;
using esk8s::plugin::GossipViewMember;
using esk8s::plugin::render_esdb_gossip;
using esk8s::plugin::render_members_json;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_host_status(std::string_view meta) {
  Result<HostStatus> s = decode_host_status(meta);
  if (!s.is_ok()) {
    check(s.status().message().size() <= 200);
    return;
  }
  Result<HostStatus> again = decode_host_status(encode_host_status(s.value()));
  check(again.is_ok());
  // state and version may have been cut on encode; everything else is exact.
  HostStatus expected = s.value();
  expected.state = again.value().state;
  expected.version = again.value().version;
  check(again.value() == expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  check_host_status(std::string_view(reinterpret_cast<const char*>(data), size));

  Result<Envelope> r = decode(bytes);
  if (!r.is_ok()) {
    check(r.status().message().size() <= 200);
    return 0;
  }
  const std::vector<uint8_t> encoded = encode(r.value());
  check(encoded.size() <= kMaxFrameBytes);
  Result<Envelope> r2 = decode(encoded);
  check(r2.is_ok());
  check(esk8s::gossip::testing::same_envelope(r.value(), r2.value()));
  check(encode(r2.value()) == encoded);
  // The input itself may differ from `encoded`: the decoder accepts non-preferred CBOR forms
  // (e.g. a 5 written in two bytes, chunked strings) and the encoder writes the preferred,
  // shortest one.
  check(encoded.size() <= size);

  // Render what a peer could make us show.
  std::vector<GossipViewMember> view;
  std::vector<MemberRecord> records = r.value().updates;
  if (const auto* pp = std::get_if<PushPull>(&r.value().body)) {
    records.insert(records.end(), pp->members.begin(), pp->members.end());
  }
  for (const MemberRecord& m : records) {
    check_host_status(m.meta);
    GossipViewMember v;
    v.record = m;
    Result<HostStatus> s = decode_host_status(m.meta);
    if (s.is_ok()) v.status = s.value();
    v.last_change = std::chrono::system_clock::time_point(
        std::chrono::system_clock::duration(static_cast<int64_t>(m.incarnation % (1ULL << 62))));
    view.push_back(std::move(v));
  }
  (void)render_esdb_gossip(view, r.value().from, 2113);
  (void)render_members_json(view, r.value().from);
  return 0;
}
