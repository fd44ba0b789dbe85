#include "plugin/node_status.h"

#include <algorithm>
#include <cstring>

namespace esk8s::plugin {

namespace {

// A char[] the host filled: up to its first NUL, never past its end.
std::string cstr(const char* p, size_t cap) { return std::string(p, strnlen(p, cap)); }

// Cut to cap - 1 bytes and NUL-terminated.
void copy_cstr(char* dst, size_t cap, const std::string& src) {
  size_t n = std::min(src.size(), cap - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

}  // namespace

gossip::HostStatus to_host_status(const esk8s_node_status& s) {
  gossip::HostStatus h;
  h.host_ready = s.host_ready != 0;
  h.state = cstr(s.state, sizeof s.state);
  h.writer_checkpoint = s.writer_checkpoint;
  h.chaser_checkpoint = s.chaser_checkpoint;
  h.last_commit_position = s.last_commit_position;
  h.epoch_position = s.epoch_position;
  h.epoch_number = s.epoch_number;
  h.node_priority = s.node_priority;
  std::memcpy(h.epoch_id.data(), s.epoch_id, 16);
  h.read_only_replica = s.is_read_only_replica != 0;
  h.internal_tcp_port = s.internal_tcp_port;
  h.external_tcp_port = s.external_tcp_port;
  h.http_port = s.http_port;
  h.version = cstr(s.version, sizeof s.version);
  h.internal_insecure_tcp_port = s.internal_insecure_tcp_port;
  h.external_insecure_tcp_port = s.external_insecure_tcp_port;
  h.advertise_http_port_to_client_as = s.advertise_http_port_to_client_as;
  h.advertise_tcp_port_to_client_as = s.advertise_tcp_port_to_client_as;
  h.internal_tcp_host = cstr(s.internal_tcp_host, sizeof s.internal_tcp_host);
  h.external_tcp_host = cstr(s.external_tcp_host, sizeof s.external_tcp_host);
  h.http_host = cstr(s.http_host, sizeof s.http_host);
  h.advertise_host_to_client_as =
      cstr(s.advertise_host_to_client_as, sizeof s.advertise_host_to_client_as);
  return h;
}

esk8s_node_status to_node_status(const gossip::HostStatus& h) {
  esk8s_node_status s{};
  s.struct_size = sizeof s;
  s.host_ready = h.host_ready ? 1 : 0;
  copy_cstr(s.state, sizeof s.state, h.state);
  s.writer_checkpoint = h.writer_checkpoint;
  s.chaser_checkpoint = h.chaser_checkpoint;
  s.last_commit_position = h.last_commit_position;
  s.epoch_position = h.epoch_position;
  s.epoch_number = h.epoch_number;
  s.node_priority = h.node_priority;
  std::memcpy(s.epoch_id, h.epoch_id.data(), 16);
  s.is_read_only_replica = h.read_only_replica ? 1 : 0;
  s.internal_tcp_port = h.internal_tcp_port;
  s.external_tcp_port = h.external_tcp_port;
  s.http_port = h.http_port;
  copy_cstr(s.version, sizeof s.version, h.version);
  s.internal_insecure_tcp_port = h.internal_insecure_tcp_port;
  s.external_insecure_tcp_port = h.external_insecure_tcp_port;
  s.advertise_http_port_to_client_as = h.advertise_http_port_to_client_as;
  s.advertise_tcp_port_to_client_as = h.advertise_tcp_port_to_client_as;
  copy_cstr(s.internal_tcp_host, sizeof s.internal_tcp_host, h.internal_tcp_host);
  copy_cstr(s.external_tcp_host, sizeof s.external_tcp_host, h.external_tcp_host);
  copy_cstr(s.http_host, sizeof s.http_host, h.http_host);
  copy_cstr(s.advertise_host_to_client_as, sizeof s.advertise_host_to_client_as,
            h.advertise_host_to_client_as);
  return s;
}

}  // namespace esk8s::plugin
