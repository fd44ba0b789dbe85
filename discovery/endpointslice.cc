#include "discovery/endpointslice_parse.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <tuple>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "kube/json_read.h"
#include "kube/watch_stream.h"

namespace esk8s::discovery {

using nlohmann::json;

namespace {

using namespace kube::json_read;

// ---- EndpointSlice ------------------------------------------------------------------------

Status parse_endpoint(const json& v, const std::string& path, Endpoint& ep) {
  if (!v.is_object()) return wrong_type(path, v, "an object");

  const json* addresses = nullptr;
  if (Status s = read_array(v, "addresses", path, addresses); !s) return s;
  if (addresses != nullptr) {
    const std::string apath = field_path(path, "addresses");
    ep.addresses.reserve(addresses->size());
    for (size_t i = 0; i < addresses->size(); ++i) {
      const json& a = (*addresses)[i];
      if (!a.is_string()) return wrong_type(index_path(apath, i), a, "a string");
      ep.addresses.push_back(a.get<std::string>());
    }
  }

  const json* conditions = nullptr;
  if (Status s = read_object(v, "conditions", path, conditions); !s) return s;
  if (conditions != nullptr) {
    // Each condition defaults on its own: absent ready is true even when serving is present.
    const std::string cpath = field_path(path, "conditions");
    if (Status s = read_bool(*conditions, "ready", cpath, ep.ready); !s) return s;
    if (Status s = read_bool(*conditions, "serving", cpath, ep.serving); !s) return s;
    if (Status s = read_bool(*conditions, "terminating", cpath, ep.terminating); !s) return s;
  }

  if (Status s = read_string(v, "hostname", path, ep.hostname); !s) return s;
  if (Status s = read_string(v, "nodeName", path, ep.node_name); !s) return s;
  if (Status s = read_string(v, "zone", path, ep.zone); !s) return s;

  const json* target = nullptr;
  if (Status s = read_object(v, "targetRef", path, target); !s) return s;
  if (target != nullptr) {
    const std::string tpath = field_path(path, "targetRef");
    if (Status s = read_string(*target, "kind", tpath, ep.target_kind); !s) return s;
    if (Status s = read_string(*target, "name", tpath, ep.target_name); !s) return s;
    if (Status s = read_string(*target, "namespace", tpath, ep.target_namespace); !s) return s;
    if (Status s = read_string(*target, "uid", tpath, ep.target_uid); !s) return s;
  }
  return Status::ok();
}

Status parse_port(const json& v, const std::string& path, EndpointPort& port) {
  if (!v.is_object()) return wrong_type(path, v, "an object");
  if (Status s = read_string(v, "name", path, port.name); !s) return s;
  int64_t number = 0;
  if (Status s = read_int(v, "port", path, 0, 65535, number); !s) return s;
  port.port = static_cast<int32_t>(number);
  if (Status s = read_string(v, "protocol", path, port.protocol); !s) return s;
  return Status::ok();
}

// The metadata every object type reads: name, namespace, resourceVersion and, for slices, the
// service-name label.
Status parse_metadata(const json& obj, const std::string& path, EndpointSlice& out) {
  const json* md = nullptr;
  if (Status s = read_object(obj, "metadata", path, md); !s) return s;
  if (md == nullptr) return Status::ok();
  const std::string mpath = field_path(path, "metadata");
  if (Status s = read_string(*md, "name", mpath, out.name); !s) return s;
  if (Status s = read_string(*md, "namespace", mpath, out.namespace_name); !s) return s;
  if (Status s = read_string(*md, "resourceVersion", mpath, out.resource_version); !s) return s;
  const json* labels = nullptr;
  if (Status s = read_object(*md, "labels", mpath, labels); !s) return s;
  if (labels != nullptr) {
    const json* svc = member(*labels, "kubernetes.io/service-name");
    if (svc != nullptr) {
      if (!svc->is_string()) {
        return wrong_type(field_path(mpath, "labels[\"kubernetes.io/service-name\"]"), *svc,
                          "a string");
      }
      out.service_name = svc->get<std::string>();
    }
  }
  // Set by the EndpointSlice controller to when the change that produced this slice happened;
  // discovery measures its latency against it. Optional; a wrong type is ignored, not an error.
  const json* annotations = nullptr;
  if (Status s = read_object(*md, "annotations", mpath, annotations); !s) return s;
  if (annotations != nullptr) {
    const json* t = member(*annotations, "endpoints.kubernetes.io/last-change-trigger-time");
    if (t != nullptr && t->is_string()) out.last_change_trigger_time = t->get<std::string>();
  }
  return Status::ok();
}

// `path` is where `obj` sits in its document ("" for a root object).
Status parse_slice(const json& obj, const std::string& path, EndpointSlice& out) {
  if (!obj.is_object()) return wrong_type(path, obj, "an EndpointSlice object");
  if (Status s = check_kind(obj, path, "EndpointSlice"); !s) return s;
  if (Status s = parse_metadata(obj, path, out); !s) return s;

  // From here on, errors also say which slice they are about.
  const std::string where = out.name.empty()
                                ? std::string()
                                : " (EndpointSlice " + truncate_for_log(out.namespace_name, 253) +
                                      "/" + truncate_for_log(out.name, 253) + ")";
  auto fail = [&](const Status& s) { return Status::invalid_argument(s.message() + where); };

  if (Status s = read_string(obj, "addressType", path, out.address_type); !s) return fail(s);

  const json* endpoints = nullptr;
  if (Status s = read_array(obj, "endpoints", path, endpoints); !s) return fail(s);
  if (endpoints != nullptr) {
    const std::string epath = field_path(path, "endpoints");
    out.endpoints.resize(endpoints->size());
    for (size_t i = 0; i < endpoints->size(); ++i) {
      if (Status s = parse_endpoint((*endpoints)[i], index_path(epath, i), out.endpoints[i]); !s) {
        return fail(s);
      }
    }
  }

  const json* ports = nullptr;
  if (Status s = read_array(obj, "ports", path, ports); !s) return fail(s);
  if (ports != nullptr) {
    const std::string ppath = field_path(path, "ports");
    out.ports.resize(ports->size());
    for (size_t i = 0; i < ports->size(); ++i) {
      if (Status s = parse_port((*ports)[i], index_path(ppath, i), out.ports[i]); !s) {
        return fail(s);
      }
    }
  }
  return Status::ok();
}

}  // namespace

// ---- public entry points: nothing thrown escapes --------------------------------------------

Result<EndpointSlice> parse_endpoint_slice(const json& obj) {
  try {
    EndpointSlice slice;
    if (Status s = parse_slice(obj, "", slice); !s) {
      return with_prefix("EndpointSlice: ", s);
    }
    return slice;
  } catch (const std::exception& e) {
    return Status::internal(std::string("EndpointSlice: unexpected failure: ") + e.what());
  }
}

bool same_slice(const EndpointSlice& a, const EndpointSlice& b) {
  auto same_endpoint = [](const Endpoint& x, const Endpoint& y) {
    return std::tie(x.addresses, x.ready, x.serving, x.terminating, x.hostname, x.target_kind,
                    x.target_name, x.target_namespace, x.target_uid, x.node_name, x.zone) ==
           std::tie(y.addresses, y.ready, y.serving, y.terminating, y.hostname, y.target_kind,
                    y.target_name, y.target_namespace, y.target_uid, y.node_name, y.zone);
  };
  auto same_port = [](const EndpointPort& x, const EndpointPort& y) {
    return std::tie(x.name, x.port, x.protocol) == std::tie(y.name, y.port, y.protocol);
  };
  return std::tie(a.name, a.namespace_name, a.service_name, a.address_type, a.resource_version) ==
             std::tie(b.name, b.namespace_name, b.service_name, b.address_type,
                      b.resource_version) &&
         std::equal(a.endpoints.begin(), a.endpoints.end(), b.endpoints.begin(), b.endpoints.end(),
                    same_endpoint) &&
         std::equal(a.ports.begin(), a.ports.end(), b.ports.begin(), b.ports.end(), same_port);
}

Result<SliceList> parse_slice_list(std::string_view body) {
  return kube::parse_list_as<EndpointSlice>(body, "EndpointSliceList", parse_slice);
}

Result<SliceEvent> parse_watch_event(std::string_view line) {
  return kube::parse_watch_event_as<EndpointSlice>(line, parse_slice);
}

WatchStreamDecoder::WatchStreamDecoder(size_t max_line_bytes)
    : kube::WatchStreamDecoder<SliceEvent>(parse_watch_event, max_line_bytes) {}

}  // namespace esk8s::discovery
