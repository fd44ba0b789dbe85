// The ABI's esk8s_node_status <-> gossip::HostStatus, the one conversion each way
// (plugin/node_status.h).
#include <doctest/doctest.h>

#include <cstring>

#include "plugin/node_status.h"

using namespace esk8s;
using namespace esk8s::plugin;

namespace {

gossip::HostStatus every_field_set() {
  gossip::HostStatus h;
  h.host_ready = false;
  h.state = "Leader";
  h.writer_checkpoint = 11;
  h.chaser_checkpoint = 12;
  h.last_commit_position = 13;
  h.epoch_position = 14;
  h.epoch_number = 15;
  h.node_priority = -3;
  for (uint8_t i = 0; i < 16; ++i) h.epoch_id[i] = static_cast<uint8_t>(i + 1);
  h.read_only_replica = true;
  h.internal_tcp_port = 1112;
  h.external_tcp_port = 1113;
  h.http_port = 2113;
  h.version = "24.10.0";
  h.internal_insecure_tcp_port = 1114;
  h.external_insecure_tcp_port = 1115;
  h.advertise_http_port_to_client_as = 443;
  h.advertise_tcp_port_to_client_as = 1443;
  h.internal_tcp_host = "10.0.0.1";
  h.external_tcp_host = "esdb.example.com";
  h.http_host = "10.0.0.2";
  h.advertise_host_to_client_as = "lb.example.com";
  return h;
}

}  // namespace

TEST_CASE("node status: every field survives the ABI struct and back") {
  const gossip::HostStatus h = every_field_set();
  const esk8s_node_status s = to_node_status(h);
  CHECK(s.struct_size == sizeof s);
  CHECK(s.host_ready == 0);
  CHECK(std::string(s.state) == "Leader");
  CHECK(s.is_read_only_replica == 1);
  CHECK(s.reserved0 == 0);
  CHECK(s.reserved1 == 0);
  CHECK(to_host_status(s) == h);
}

TEST_CASE("node status: strings a host left unterminated stop at their array's end") {
  esk8s_node_status s{};
  s.struct_size = sizeof s;
  std::memset(s.state, 'S', sizeof s.state);  // no NUL anywhere in the array
  std::memset(s.version, 'V', sizeof s.version);
  std::memset(s.http_host, 'h', sizeof s.http_host);
  const gossip::HostStatus h = to_host_status(s);
  CHECK(h.state == std::string(sizeof s.state, 'S'));
  CHECK(h.version == std::string(sizeof s.version, 'V'));
  CHECK(h.http_host == std::string(sizeof s.http_host, 'h'));
  // Back into the struct, each is cut to leave room for the terminator.
  const esk8s_node_status back = to_node_status(h);
  CHECK(std::strlen(back.state) == sizeof back.state - 1);
  CHECK(std::strlen(back.http_host) == sizeof back.http_host - 1);
}
