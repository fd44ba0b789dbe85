#include "tls/key_type.h"

#include <string>

namespace esk8s::tls {

Result<KeyType> parse_key_type(std::string_view name) {
  for (KeyType t : {KeyType::kEcdsaP256, KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kEd25519}) {
    if (name == key_type_name(t)) return t;
  }
  return Status::invalid_argument("unknown key type \"" + std::string(name) +
                                  "\": use ecdsa-p256 (default), rsa-2048, rsa-3072 or ed25519");
}

std::string_view key_type_name(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return "ecdsa-p256";
    case KeyType::kRsa2048:
      return "rsa-2048";
    case KeyType::kRsa3072:
      return "rsa-3072";
    case KeyType::kEd25519:
      return "ed25519";
  }
  return "unknown";
}

}  // namespace esk8s::tls
