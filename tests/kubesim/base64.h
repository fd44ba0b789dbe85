// Standard base64 (with padding) as the Kubernetes API uses it for Secret data, CSR requests
// and certificates, and kubesim for continue tokens (esk8s::base64 with a 16 MiB cap).
#pragma once

#include <optional>
#include <string>

namespace kubesim {

std::string base64_encode(const std::string& in);
// nullopt when `in` is not valid padded base64 (or longer than 16 MiB).
std::optional<std::string> base64_decode(const std::string& in);

}  // namespace kubesim
