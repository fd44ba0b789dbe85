// The host-status metadata codec (gossip/host_status.h).
#include "gossip/host_status.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gossip/message.h"

namespace esk8s::gossip {
namespace {

using nlohmann::json;

HostStatus full_status() {
  HostStatus s;
  s.host_ready = false;
  s.state = "Leader";
  s.writer_checkpoint = 9'000'000'000'000LL;
  s.chaser_checkpoint = 8'999'999'999'999LL;
  s.last_commit_position = 123;
  s.epoch_position = 456;
  s.epoch_number = 2'147'483'647;
  s.node_priority = -2'147'483'647 - 1;
  for (size_t i = 0; i < 16; ++i) s.epoch_id[i] = static_cast<uint8_t>(0xF0 + i);
  s.read_only_replica = true;
  s.internal_tcp_port = 1112;
  s.external_tcp_port = 65535;
  s.http_port = 2113;
  s.version = "24.10.0";
  s.internal_insecure_tcp_port = 1;
  s.external_insecure_tcp_port = 2;
  s.advertise_http_port_to_client_as = 3;
  s.advertise_tcp_port_to_client_as = 4;
  s.internal_tcp_host = "esdb-0.internal.example";
  s.external_tcp_host = "10.0.0.7";
  s.http_host = "esdb-0.example.com";
  s.advertise_host_to_client_as = "lb.example.com";
  return s;
}

std::string cbor(const json& j) {
  const std::vector<uint8_t> b = json::to_cbor(j);
  return std::string(b.begin(), b.end());
}

json as_json(const HostStatus& s) {
  const std::string meta = encode_host_status(s);
  return json::from_cbor(std::vector<uint8_t>(meta.begin(), meta.end()));
}

std::string decode_error(const std::string& meta) {
  Result<HostStatus> r = decode_host_status(meta);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

TEST_CASE("host status round trips, defaults and every field set") {
  for (const HostStatus& s : {HostStatus{}, full_status()}) {
    const std::string meta = encode_host_status(s);
    CHECK(meta.size() <= kMaxMetaBytes);
    Result<HostStatus> r = decode_host_status(meta);
    REQUIRE_MESSAGE(r.is_ok(), r.status().message());
    CHECK(r.value() == s);
  }
}

TEST_CASE("host status with every text at its longest fits the gossip meta limit") {
  HostStatus s = full_status();
  s.state = std::string(31, 's');
  s.version = std::string(31, 'v');
  s.internal_tcp_host = std::string(kMaxEndpointHostBytes, 'a');
  s.external_tcp_host = std::string(kMaxEndpointHostBytes, 'b');
  s.http_host = std::string(kMaxEndpointHostBytes, 'c');
  s.advertise_host_to_client_as = std::string(kMaxEndpointHostBytes + 50, 'd');  // cut to 127
  const std::string meta = encode_host_status(s);
  CHECK(meta.size() <= kMaxMetaBytes);
  Result<HostStatus> r = decode_host_status(meta);
  REQUIRE_MESSAGE(r.is_ok(), r.status().message());
  CHECK(r.value().http_host == s.http_host);
  CHECK(r.value().advertise_host_to_client_as == std::string(kMaxEndpointHostBytes, 'd'));
}

TEST_CASE("host status from a peer before ABI 1.1 decodes with no plain ports and no hosts") {
  json m = as_json(full_status());
  for (const char* k : {"iit", "eit", "ahp", "atp", "ith", "eth", "hh", "ah"}) m.erase(k);
  Result<HostStatus> r = decode_host_status(cbor(m));
  REQUIRE(r.is_ok());
  CHECK(r.value().external_tcp_port == 65535);
  CHECK(r.value().external_insecure_tcp_port == 0);
  CHECK(r.value().advertise_tcp_port_to_client_as == 0);
  CHECK(r.value().external_tcp_host.empty());
  CHECK(r.value().advertise_host_to_client_as.empty());
}

TEST_CASE("host status refuses an endpoint host longer than 127 bytes") {
  json m = as_json(full_status());
  m["hh"] = std::string(128, 'h');
  CHECK(decode_error(cbor(m)).find("\"hh\": is 128 bytes, limit 127") != std::string::npos);
  m["hh"] = 7;
  CHECK(decode_error(cbor(m)).find("\"hh\"") != std::string::npos);
}

TEST_CASE("host status state and version are cut to 31 bytes without splitting a character") {
  HostStatus s = full_status();
  s.state = std::string(40, 's');
  s.version = std::string(30, 'v') + "\xc3\xa9" + "tail";  // 'é' straddles byte 31
  const std::string meta = encode_host_status(s);
  CHECK(meta.size() <= kMaxMetaBytes);
  Result<HostStatus> r = decode_host_status(meta);
  REQUIRE(r.is_ok());
  CHECK(r.value().state == std::string(31, 's'));
  CHECK(r.value().version == std::string(30, 'v'));
}

TEST_CASE("host status decoding ignores unknown keys and keeps defaults for missing ones") {
  json m = as_json(full_status());
  m["zz"] = json::object({{"nested", json::array({1, 2, json::object({{"x", "y"}})})}});
  m["future"] = 1.5;
  m.erase("v");
  m.erase("w");
  Result<HostStatus> r = decode_host_status(cbor(m));
  REQUIRE_MESSAGE(r.is_ok(), r.status().message());
  HostStatus expected = full_status();
  expected.version.clear();
  expected.writer_checkpoint = -1;
  CHECK(r.value() == expected);

  Result<HostStatus> empty_map = decode_host_status(cbor(json::object()));
  REQUIRE(empty_map.is_ok());
  CHECK(empty_map.value() == HostStatus{});
}

TEST_CASE("host status with wrong types or out of range values is rejected") {
  const json base = as_json(full_status());
  auto with = [&](const char* key, json v) {
    json m = base;
    m[key] = std::move(v);
    return decode_error(cbor(m));
  };
  CHECK(with("r", 1) == "status field \"r\": is an unsigned integer, expected a boolean");
  CHECK(with("w", "12") == "status field \"w\": is a text string, expected an integer");
  CHECK(with("w", 9223372036854775808ULL) ==
        "status field \"w\": 9223372036854775808 is above "
        "9223372036854775807");
  CHECK(with("en", 2147483648LL) == "status field \"en\": 2147483648 is above 2147483647");
  CHECK(with("p", -2147483649LL) == "status field \"p\": -2147483649 is below -2147483648");
  CHECK(with("it", 65536) == "status field \"it\": 65536 is above 65535");
  CHECK(with("h", -1) == "status field \"h\": -1 is below 0");
  CHECK(with("s", std::string(32, 's')) == "status field \"s\": is 32 bytes, limit 31");
  CHECK(with("ei", json::binary(std::vector<uint8_t>(15, 0))) ==
        "status field \"ei\": is 15 bytes, expected 16");
  CHECK(with("ei", "guid") == "status field \"ei\": is a text string, expected a byte string");
  CHECK(with("ro", nullptr) == "status field \"ro\": is null, expected a boolean");
}

TEST_CASE("host status that is empty, not a map, oversize or not CBOR is rejected") {
  CHECK(decode_error("") == "no status");
  CHECK(decode_error(cbor(json::array({1, 2}))) == "status is an array, expected a map");
  CHECK(decode_error(std::string(kMaxMetaBytes + 1, '\xa0')) == "status is 1025 bytes, limit 1024");
  CHECK(decode_error("\xa1\x61").find("status: CBOR: ") == 0);  // truncated
  CHECK(decode_error(std::string("\xa0\x00", 2)).find("expected end of input") !=
        std::string::npos);
  // A duplicate key is ambiguous.
  CHECK(decode_error("\xa2\x61r\xf5\x61r\xf4") == "status: CBOR: duplicate map key");
  // A map whose key is not a text string.
  decode_error("\xa1\x01\x02");
}

TEST_CASE("deeply nested host status is rejected without crashing") {
  std::string deep(kMaxMetaBytes, '\x81');
  CHECK(decode_error(deep) == "status: CBOR: nesting deeper than 8 levels");
  std::string maps;
  while (maps.size() + 3 <= kMaxMetaBytes) maps += "\xa1\x61k";
  CHECK(decode_error(maps) == "status: CBOR: nesting deeper than 8 levels");
}

}  // namespace
}  // namespace esk8s::gossip
