#include "plugin/modes.h"

namespace esk8s::plugin {

std::string_view to_string(DiscoveryMode m) {
  switch (m) {
    case DiscoveryMode::kKubernetes:
      return "kubernetes";
    case DiscoveryMode::kDns:
      return "dns";
    case DiscoveryMode::kStatic:
      return "static";
  }
  return "?";
}
std::string_view to_string(TlsMode m) {
  switch (m) {
    case TlsMode::kLocalCa:
      return "local-ca";
    case TlsMode::kKubernetesCsr:
      return "kubernetes-csr";
    case TlsMode::kFiles:
      return "files";
  }
  return "?";
}
std::string_view to_string(ReadyMode m) {
  switch (m) {
    case ReadyMode::kAuto:
      return "auto";
    case ReadyMode::kQuorum:
      return "quorum";
    case ReadyMode::kBootstrapLatch:
      return "bootstrap-latch";
  }
  return "?";
}
std::string_view to_string(Preset p) {
  switch (p) {
    case Preset::kLan:
      return "lan";
    case Preset::kLocal:
      return "local";
    case Preset::kWan:
      return "wan";
  }
  return "?";
}

}  // namespace esk8s::plugin
