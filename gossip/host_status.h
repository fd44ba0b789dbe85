// The host's status (the database's role, checkpoints, epoch, advertised ports, version) as gossip
// disseminates it: the opaque `meta` bytes of a MemberRecord. The core never looks inside; the
// plugin encodes the local status into meta and decodes peers' meta for /gossip, /members and the
// host's membership callback.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace esk8s::gossip {

// A host name or address in the status: esk8s_node_status's char[128] less its NUL.
inline constexpr size_t kMaxEndpointHostBytes = 127;

// Mirrors esk8s_node_status (plugin.h). -1 means "unknown" for checkpoints, positions and numbers.
struct HostStatus {
  bool host_ready = true;
  std::string state;  // EventStoreDB VNodeState name ("Leader", "Follower", ...); empty: unknown
  int64_t writer_checkpoint = -1;
  int64_t chaser_checkpoint = -1;
  int64_t last_commit_position = -1;
  int64_t epoch_position = -1;
  int32_t epoch_number = -1;
  int32_t node_priority = 0;
  std::array<uint8_t, 16> epoch_id{};  // RFC 4122 byte order; all zero when unknown
  bool read_only_replica = false;
  uint16_t internal_tcp_port = 0;  // served with TLS; 0: not served
  uint16_t external_tcp_port = 0;  // served with TLS; 0: not served
  uint16_t http_port = 0;
  std::string version;  // database version, e.g. "24.10.0"
  // Since ABI 1.1 (plugin.h): plain TCP ports, advertise-to-client overrides (0: none) and the
  // endpoints' hosts (empty: the member's identity), at most kMaxEndpointHostBytes each.
  uint16_t internal_insecure_tcp_port = 0;
  uint16_t external_insecure_tcp_port = 0;
  uint16_t advertise_http_port_to_client_as = 0;
  uint16_t advertise_tcp_port_to_client_as = 0;
  std::string internal_tcp_host;
  std::string external_tcp_host;
  std::string http_host;
  std::string advertise_host_to_client_as;

  friend bool operator==(const HostStatus&, const HostStatus&) = default;
};

// Encodes to at most kMaxMetaBytes (message.h): `state` and `version` are cut to 31 bytes, the
// hosts to kMaxEndpointHostBytes.
std::string encode_host_status(const HostStatus& s);
// Decodes meta bytes; an empty string is an error ("no status"); unknown fields are ignored (a
// newer peer may send more), wrong types and out-of-range values are errors.
Result<HostStatus> decode_host_status(std::string_view meta);

}  // namespace esk8s::gossip
