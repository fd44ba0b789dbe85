// HostStatus as meta bytes: one CBOR map (RFC 8949) with short text keys, so a newer peer can add
// keys and an older one skips them. Every key is optional on decode (a missing key keeps the
// HostStatus default); the encoder writes all of them.
//
//   key  field                 CBOR type and range
//   "r"  host_ready            bool
//   "s"  state                 text, <= 31 bytes (VNodeState name)
//   "w"  writer_checkpoint     int64
//   "c"  chaser_checkpoint     int64
//   "l"  last_commit_position  int64
//   "ep" epoch_position        int64
//   "en" epoch_number          int32
//   "ei" epoch_id              bytes, exactly 16 (RFC 4122 byte order)
//   "p"  node_priority         int32
//   "ro" read_only_replica     bool
//   "it" internal_tcp_port     uint16
//   "et" external_tcp_port     uint16
//   "h"  http_port             uint16
//   "v"  version               text, <= 31 bytes
//   -- added with ABI 1.1 (an older peer ignores them; from an older peer they stay 0/empty):
//   "iit" internal_insecure_tcp_port         uint16
//   "eit" external_insecure_tcp_port         uint16
//   "ahp" advertise_http_port_to_client_as   uint16
//   "atp" advertise_tcp_port_to_client_as    uint16
//   "ith" internal_tcp_host                  text, <= 127 bytes; written only when not empty
//   "eth" external_tcp_host                  text, <= 127 bytes; written only when not empty
//   "hh"  http_host                          text, <= 127 bytes; written only when not empty
//   "ah"  advertise_host_to_client_as        text, <= 127 bytes; written only when not empty
//
// WARNING: a key's meaning and type never change; a changed field gets a new key.
// The whole encoding is at most ~730 bytes (~200 without hosts), below kMaxMetaBytes (1 KiB).
#include "gossip/host_status.h"

#include <algorithm>
#include <array>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "gossip/bounded_cbor.h"
#include "gossip/message.h"

namespace esk8s::gossip {
namespace {

using nlohmann::json;

constexpr size_t kMaxStatusTextBytes = 31;

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string cut_utf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

Status field_error(const char* key, const std::string& what) {
  return Status::invalid_argument(std::string("status field \"") + key + "\": " + what);
}

Status read_bool(const json& v, const char* key, bool& out) {
  if (!v.is_boolean()) {
    return field_error(key, std::string("is ") + cbor_type_name(v) + ", expected a boolean");
  }
  out = v.get<bool>();
  return Status::ok();
}

template <typename T>
Status read_int(const json& v, const char* key, T& out) {
  if (v.is_number_unsigned()) {
    const uint64_t n = v.get<uint64_t>();
    if (n > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return field_error(
          key, std::to_string(n) + " is above " + std::to_string(std::numeric_limits<T>::max()));
    }
    out = static_cast<T>(n);
    return Status::ok();
  }
  if (v.is_number_integer()) {  // negative (bounded_cbor guarantees it fits int64)
    const int64_t n = v.get<int64_t>();
    if (n < static_cast<int64_t>(std::numeric_limits<T>::min())) {
      return field_error(
          key, std::to_string(n) + " is below " + std::to_string(std::numeric_limits<T>::min()));
    }
    out = static_cast<T>(n);
    return Status::ok();
  }
  return field_error(key, std::string("is ") + cbor_type_name(v) + ", expected an integer");
}

Status read_text(const json& v, const char* key, std::string& out,
                 size_t max = kMaxStatusTextBytes) {
  if (!v.is_string()) {
    return field_error(key, std::string("is ") + cbor_type_name(v) + ", expected a text string");
  }
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() > max) {
    return field_error(key, "is " + std::to_string(s.size()) + " bytes, limit " +
                                std::to_string(max));
  }
  out = s;
  return Status::ok();
}

Status read_epoch_id(const json& v, const char* key, std::array<uint8_t, 16>& out) {
  if (!v.is_binary()) {
    return field_error(key, std::string("is ") + cbor_type_name(v) + ", expected a byte string");
  }
  const std::vector<uint8_t>& b = v.get_binary();
  if (b.size() != out.size()) {
    return field_error(key, "is " + std::to_string(b.size()) + " bytes, expected 16");
  }
  std::copy(b.begin(), b.end(), out.begin());
  return Status::ok();
}

}  // namespace

