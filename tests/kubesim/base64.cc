#include "tests/kubesim/base64.h"

#include "common/base64.h"

namespace kubesim {

std::string base64_encode(const std::string& in) { return esk8s::base64_encode(in); }

std::optional<std::string> base64_decode(const std::string& in) {
  if (in.size() > (16u << 20)) return std::nullopt;
  return esk8s::base64_decode(in);
}

}  // namespace kubesim
