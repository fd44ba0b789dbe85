// The slice of the Kubernetes API that discovery reads: discovery.k8s.io/v1 EndpointSlice
// objects, list responses and watch events, as plain structs (the event and list shapes are
// kube/'s, generic over the object). Parsing lives in endpointslice.cc; the peer model derived
// from slices in peer_model.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kube/watch_state.h"

namespace esk8s::discovery {

struct Endpoint {
  std::vector<std::string> addresses;
  // EndpointConditions: ready/serving absent mean true, terminating absent means false.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::string hostname;                                                // empty when absent
  std::string target_kind, target_name, target_namespace, target_uid;  // targetRef
  std::string node_name;
  std::string zone;
};

struct EndpointPort {
  std::string name;
  int32_t port = 0;  // 0 when absent
  std::string protocol = "TCP";
};

struct EndpointSlice {
  std::string name;
  std::string namespace_name;
  std::string service_name;  // label kubernetes.io/service-name
  std::string address_type;  // IPv4, IPv6, FQDN
  std::string resource_version;
  // Annotation endpoints.kubernetes.io/last-change-trigger-time (RFC 3339), empty when absent.
  std::string last_change_trigger_time;
  std::vector<Endpoint> endpoints;  // empty when `endpoints` is null or absent
  std::vector<EndpointPort> ports;  // empty when `ports` is null or absent
};

// What the slice watch decodes and WatchState keeps (kube/watch_state.h).
using kube::ApiStatus;
using kube::EventType;
using SliceEvent = kube::WatchEvent<EndpointSlice>;
using SliceList = kube::ListPage<EndpointSlice>;

// Equal in every field discovery reads (a changed slice makes peers be recomputed).
bool same_slice(const EndpointSlice& a, const EndpointSlice& b);

}  // namespace esk8s::discovery

namespace esk8s::kube {

template <>
struct ObjectTraits<discovery::EndpointSlice> {
  static std::string key(const discovery::EndpointSlice& s) { return s.name; }
  static std::string resource_version(const discovery::EndpointSlice& s) {
    return s.resource_version;
  }
  static bool same(const discovery::EndpointSlice& a, const discovery::EndpointSlice& b) {
    return discovery::same_slice(a, b);
  }
  static constexpr const char* kNoun = "slice";
  static constexpr const char* kResource = "endpointslices.discovery.k8s.io in this namespace";
};

}  // namespace esk8s::kube

namespace esk8s::discovery {

// The list/watch state machine of one namespace's slices of the service.
using SliceWatchState = kube::WatchState<EndpointSlice>;

}  // namespace esk8s::discovery
