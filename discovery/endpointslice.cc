#include "discovery/endpointslice_parse.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace esk8s::discovery {

using nlohmann::json;

namespace {

// No EndpointSlice document nests more than ~12 levels (managedFields included).
constexpr size_t kMaxDepth = 100;
// How much of an offending input an error message quotes.
constexpr size_t kQuoteBytes = 200;

// ---- paths and messages -------------------------------------------------------------------

std::string field_path(const std::string& parent, std::string_view key) {
  std::string p = parent;
  if (!p.empty()) p += '.';
  p.append(key);
  return p;
}

std::string index_path(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a floating-point number";
    default:
      return std::string("a ") + v.type_name();
  }
}

std::string name_of(const std::string& path) {
  return path.empty() ? "the document" : "field " + path;
}

Status wrong_type(const std::string& path, const json& v, std::string_view expected) {
  return Status::invalid_argument(name_of(path) + " is " + describe(v) + ", expected " +
                                  std::string(expected));
}

Status with_prefix(std::string_view prefix, const Status& s) {
  return Status::invalid_argument(std::string(prefix) + s.message());
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// ---- typed member access: absent or null -> default, wrong type -> error ------------------

// The member `key` of `obj` (an object), or nullptr when it is absent or null.
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status read_string(const json& obj, const char* key, const std::string& path, std::string& out) {
  const json* v = member(obj, key);
  if (v == nullptr) return Status::ok();
  if (!v->is_string()) return wrong_type(field_path(path, key), *v, "a string");
  out = v->get_ref<const std::string&>();
  return Status::ok();
}

Status read_bool(const json& obj, const char* key, const std::string& path, bool& out) {
  const json* v = member(obj, key);
  if (v == nullptr) return Status::ok();
  if (!v->is_boolean()) return wrong_type(field_path(path, key), *v, "a boolean");
  out = v->get<bool>();
  return Status::ok();
}

Status read_int(const json& obj, const char* key, const std::string& path, int64_t lo, int64_t hi,
                int64_t& out) {
  const json* v = member(obj, key);
  if (v == nullptr) return Status::ok();
  const std::string p = field_path(path, key);
  if (!v->is_number_integer()) return wrong_type(p, *v, "an integer");
  bool in_range = false;
  int64_t value = 0;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(hi);
    value = in_range ? static_cast<int64_t>(u) : 0;
  } else {
    value = v->get<int64_t>();
    in_range = value >= lo && value <= hi;
  }
  if (!in_range) {
    return Status::invalid_argument(name_of(p) + " is " + v->dump() + ", expected " +
                                    std::to_string(lo) + "-" + std::to_string(hi));
  }
  out = value;
  return Status::ok();
}

// `out` is nullptr when the member is absent or null.
Status read_object(const json& obj, const char* key, const std::string& path, const json*& out) {
  out = member(obj, key);
  if (out != nullptr && !out->is_object()) {
    return wrong_type(field_path(path, key), *out, "an object");
  }
  return Status::ok();
}

Status read_array(const json& obj, const char* key, const std::string& path, const json*& out) {
  out = member(obj, key);
  if (out != nullptr && !out->is_array()) {
    return wrong_type(field_path(path, key), *out, "an array");
  }
  return Status::ok();
}

// ---- documents --------------------------------------------------------------------------

