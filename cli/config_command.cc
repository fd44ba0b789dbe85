#include "cli/config_command.h"

namespace esk8s::cli {

int config_keys(std::ostream& out) {
  for (const auto& k : plugin::config_keys()) {
    out << k.key << "\n    " << k.description << "\n    accepted: " << k.accepted
        << "\n    default:  " << k.default_value << "\n";
  }
  return 0;
}

int config_check(const plugin::ConfigInput& input, const plugin::HostFacts& facts,
                 std::ostream& out, std::ostream& err) {
  auto parsed = plugin::parse_config(input, facts);
  if (!parsed) {
    err << parsed.status().message() << "\n";
    return 1;
  }
  for (const auto& w : parsed->warnings) err << "warning: " << w << "\n";
  const plugin::Config& c = parsed->config;
  out << "identity        " << c.identity() << "\n"
      << "cluster name    " << c.cluster_name << "\n"
      << "cluster domain  " << c.cluster_domain << " (from " << c.cluster_domain_source << ")\n"
      << "cluster size    "
      << (c.cluster_size ? std::to_string(*c.cluster_size) : "from the StatefulSet") << "\n"
      << "namespaces      " << c.namespace_name;
  for (const auto& ns : c.peer_namespaces) out << ", " << ns;
  out << "\n"
      << "discovery       " << plugin::to_string(c.discovery) << "\n";
  for (const auto& p : c.static_peers) {
    out << "  peer          " << p.identity << " at " << p.address << ":" << p.gossip_port << "\n";
  }
  out << "gossip          " << c.bind_address << ":" << c.gossip_port << "\n"
      << "http            " << c.bind_address << ":" << c.http_port << "\n"
      << "tls mode        " << plugin::to_string(c.tls_mode) << "\n"
      << "ready mode      " << plugin::to_string(c.ready_mode) << "\n"
      << "preset          " << plugin::to_string(c.preset) << "\n";
  return 0;
}

}  // namespace esk8s::cli