std::string encode_host_status(const HostStatus& s) {
  json m = json::object();
  m["r"] = s.host_ready;
  m["s"] = cut_utf8(s.state, kMaxStatusTextBytes);
  m["w"] = s.writer_checkpoint;
  m["c"] = s.chaser_checkpoint;
  m["l"] = s.last_commit_position;
  m["ep"] = s.epoch_position;
  m["en"] = s.epoch_number;
  m["ei"] = json::binary(std::vector<uint8_t>(s.epoch_id.begin(), s.epoch_id.end()));
  m["p"] = s.node_priority;
  m["ro"] = s.read_only_replica;
  m["it"] = s.internal_tcp_port;
  m["et"] = s.external_tcp_port;
  m["h"] = s.http_port;
  m["v"] = cut_utf8(s.version, kMaxStatusTextBytes);
  m["iit"] = s.internal_insecure_tcp_port;
  m["eit"] = s.external_insecure_tcp_port;
  m["ahp"] = s.advertise_http_port_to_client_as;
  m["atp"] = s.advertise_tcp_port_to_client_as;
  auto host = [&](const char* key, const std::string& h) {
    if (!h.empty()) m[key] = cut_utf8(h, kMaxEndpointHostBytes);
  };
  host("ith", s.internal_tcp_host);
  host("eth", s.external_tcp_host);
  host("hh", s.http_host);
  host("ah", s.advertise_host_to_client_as);
  const std::vector<uint8_t> bytes = json::to_cbor(m);
  return std::string(bytes.begin(), bytes.end());
}

Result<HostStatus> decode_host_status(std::string_view meta) {
  if (meta.empty()) return Status::invalid_argument("no status");
  if (meta.size() > kMaxMetaBytes) {
    return Status::invalid_argument("status is " + std::to_string(meta.size()) + " bytes, limit " +
                                    std::to_string(kMaxMetaBytes));
  }
  CborLimits limits;
  limits.max_depth = 8;  // room for nested values under keys a newer peer may add
  limits.max_container = kMaxMetaBytes;
  limits.max_items = kMaxMetaBytes;
  limits.allow_maps = true;
  Result<json> parsed = parse_bounded_cbor(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(meta.data()), meta.size()), limits);
  if (!parsed) return Status::invalid_argument("status: " + parsed.status().message());
  const json& m = parsed.value();
  if (!m.is_object()) {
    return Status::invalid_argument(std::string("status is ") + cbor_type_name(m) +
                                    ", expected a map");
  }

  HostStatus s;
  for (const auto& [key, v] : m.items()) {
    Status st;
    if (key == "r") {
      st = read_bool(v, "r", s.host_ready);
    } else if (key == "s") {
      st = read_text(v, "s", s.state);
    } else if (key == "w") {
      st = read_int(v, "w", s.writer_checkpoint);
    } else if (key == "c") {
      st = read_int(v, "c", s.chaser_checkpoint);
    } else if (key == "l") {
      st = read_int(v, "l", s.last_commit_position);
    } else if (key == "ep") {
      st = read_int(v, "ep", s.epoch_position);
    } else if (key == "en") {
      st = read_int(v, "en", s.epoch_number);
    } else if (key == "ei") {
      st = read_epoch_id(v, "ei", s.epoch_id);
    } else if (key == "p") {
      st = read_int(v, "p", s.node_priority);
    } else if (key == "ro") {
      st = read_bool(v, "ro", s.read_only_replica);
    } else if (key == "it") {
      st = read_int(v, "it", s.internal_tcp_port);
    } else if (key == "et") {
      st = read_int(v, "et", s.external_tcp_port);
    } else if (key == "h") {
      st = read_int(v, "h", s.http_port);
    } else if (key == "v") {
      st = read_text(v, "v", s.version);
    } else if (key == "iit") {
      st = read_int(v, "iit", s.internal_insecure_tcp_port);
    } else if (key == "eit") {
      st = read_int(v, "eit", s.external_insecure_tcp_port);
    } else if (key == "ahp") {
      st = read_int(v, "ahp", s.advertise_http_port_to_client_as);
    } else if (key == "atp") {
      st = read_int(v, "atp", s.advertise_tcp_port_to_client_as);
    } else if (key == "ith") {
      st = read_text(v, "ith", s.internal_tcp_host, kMaxEndpointHostBytes);
    } else if (key == "eth") {
      st = read_text(v, "eth", s.external_tcp_host, kMaxEndpointHostBytes);
    } else if (key == "hh") {
      st = read_text(v, "hh", s.http_host, kMaxEndpointHostBytes);
    } else if (key == "ah") {
      st = read_text(v, "ah", s.advertise_host_to_client_as, kMaxEndpointHostBytes);
    }  // else: a key from a newer peer, ignored
    if (!st) return st;
  }
  return s;
}

}  // namespace esk8s::gossip
