#include "tls/fingerprint.h"

#include <openssl/evp.h>

#include <cstdio>

namespace esk8s::tls {

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return std::string();  // only on allocation failure; an empty hash never equals a real one
  }
  std::string hex;
  hex.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof(buf), "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

}  // namespace esk8s::tls
