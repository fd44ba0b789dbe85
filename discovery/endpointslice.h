// The slice of the Kubernetes API that discovery reads: discovery.k8s.io/v1 EndpointSlice
// objects, list responses and watch events, as plain structs. Parsing lives in
// endpointslice.cc; the peer model derived from slices in peer_model.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// A Kubernetes Status (from an ERROR watch event or an error response body).
struct ApiStatus {
  int code = 0;
  std::string reason;  // "Expired", "Gone", "Forbidden", ...
  std::string message;
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct SliceEvent {
  EventType type = EventType::kAdded;
  EndpointSlice slice;           // ADDED/MODIFIED/DELETED
  std::string resource_version;  // every type but ERROR: the object's metadata.resourceVersion
  ApiStatus status;              // ERROR
};

struct SliceList {
  std::vector<EndpointSlice> items;
  std::string resource_version;  // metadata.resourceVersion of the list
  std::string continue_token;    // metadata.continue; empty on the last page
};

}  // namespace esk8s::discovery
