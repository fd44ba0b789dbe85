// Standard base64 (RFC 4648, with padding) as the Kubernetes API uses it for Secret data,
// kubeconfig `*-data` fields, CSR requests and issued certificates. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace esk8s {

std::string base64_encode(std::string_view in);

// nullopt when `in` is not base64. Padding is optional; ASCII whitespace is skipped (hand-written
// kubeconfigs wrap long data in `|` blocks).
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace esk8s
