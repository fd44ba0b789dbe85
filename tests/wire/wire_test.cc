// The gossip wire codec (gossip/wire.h): round trips, every hard limit, hostile input.
#include "gossip/wire.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/wire/wire_test_util.h"

namespace esk8s::gossip {
namespace {

using nlohmann::json;
using testing::same_envelope;
using testing::sample_envelope;
using testing::sample_envelopes;
using testing::sample_member;

// Encodes `e`, lets `edit` change the CBOR document (as a DOM of our own valid encoding), and
// re-encodes it: how the tests build frames a correct encoder never produces.
std::vector<uint8_t> edited(const Envelope& e, const std::function<void(json&)>& edit) {
  json doc = json::from_cbor(encode(e));
  edit(doc);
  return json::to_cbor(doc);
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  Result<Envelope> r = decode(bytes);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

Envelope ping_envelope() { return sample_envelope(Ping{1, "esdb-1"}, 1); }

TEST_CASE("every body type round trips with piggybacked updates") {
  for (const auto& [name, e] : sample_envelopes()) {
    CAPTURE(name);
    const std::vector<uint8_t> bytes = encode(e);
    CHECK(bytes.size() <= kMaxFrameBytes);
    Result<Envelope> r = decode(bytes);
    REQUIRE_MESSAGE(r.is_ok(), r.status().message());
    CHECK(same_envelope(r.value(), e));
    CHECK(encode(r.value()) == bytes);
  }
}

TEST_CASE("values at every limit round trip") {
  Envelope e = ping_envelope();
  e.cluster = std::string(kMaxClusterNameBytes, 'c');
  e.from = std::string(kMaxIdentityBytes, 'f');
  e.version_min = 0;
  e.version_max = UINT16_MAX;
  e.from_instance = InstanceId{UINT64_MAX, UINT64_MAX};
  e.body = IndirectPing{UINT32_MAX, std::string(kMaxIdentityBytes, 't'),
                        std::string(kMaxAddressBytes, 'a'), UINT16_MAX, true};
  e.updates.clear();
  for (size_t i = 0; i < kMaxPiggybackUpdates; ++i) {
    MemberRecord m = sample_member(static_cast<int>(i));
    m.identity = std::string(kMaxIdentityBytes, static_cast<char>('a' + i % 26));
    m.address = std::string(kMaxAddressBytes, 'x');
    m.meta = std::string(kMaxMetaBytes, '\xff');
    m.accuser = std::string(kMaxIdentityBytes, 'y');
    m.credential = std::string(kMaxCredentialBytes, '\x30');
    m.signature = std::string(kMaxSignatureBytes, '\x02');
    m.incarnation = UINT64_MAX;
    m.port = UINT16_MAX;
    m.state = MemberState::kLeft;
    m.instance = InstanceId{};  // unknown instance (a seed) is legal
    e.updates.push_back(m);
  }
  Result<Envelope> r = decode(encode(e));
  REQUIRE_MESSAGE(r.is_ok(), r.status().message());
  CHECK(same_envelope(r.value(), e));
}

TEST_CASE("a push-pull with the maximum member count round trips and one more is rejected") {
  PushPull pp;
  for (size_t i = 0; i < kMaxPushPullMembers; ++i) {
    MemberRecord m;
    m.identity = "m" + std::to_string(i);
    pp.members.push_back(m);
  }
  Envelope e = sample_envelope(pp, 0);
  Result<Envelope> r = decode(encode(e));
  REQUIRE_MESSAGE(r.is_ok(), r.status().message());
  CHECK(std::get<PushPull>(r.value().body).members.size() == kMaxPushPullMembers);

  std::get<PushPull>(e.body).members.push_back(sample_member(1));
  CHECK(decode_error(encode(e)) == "CBOR: array at depth 3 declares 16385 elements, limit 16384");
}

TEST_CASE("an identity of 254 bytes is rejected with its limit") {
  Envelope e = sample_envelope(Ack{1}, 4);
  e.updates[3].identity = std::string(254, 'i');
  CHECK(decode_error(encode(e)) == "update 3: identity is 254 bytes, limit 253");

  e = ping_envelope();
  e.from = std::string(254, 'i');
  CHECK(decode_error(encode(e)) == "from is 254 bytes, limit 253");

  PushPull pp;
  pp.members = {sample_member(0), sample_member(1), sample_member(2)};
  pp.members[2].accuser = std::string(254, 'a');
  CHECK(decode_error(encode(sample_envelope(pp, 0))) ==
        "push-pull member 2: accuser is 254 bytes, limit 253");

  e = ping_envelope();
  e.body = Ping{1, std::string(254, 't')};
  CHECK(decode_error(encode(e)) == "ping: target is 254 bytes, limit 253");
}

TEST_CASE("a cluster name or address over its limit is rejected") {
  Envelope e = ping_envelope();
  e.cluster = std::string(64, 'c');
  CHECK(decode_error(encode(e)) == "cluster is 64 bytes, limit 63");

  e = ping_envelope();
  e.updates[0].address = std::string(254, 'a');
  CHECK(decode_error(encode(e)) == "update 0: address is 254 bytes, limit 253");

  e.updates[0] = sample_member(0);
  e.body = IndirectPing{1, "t", std::string(254, 'a'), 1, true};
  CHECK(decode_error(encode(e)) == "indirect ping: address is 254 bytes, limit 253");
}

TEST_CASE("meta of 1025 bytes is rejected with its limit") {
  Envelope e = sample_envelope(Nack{1}, 2);
  e.updates[1].meta = std::string(1025, 'm');
  CHECK(decode_error(encode(e)) == "update 1: meta is 1025 bytes, limit 1024");
}

TEST_CASE("a credential or signature over its limit is rejected with the limit") {
  Envelope e = sample_envelope(Nack{1}, 2);
  e.updates[0].credential = std::string(kMaxCredentialBytes + 1, 'c');
  CHECK(decode_error(encode(e)) == "update 0: credential is 4097 bytes, limit 4096");
  e = sample_envelope(Nack{1}, 2);
  e.updates[1].signature = std::string(kMaxSignatureBytes + 1, 's');
  CHECK(decode_error(encode(e)) == "update 1: signature is 513 bytes, limit 512");
}

TEST_CASE("65 piggybacked updates are rejected with the limit") {
  Envelope e = sample_envelope(Ack{1}, 65);
  CHECK(decode_error(encode(e)) == "65 updates, limit 64");
}

TEST_CASE("empty identities are rejected") {
  Envelope e = ping_envelope();
  e.from.clear();
  CHECK(decode_error(encode(e)) == "from is empty");
  e = ping_envelope();
  e.updates[0].identity.clear();
  CHECK(decode_error(encode(e)) == "update 0: identity is empty");
}

TEST_CASE("frame headers round trip and zero or oversize lengths are rejected") {
  for (uint32_t len : {1u, 255u, 256u, 65536u, static_cast<uint32_t>(kMaxFrameBytes)}) {
    std::vector<uint8_t> out = {0xAA};
    append_frame_header(out, len);
    REQUIRE(out.size() == 1 + kFrameHeaderBytes);
    CHECK(out[0] == 0xAA);
    std::span<const uint8_t, kFrameHeaderBytes> header(out.data() + 1, kFrameHeaderBytes);
    Result<uint32_t> r = parse_frame_header(header);
    REQUIRE(r.is_ok());
    CHECK(r.value() == len);
  }
  std::vector<uint8_t> out;
  append_frame_header(out, 0x01020304);
  CHECK(out == std::vector<uint8_t>{1, 2, 3, 4});

  const std::array<uint8_t, 4> zero = {0, 0, 0, 0};
  Result<uint32_t> r = parse_frame_header(zero);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message() == "frame length is 0");

  const std::array<uint8_t, 4> oversize = {0x00, 0x80, 0x00, 0x01};  // kMaxFrameBytes + 1
  r = parse_frame_header(oversize);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message() == "frame length is 8388609 bytes, limit 8388608");