// False when `text` opens more than `limit` arrays/objects at once. Strings are skipped the way
// the JSON lexer reads them, so on the valid prefix the parser will build the count is exact.
bool nesting_within(std::string_view text, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Parses `text` (one JSON value, surrounding whitespace allowed) into `out`.
Status parse_document(std::string_view text, std::string_view what, json& out) {
  std::string_view body = trim(text);
  if (body.empty()) return Status::invalid_argument(std::string(what) + " is empty");
  if (!nesting_within(body, kMaxDepth)) {
    return Status::invalid_argument(std::string(what) + " nests arrays/objects deeper than " +
                                    std::to_string(kMaxDepth) +
                                    " levels: " + truncate_for_log(body, kQuoteBytes));
  }
  try {
    out = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep position and reason.
    std::string why = e.what();
    if (size_t tag_end = why.find("] "); !why.empty() && why[0] == '[' && tag_end != why.npos) {
      why.erase(0, tag_end + 2);
    }
    return Status::invalid_argument(std::string(what) + " is not valid JSON (" +
                                    truncate_for_log(why, why.size()) +
                                    "): " + truncate_for_log(body, kQuoteBytes));
  }
  return Status::ok();
}

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

Status check_kind(const json& obj, const std::string& path, std::string_view expected) {
  std::string kind;
  if (Status s = read_string(obj, "kind", path, kind); !s) return s;
  if (!kind.empty() && kind != expected) {
    return Status::invalid_argument(name_of(field_path(path, "kind")) + " is \"" +
                                    truncate_for_log(kind, 64) + "\", expected \"" +
                                    std::string(expected) + "\"");
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

// A Kubernetes Status object (kind "Status").
Status parse_api_status(const json& obj, const std::string& path, ApiStatus& out) {
  if (!obj.is_object()) return wrong_type(path, obj, "a Status object");
  int64_t code = 0;
  if (Status s = read_int(obj, "code", path, 0, std::numeric_limits<int32_t>::max(), code); !s) {
    return s;
  }
  out.code = static_cast<int>(code);
  if (Status s = read_string(obj, "reason", path, out.reason); !s) return s;
  if (Status s = read_string(obj, "message", path, out.message); !s) return s;
  return Status::ok();
}

std::string too_large(std::string_view what, size_t size) {
  return std::string(what) + " is " + std::to_string(size) + " bytes, more than the limit of " +
         std::to_string(kMaxObjectBytes);
}

Result<SliceList> parse_slice_list_unchecked(std::string_view body) {
  if (body.size() > kMaxObjectBytes) {
    return Status::invalid_argument(too_large("EndpointSliceList response", body.size()) +
                                    "; list with a smaller `limit`");
  }
  json doc;
  if (Status s = parse_document(body, "EndpointSliceList response", doc); !s) return s;
  const std::string prefix = "EndpointSliceList response: ";
  if (!doc.is_object()) return with_prefix(prefix, wrong_type("", doc, "an object"));

  std::string kind;
  if (Status s = read_string(doc, "kind", "", kind); !s) return with_prefix(prefix, s);
  if (kind == "Status") {
    ApiStatus st;
    if (Status s = parse_api_status(doc, "", st); !s) return with_prefix(prefix, s);
    return Status::invalid_argument(
        "the API answered with a Status instead of an "
        "EndpointSliceList: " +
        std::to_string(st.code) + " " + st.reason + ": " + truncate_for_log(st.message, 1024));
  }
  if (Status s = check_kind(doc, "", "EndpointSliceList"); !s) return with_prefix(prefix, s);

  SliceList list;
  const json* md = nullptr;
  if (Status s = read_object(doc, "metadata", "", md); !s) return with_prefix(prefix, s);
  if (md != nullptr) {
    if (Status s = read_string(*md, "resourceVersion", "metadata", list.resource_version); !s) {
      return with_prefix(prefix, s);
    }
    if (Status s = read_string(*md, "continue", "metadata", list.continue_token); !s) {
      return with_prefix(prefix, s);
    }
  }
  const json* items = nullptr;
  if (Status s = read_array(doc, "items", "", items); !s) return with_prefix(prefix, s);
  if (items != nullptr) {
    list.items.resize(items->size());
    for (size_t i = 0; i < items->size(); ++i) {
      if (Status s = parse_slice((*items)[i], index_path("items", i), list.items[i]); !s) {
        return with_prefix(prefix, s);
      }
    }
  }
  return list;
}

Result<SliceEvent> parse_watch_event_unchecked(std::string_view line) {
  if (line.size() > kMaxObjectBytes) {
    return Status::invalid_argument(too_large("watch event", line.size()));
  }
  json doc;
  if (Status s = parse_document(line, "watch event", doc); !s) return s;
  if (!doc.is_object()) {
    return Status::invalid_argument("watch event is " + describe(doc) + ", expected an object: " +
                                    truncate_for_log(trim(line), kQuoteBytes));
  }

  const json* type = member(doc, "type");
  if (type == nullptr) {
    return Status::invalid_argument("watch event has no field type: " +
                                    truncate_for_log(trim(line), kQuoteBytes));
  }
  if (!type->is_string()) {
    return with_prefix("watch event: ", wrong_type("type", *type, "a string"));
  }
  const std::string& name = type->get_ref<const std::string&>();
  SliceEvent ev;
  if (name == "ADDED") {
    ev.type = EventType::kAdded;
  } else if (name == "MODIFIED") {
    ev.type = EventType::kModified;
  } else if (name == "DELETED") {
    ev.type = EventType::kDeleted;
  } else if (name == "BOOKMARK") {
    ev.type = EventType::kBookmark;
  } else if (name == "ERROR") {
    ev.type = EventType::kError;
  } else {
    return Status::invalid_argument("watch event field type is \"" + truncate_for_log(name, 64) +
                                    "\", expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR");
  }

  const std::string prefix = "watch event " + name + ": ";
  const json* object = member(doc, "object");
  if (object == nullptr) return Status::invalid_argument(prefix + "has no field object");

  switch (ev.type) {
    case EventType::kError:
      if (Status s = parse_api_status(*object, "object", ev.status); !s) {
        return with_prefix(prefix, s);
      }
      return ev;
    case EventType::kBookmark: {
      // Only metadata.resourceVersion matters; the rest is typically null or empty.
      if (!object->is_object()) {
        return with_prefix(prefix, wrong_type("object", *object, "an object"));
      }
      const json* md = nullptr;
      if (Status s = read_object(*object, "metadata", "object", md); !s) {
        return with_prefix(prefix, s);
      }
      if (md != nullptr) {
        if (Status s = read_string(*md, "resourceVersion", "object.metadata", ev.resource_version);
            !s) {
          return with_prefix(prefix, s);
        }
      }
      if (ev.resource_version.empty()) {
        return Status::invalid_argument(prefix +
                                        "field object.metadata.resourceVersion is "
                                        "missing or empty");
      }
      return ev;
    }
    default:
      if (Status s = parse_slice(*object, "object", ev.slice); !s) return with_prefix(prefix, s);
      ev.resource_version = ev.slice.resource_version;
      return ev;
  }
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

Result<SliceList> parse_slice_list(std::string_view body) {
  try {
    return parse_slice_list_unchecked(body);
  } catch (const std::exception& e) {
    return Status::internal(std::string("EndpointSliceList response: unexpected failure: ") +
                            e.what());
  }
}

Result<SliceEvent> parse_watch_event(std::string_view line) {
  try {
    return parse_watch_event_unchecked(line);
  } catch (const std::exception& e) {
    return Status::internal(std::string("watch event: unexpected failure: ") + e.what());
  }
}

// ---- WatchStreamDecoder ---------------------------------------------------------------------

namespace {
// The first bytes of a line made of `buffered` followed by `more`: enough to quote it.
std::string line_head(std::string_view buffered, std::string_view more) {
  std::string head(buffered.substr(0, kQuoteBytes + 1));
  head.append(more.substr(0, kQuoteBytes + 1 - head.size()));
  return head;
}
}  // namespace

WatchStreamDecoder::WatchStreamDecoder(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

std::vector<Result<SliceEvent>> WatchStreamDecoder::feed(std::string_view chunk) {
  std::vector<Result<SliceEvent>> out;
  size_t pos = 0;
  while (pos < chunk.size()) {
    const size_t newline = chunk.find('\n', pos);
    if (discarding_) {
      if (newline == std::string_view::npos) break;  // still inside the over-long line
      discarding_ = false;
      pos = newline + 1;
      continue;
    }
    if (newline == std::string_view::npos) {
      std::string_view rest = chunk.substr(pos);
      if (partial_.size() + rest.size() > max_line_bytes_) {
        report_overlong(line_head(partial_, rest), out);
        std::string().swap(partial_);
        discarding_ = true;
      } else {
        partial_.append(rest);
      }
      break;
    }
    std::string_view piece = chunk.substr(pos, newline - pos);
    pos = newline + 1;
    if (partial_.size() + piece.size() > max_line_bytes_) {
      report_overlong(line_head(partial_, piece), out);
      std::string().swap(partial_);
      continue;
    }
    if (partial_.empty()) {
      complete_line(piece, out);
    } else {
      partial_.append(piece);
      complete_line(partial_, out);
      partial_.clear();
      // Do not keep a large buffer alive after one large event.
      if (partial_.capacity() > 64 * 1024) std::string().swap(partial_);
    }
  }
  return out;
}

std::vector<Result<SliceEvent>> WatchStreamDecoder::finish() {
  std::vector<Result<SliceEvent>> out;
  if (!discarding_ && !partial_.empty()) complete_line(partial_, out);
  std::string().swap(partial_);
  discarding_ = false;
  return out;
}

void WatchStreamDecoder::complete_line(std::string_view line,
                                       std::vector<Result<SliceEvent>>& out) {
  if (trim(line).empty()) return;  // blank lines carry nothing
  out.push_back(parse_watch_event(line));
}

// `line_start` holds more than min(200, max_line_bytes) bytes of the line (it crossed the
// limit). Only that many are quoted, and every way of splitting the stream has seen them by the
// time the limit is crossed: the message is the same however the stream was fed.
void WatchStreamDecoder::report_overlong(std::string_view line_start,
                                         std::vector<Result<SliceEvent>>& out) const {
  const size_t shown = std::min(kQuoteBytes, max_line_bytes_);
  out.push_back(Status::invalid_argument(
      "watch stream line is longer than " + std::to_string(max_line_bytes_) +
      " bytes; skipped it up to its end: " + truncate_for_log(line_start, shown)));
}

}  // namespace esk8s::discovery
