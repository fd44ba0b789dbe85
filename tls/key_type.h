// The key types esk8s generates, by the names operators type (`--key-type`, ESK8S_TLS_KEY_TYPE):
// "ecdsa-p256" (the default: small, fast, accepted everywhere), "rsa-2048", "rsa-3072" (for peers
// that only speak RSA) and "ed25519" (on request; some TLS stacks still refuse it). Pure functions.
#pragma once

#include <string_view>

#include "common/status.h"
#include "tls/x509.h"

namespace esk8s::tls {

constexpr KeyType kDefaultKeyType = KeyType::kEcdsaP256;

// "ecdsa-p256" | "rsa-2048" | "rsa-3072" | "ed25519" (exact, lower case). Anything else is an
// invalid_argument naming the value and the accepted names.
Result<KeyType> parse_key_type(std::string_view name);

// The inverse of parse_key_type.
std::string_view key_type_name(KeyType type);

}  // namespace esk8s::tls
