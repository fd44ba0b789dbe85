#include "tests/kubesim/api_error.h"

#include "tests/kubesim/resources.h"

namespace kubesim {

nlohmann::json ApiError::to_status() const {
  nlohmann::json s = {
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
      {"status", "Failure"}, {"message", message}, {"reason", reason},
      {"code", code}};
  if (!details.is_null()) s["details"] = details;
  if (reason.empty()) s.erase("reason");
  return s;
}

ApiError ApiError::not_found(const ResourceType& t, const std::string& name) {
  nlohmann::json d = {{"name", name}, {"kind", t.plural}};
  if (!t.group.empty()) d["group"] = t.group;
  return {404, "NotFound", t.qualified() + " \"" + name + "\" not found", d};
}

ApiError ApiError::namespace_not_found(const std::string& ns) {
  return {404,
          "NotFound",
          "namespaces \"" + ns + "\" not found",
          {{"name", ns}, {"kind", "namespaces"}}};
}

ApiError ApiError::already_exists(const ResourceType& t, const std::string& name) {
  nlohmann::json d = {{"name", name}, {"kind", t.plural}};
  if (!t.group.empty()) d["group"] = t.group;
  return {409, "AlreadyExists", t.qualified() + " \"" + name + "\" already exists", d};
}

ApiError ApiError::conflict(const ResourceType& t, const std::string& name) {
  nlohmann::json d = {{"name", name}, {"kind", t.plural}};
  if (!t.group.empty()) d["group"] = t.group;
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + t.qualified() + " \"" + name +
              "\": the object has been modified; please apply your changes to the latest version "
              "and try again",
          d};
}

ApiError ApiError::gone(std::string message) {
  return {410, "Expired", std::move(message), nullptr};
}

ApiError ApiError::invalid(const ResourceType& t, const std::string& name, const std::string& field,
                           const std::string& cause_reason, const std::string& detail) {
  nlohmann::json d = {
      {"name", name},
      {"kind", t.kind},
      {"causes", {{{"reason", cause_reason}, {"message", detail}, {"field", field}}}}};
  if (!t.group.empty()) d["group"] = t.group;
  return {422, "Invalid", t.kind + " \"" + name + "\" is invalid: " + field + ": " + detail, d};
}

ApiError ApiError::bad_request(std::string message) {
  return {400, "BadRequest", std::move(message), nullptr};
}

ApiError ApiError::method_not_allowed(std::string message) {
  return {405, "MethodNotAllowed", std::move(message), nullptr};
}

ApiError ApiError::unauthorized() { return {401, "Unauthorized", "Unauthorized", nullptr}; }

ApiError ApiError::forbidden(const std::string& qualified_resource, const std::string& name,
                             const std::string& group, const std::string& kind,
                             const std::string& why) {
  std::string msg = qualified_resource.empty() ? "forbidden: " + why
                    : name.empty()             ? qualified_resource + " is forbidden: " + why
                                   : qualified_resource + " \"" + name + "\" is forbidden: " + why;
  nlohmann::json d = nlohmann::json::object();
  if (!name.empty()) d["name"] = name;
  if (!group.empty()) d["group"] = group;
  if (!kind.empty()) d["kind"] = kind;
  return {403, "Forbidden", msg, d};
}

ApiError ApiError::unsupported_media_type(std::string content_type) {
  return {415, "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json-patch+json, application/merge-patch+json, "
          "application/apply-patch+yaml, application/strategic-merge-patch+json; got " +
              content_type,
          nullptr};
}

ApiError ApiError::internal(std::string message) {
  return {500, "InternalError", std::move(message), nullptr};
}

ApiError ApiError::timeout(std::string message) {
  return {504, "Timeout", std::move(message), nullptr};
}

}  // namespace kubesim
