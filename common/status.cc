#include "common/status.h"

namespace esk8s {

std::string Status::to_string() const {
  const char* prefix = "";
  switch (code_) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      prefix = "invalid argument: ";
      break;
    case Code::kConfig:
      prefix = "config error: ";
      break;
    case Code::kState:
      prefix = "state error: ";
      break;
    case Code::kIo:
      prefix = "i/o error: ";
      break;
    case Code::kNotFound:
      prefix = "not found: ";
      break;
    case Code::kInternal:
      prefix = "internal error: ";
      break;
  }
  return prefix + message_;
}

}  // namespace esk8s
