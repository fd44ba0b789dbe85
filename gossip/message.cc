#include "gossip/message.h"

#include <cstdio>

namespace esk8s::gossip {

std::string InstanceId::to_guid() const {
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

InstanceId InstanceId::make(uint64_t start_unix_ms, uint64_t random_hi16, uint64_t random_lo) {
  InstanceId id;
  id.hi = (start_unix_ms << 16) | (random_hi16 & 0xFFFF);
  id.lo = random_lo;
  if (id.is_zero()) id.lo = 1;  // zero means "unknown"
  return id;
}

const char* to_string(MemberState s) {
  switch (s) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
    case MemberState::kLeft:
      return "left";
  }
  return "unknown";
}

}  // namespace esk8s::gossip
