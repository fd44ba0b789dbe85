// The peer model every discovery source produces and gossip consumes: who a peer is (its stable
// DNS identity) and where it currently is (an address that may change while the identity stays).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace esk8s::discovery {

struct Peer {
  std::string identity;  // stable DNS identity, the member key
  std::string address;   // IP literal (or host name in static/dns modes)
  // Every address of the peer, `address` first (an EndpointSlice endpoint may list several);
  // empty when the source knows only `address`.
  std::vector<std::string> addresses;
  uint16_t gossip_port = 0;
  // EndpointSlice conditions (static peers are always ready and serving).
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::string zone;
  std::string node;
  std::string pod_uid;
  std::string pod_name;  // targetRef.name of a Pod endpoint; empty when unknown

  friend bool operator==(const Peer&, const Peer&) = default;
};

using PeerSet = std::vector<Peer>;

}  // namespace esk8s::discovery
