#include "kube/json_read.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/text.h"

namespace esk8s::kube::json_read {

using nlohmann::json;

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

// ---- typed member access: absent or null -> default, wrong type -> error ------------------

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

Status parse_document(std::string_view text, std::string_view what, size_t max_depth, json& out) {
  std::string_view body = trim(text);
  if (body.empty()) return Status::invalid_argument(std::string(what) + " is empty");
  if (!nesting_within(body, max_depth)) {
    return Status::invalid_argument(std::string(what) + " nests arrays/objects deeper than " +
                                    std::to_string(max_depth) +
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

}  // namespace esk8s::kube::json_read
