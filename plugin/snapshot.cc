#include "plugin/snapshot.h"

namespace esk8s::plugin {

const char* to_string(MemberState s) {
  switch (s) {
    case MemberState::kDiscovered:
      return "discovered";
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

}  // namespace esk8s::plugin