  const std::array<uint8_t, 4> huge = {0xFF, 0xFF, 0xFF, 0xFF};
  CHECK_FALSE(parse_frame_header(huge).is_ok());
}

TEST_CASE("a frame over the size limit is rejected before parsing") {
  std::vector<uint8_t> big(kMaxFrameBytes + 1, 0);
  CHECK(decode_error(big) == "frame is 8388609 bytes, limit 8388608");
}

TEST_CASE("deeply nested input is rejected without crashing") {
  constexpr size_t kDepth = 100'000;
  {
    std::vector<uint8_t> b(kDepth, 0x81);  // [[[[...0...]]]]
    b.push_back(0x00);
    CHECK(decode_error(b) == "CBOR: nesting deeper than 4 levels");
  }
  {
    std::vector<uint8_t> b(kDepth, 0x9F);  // indefinite-length arrays
    CHECK(decode_error(b) == "CBOR: indefinite-length array");
  }
  {
    std::vector<uint8_t> b;
    for (size_t i = 0; i < kDepth; ++i) {  // {"a": {"a": ...}}
      b.push_back(0xA1);
      b.push_back(0x61);
      b.push_back('a');
    }
    b.push_back(0x00);
    CHECK(decode_error(b) == "CBOR: unexpected map");
  }
  {
    std::vector<uint8_t> b(kDepth, 0xC6);  // tag(6) tag(6) ...
    b.push_back(0x00);
    decode_error(b);
  }
  {
    // Nested inside an otherwise valid envelope: the push-pull member list.
    std::vector<uint8_t> b = edited(sample_envelope(PushPull{}, 0), [](json& d) {
      json deep = 0;
      for (int i = 0; i < 10; ++i) deep = json::array({deep});
      d[6][2] = json::array({deep});
    });
    CHECK(decode_error(b) == "CBOR: nesting deeper than 4 levels");
  }
}

TEST_CASE("more items than a maximal push-pull are rejected before they are built") {
  // 16384 arrays of 16 zeros: every container is within limits but the total is not.
  std::vector<uint8_t> b = {0x99, 0x40, 0x00};  // array(16384)
  for (size_t i = 0; i < kMaxPushPullMembers; ++i) {
    b.push_back(0x90);  // array(16)
    b.insert(b.end(), 16, 0x00);
  }
  const std::string msg = decode_error(b);
  CHECK(msg.find("CBOR: more than ") == 0);
  CHECK(msg.find(" items") != std::string::npos);
}

TEST_CASE("an array declaring billions of elements is rejected without allocating") {
  std::vector<uint8_t> b = {0x9B, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
  CHECK(decode_error(b) == "CBOR: array at depth 1 declares 4294967296 elements, limit 16384");
  std::vector<uint8_t> s = {0x7A, 0x7F, 0xFF, 0xFF, 0xFF, 'a'};  // text of 2 GiB, 1 byte present
  decode_error(s);
  std::vector<uint8_t> bin = {0x5B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  decode_error(bin);
}

TEST_CASE("every truncated prefix of a valid encoding is rejected") {
  for (const auto& [name, e] : sample_envelopes()) {
    CAPTURE(name);
    const std::vector<uint8_t> bytes = encode(e);
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(n);
      Result<Envelope> r = decode(std::span<const uint8_t>(bytes.data(), n));
      CHECK_FALSE(r.is_ok());
    }
  }
}

TEST_CASE("trailing bytes after the envelope are rejected") {
  std::vector<uint8_t> b = encode(ping_envelope());
  b.push_back(0x00);
  const std::string msg = decode_error(b);
  CHECK(msg.find("expected end of input") != std::string::npos);
}

TEST_CASE("random byte flips never crash and what decodes re-encodes to the same value") {
  std::mt19937 rng(20240506);
  size_t decoded = 0;
  for (const auto& [name, e] : sample_envelopes()) {
    const std::vector<uint8_t> valid = encode(e);
    for (int iter = 0; iter < 4000; ++iter) {
      std::vector<uint8_t> b = valid;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        b[rng() % b.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      }
      if (rng() % 8 == 0) b.resize(rng() % b.size());
      Result<Envelope> r = decode(b);
      if (!r.is_ok()) {
        // Messages are short and built from our own words: they cannot quote 64 input bytes.
        CHECK(r.status().message().size() <= 200);
        continue;
      }
      ++decoded;
      const std::vector<uint8_t> again = encode(r.value());
      Result<Envelope> r2 = decode(again);
      REQUIRE(r2.is_ok());
      CHECK(same_envelope(r.value(), r2.value()));
      CHECK(encode(r2.value()) == again);
    }
  }
  MESSAGE("flipped frames that still decoded: " << decoded);
}

TEST_CASE("elements of the wrong type are rejected with their name") {
  const Envelope e = ping_envelope();
  CHECK(decode_error(edited(e, [](json& d) { d[7][0][4] = "2112"; })) ==
        "update 0: port is a text string, expected an unsigned integer");
  CHECK(decode_error(edited(e, [](json& d) { d[7][0][0] = json::binary({'a'}); })) ==
        "update 0: identity is a byte string, expected a text string");
  CHECK(decode_error(edited(e, [](json& d) { d[7][0][6] = "meta"; })) ==
        "update 0: meta is a text string, expected a byte string");
  CHECK(decode_error(edited(e, [](json& d) { d[6][0] = -1; })) ==
        "ping: seq is a negative integer, expected an unsigned integer");
  CHECK(decode_error(edited(e, [](json& d) { d[6][0] = 1.5; })) ==
        "ping: seq is a float, expected an unsigned integer");
  CHECK(decode_error(edited(e, [](json& d) { d[0] = nullptr; })) ==
        "version_min is null, expected an unsigned integer");
  CHECK(decode_error(edited(e, [](json& d) { d[7] = json::object(); })) == "CBOR: unexpected map");
  CHECK(decode_error(edited(e, [](json& d) { d[7] = 0; })) ==
        "updates is an unsigned integer, expected an array");
  CHECK(decode_error(edited(e, [](json& d) { d[7][0] = "x"; })) ==
        "update 0 is a text string, expected an array");
  CHECK(decode_error(edited(e, [](json& d) { d[7][0].erase(7); })) ==
        "update 0 has 9 elements, expected 10");
  CHECK(decode_error(edited(e, [](json& d) { d.push_back(0); })) ==
        "envelope has 9 elements, expected 8");
  CHECK(decode_error(edited(e, [](json& d) { d[6].push_back(0); })) ==
        "ping has 3 elements, expected 2");
  CHECK(decode_error(edited(sample_envelope(IndirectPing{}, 0), [](json& d) { d[6][4] = 1; })) ==
        "indirect ping: want_nack is an unsigned integer, expected a boolean");
  CHECK(decode_error(json::to_cbor(json("hello"))) ==
        "envelope is a text string, expected an array");
}

TEST_CASE("negative and too large integers are rejected") {
  const Envelope e = ping_envelope();
  CHECK(decode_error(edited(e, [](json& d) { d[7][0][4] = 65536; })) ==
        "update 0: port is 65536, limit 65535");
  CHECK(decode_error(edited(e, [](json& d) { d[7][0][5] = 4; })) ==
        "update 0: state is 4, limit 3");
  CHECK(decode_error(edited(e, [](json& d) { d[7][0][2] = -5; })) ==
        "update 0: incarnation is a negative integer, expected an unsigned integer");
  CHECK(decode_error(edited(e, [](json& d) { d[6][0] = 4294967296ULL; })) ==
        "ping: seq is 4294967296, limit 4294967295");
  CHECK(decode_error(edited(e, [](json& d) { d[1] = 65536; })) ==
        "version_max is 65536, limit 65535");
  CHECK(decode_error(edited(e, [](json& d) {
          d[0] = 3;
          d[1] = 2;
        })) == "version range [3, 2] is inverted");
  // CBOR -1-n with n = 2^64-1 (below INT64_MIN): not silently wrapped.
  std::vector<uint8_t> b = encode(e);
  const std::vector<uint8_t> seq_1 = {0x82, 0x01};  // ping body [1, ...]
  auto it = std::search(b.begin(), b.end(), seq_1.begin(), seq_1.end());
  REQUIRE(it != b.end());
  const size_t at = static_cast<size_t>(it - b.begin()) + 1;
  b.erase(b.begin() + static_cast<std::ptrdiff_t>(at));
  const std::vector<uint8_t> huge_negative = {0x3B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), huge_negative.begin(), huge_negative.end());
  CHECK(decode_error(b) == "CBOR: negative integer below -2^63");
}

TEST_CASE("instance ids that are not exactly 16 bytes are rejected") {
  const Envelope e = ping_envelope();
  CHECK(decode_error(edited(e, [](json& d) { d[4].get_binary().pop_back(); })) ==
        "from_instance is 15 bytes, expected 16");
  CHECK(decode_error(edited(e, [](json& d) { d[4].get_binary().push_back(0); })) ==
        "from_instance is 17 bytes, expected 16");
  CHECK(decode_error(edited(e, [](json& d) { d[7][0][1] = json::binary({}); })) ==
        "update 0: instance is 0 bytes, expected 16");
}

TEST_CASE("instance ids travel big-endian hi then lo") {
  Envelope e = ping_envelope();
  e.from_instance = InstanceId{0x0102030405060708ULL, 0x090A0B0C0D0E0F10ULL};
  json doc = json::from_cbor(encode(e));
  const std::vector<uint8_t> expected = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  CHECK(std::vector<uint8_t>(doc[4].get_binary()) == expected);
}

TEST_CASE("unknown body types are rejected") {
  const Envelope e = ping_envelope();
  CHECK(decode_error(edited(e, [](json& d) { d[5] = 6; })) == "unknown body type 6");
  CHECK(decode_error(edited(e, [](json& d) { d[5] = 0; })) == "unknown body type 0");
  CHECK(decode_error(edited(e, [](json& d) { d[5] = UINT64_MAX; })) ==
        "unknown body type 18446744073709551615");
}

TEST_CASE("body type numbers are the documented wire constants") {
  const std::vector<std::pair<std::string, uint64_t>> expected = {
      {"ping", 1}, {"indirect_ping", 2}, {"ack", 3}, {"nack", 4}, {"push_pull", 5}};
  const auto samples = sample_envelopes();
  REQUIRE(samples.size() == expected.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    CHECK(samples[i].first == expected[i].first);
    CHECK(json::from_cbor(encode(samples[i].second))[5].get<uint64_t>() == expected[i].second);
  }
}

TEST_CASE("an envelope from a non-overlapping protocol version still decodes") {
  Envelope e = ping_envelope();
  e.version_min = 7;
  e.version_max = 9;
  Result<Envelope> r = decode(encode(e));
  REQUIRE(r.is_ok());
  CHECK(r.value().version_min == 7);
  CHECK(r.value().version_max == 9);
}

TEST_CASE("error messages do not quote the input") {
  Envelope e = ping_envelope();
  e.updates[0].identity = std::string(300, 'Q');
  const std::string msg = decode_error(encode(e));
  CHECK(msg == "update 0: identity is 300 bytes, limit 253");
  CHECK(msg.find("QQ") == std::string::npos);
}

// The seeds of the gossip_wire fuzz target (tests/fuzz/corpus/gossip_wire) are the sample
// envelopes. Run with ESK8S_WRITE_GOSSIP_WIRE_SEEDS=1 to (re)write them; otherwise check that the
// committed seeds are exactly what the encoder produces today.
TEST_CASE("the gossip_wire fuzz seeds are current encodings of every body type") {
  const std::filesystem::path dir =
      std::filesystem::path(ESK8S_SOURCE_DIR) / "tests/fuzz/corpus/gossip_wire";
  const bool write = std::getenv("ESK8S_WRITE_GOSSIP_WIRE_SEEDS") != nullptr;
  if (write) std::filesystem::create_directories(dir);
  for (const auto& [name, e] : sample_envelopes()) {
    CAPTURE(name);
    const std::vector<uint8_t> bytes = encode(e);
    const std::filesystem::path file = dir / name;
    if (write) {
      std::ofstream out(file, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
      REQUIRE(out.good());
    }
    std::ifstream in(file, std::ios::binary);
    REQUIRE(in.good());
    const std::vector<uint8_t> seed((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
    CHECK(seed == bytes);
  }
}

}  // namespace
}  // namespace esk8s::gossip
