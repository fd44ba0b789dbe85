// API errors as the Kubernetes API server reports them: an HTTP code plus a `Status` object
// (kind Status, status Failure, message, reason, details, code) with the same messages a real
// kube-apiserver writes, so clients parse them as they would in production.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace kubesim {

struct ResourceType;

struct ApiError {
  int code = 500;
  std::string reason;  // "NotFound", "AlreadyExists", "Conflict", "Expired", "Invalid", ...
  std::string message;
  nlohmann::json details = nullptr;

  nlohmann::json to_status() const;

  static ApiError not_found(const ResourceType& t, const std::string& name);
  static ApiError namespace_not_found(const std::string& ns);
  static ApiError already_exists(const ResourceType& t, const std::string& name);
  static ApiError conflict(const ResourceType& t, const std::string& name);
  static ApiError gone(std::string message);  // 410 reason Expired
  static ApiError invalid(const ResourceType& t, const std::string& name, const std::string& field,
                          const std::string& cause_reason, const std::string& detail);
  static ApiError bad_request(std::string message);
  static ApiError method_not_allowed(std::string message);
  static ApiError unauthorized();
  static ApiError forbidden(const std::string& qualified_resource, const std::string& name,
                            const std::string& group, const std::string& kind,
                            const std::string& why);
  static ApiError unsupported_media_type(std::string content_type);
  static ApiError internal(std::string message);
  static ApiError timeout(std::string message);  // 504
};

// A value or an ApiError.
template <typename T>
class ApiResult {
 public:
  ApiResult(T v) : v_(std::move(v)) {}         // NOLINT(google-explicit-constructor)
  ApiResult(ApiError e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return std::holds_alternative<T>(v_); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  const ApiError& error() const { return std::get<ApiError>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace kubesim
