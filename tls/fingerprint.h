// Content fingerprints: how the `files` source notices new files and rotation notices a new trust
// bundle without keeping the old text around. Pure function.
#pragma once

#include <string>
#include <string_view>

namespace esk8s::tls {

// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace esk8s::tls
