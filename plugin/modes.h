// The modes a configuration chooses between (discovery, TLS, readiness, gossip preset) and their
// names as the ESK8S_* keys spell them. Apart from plugin/config so that code which only names a
// mode (the health and metrics renderers, the HTTP fuzz target) does not link the parsers.
#pragma once

#include <string_view>

namespace esk8s::plugin {

enum class DiscoveryMode { kKubernetes, kDns, kStatic };
enum class TlsMode { kLocalCa, kKubernetesCsr, kFiles };
enum class ReadyMode { kAuto, kQuorum, kBootstrapLatch };
enum class Preset { kLan, kLocal, kWan };

std::string_view to_string(DiscoveryMode m);
std::string_view to_string(TlsMode m);
std::string_view to_string(ReadyMode m);
std::string_view to_string(Preset p);

}  // namespace esk8s::plugin
