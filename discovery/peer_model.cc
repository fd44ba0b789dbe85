#include "discovery/peer_model.h"

#include <map>
#include <set>
#include <tuple>

#include "common/identity.h"

namespace esk8s::discovery {

namespace {

// Collects warnings, each key at most once per call.
class Warnings {
 public:
  explicit Warnings(std::vector<std::string>* out) : out_(out) {}
  void add(const std::string& key, std::string text) {
    if (out_ != nullptr && seen_.insert(key).second) out_->push_back(std::move(text));
  }

 private:
  std::vector<std::string>* out_;
  std::set<std::string> seen_;
};

std::string slice_name(const EndpointSlice& s) {
  return "EndpointSlice " + s.namespace_name + "/" + s.name;
}

// "endpoint 10.0.0.7 (pod prod/esdb-2) of EndpointSlice prod/esdb-abcde".
std::string endpoint_name(const EndpointSlice& s, const Endpoint& ep, size_t index) {
  std::string text = "endpoint ";
  text += ep.addresses.empty() ? "#" + std::to_string(index) : ep.addresses.front();
  if (!ep.target_name.empty()) {
    text += " (" + (ep.target_kind.empty() ? std::string("target") : ep.target_kind) + " " +
            (ep.target_namespace.empty() ? s.namespace_name : ep.target_namespace) + "/" +
            ep.target_name + ")";
  }
  return text + " of " + slice_name(s);
}

uint16_t gossip_port_of(const EndpointSlice& s, const PeerContext& ctx, Warnings& warn) {
  for (const EndpointPort& p : s.ports) {
    if (p.name != "gossip") continue;
    if (p.port >= 1 && p.port <= 65535) return static_cast<uint16_t>(p.port);
    warn.add("port:" + s.namespace_name + "/" + s.name,
             slice_name(s) + " has a port named gossip without a valid port number (" +
                 std::to_string(p.port) + "); using the default gossip port " +
                 std::to_string(ctx.default_gossip_port) + ".");
    break;
  }
  return ctx.default_gossip_port;
}

// Higher is better when one endpoint appears in several slices.
std::tuple<bool, bool, bool> preference(const Peer& p) {
  return {p.ready, !p.terminating, p.serving};
}

}  // namespace

PeerSet peers_from_slices(const std::vector<EndpointSlice>& slices, const PeerContext& ctx,
                          std::vector<std::string>* warnings) {
  Warnings warn(warnings);
  std::map<std::string, Peer> by_identity;

  for (const EndpointSlice& slice : slices) {
    if (slice.service_name != ctx.service) continue;
    const std::string slice_key = slice.namespace_name + "/" + slice.name;
    if (slice.address_type == "FQDN") {
      warn.add("fqdn:" + slice_key, slice_name(slice) +
                                        " has addressType FQDN; only IPv4 and IPv6 slices "
                                        "describe peers, so it is ignored.");
      continue;
    }
    if (slice.address_type != "IPv4" && slice.address_type != "IPv6") {
      warn.add("type:" + slice_key, slice_name(slice) + " has addressType \"" + slice.address_type +
                                        "\"; only IPv4 and IPv6 slices describe peers, so it is "
                                        "ignored.");
      continue;
    }
    const uint16_t gossip_port = gossip_port_of(slice, ctx, warn);

    for (size_t i = 0; i < slice.endpoints.size(); ++i) {
      const Endpoint& ep = slice.endpoints[i];
      const std::string what = endpoint_name(slice, ep, i);
      const std::string ns =
          slice.namespace_name.empty() ? ep.target_namespace : slice.namespace_name;
      const bool pod_ref =
          !ep.target_name.empty() && (ep.target_kind.empty() || ep.target_kind == "Pod");
      const std::string pod_ns = ep.target_namespace.empty() ? ns : ep.target_namespace;

      // The local pod is not its own peer.
      if (pod_ref && ep.target_name == ctx.self_pod_name && pod_ns == ctx.self_namespace) continue;

      std::string label = ep.hostname;
      const bool fallback = label.empty();
      if (fallback) {
        if (!pod_ref) {
          warn.add("nohost:" + slice_key + "#" + std::to_string(i),
                   what +
                       " has no hostname and no Pod targetRef, so it has no stable identity; "
                       "it is ignored.");
          continue;
        }
        label = ep.target_name;
      }
      if (label == ctx.self_pod_name && ns == ctx.self_namespace) continue;

      if (ns.empty() || !is_dns1123_label(ns)) {
        warn.add("ns:" + slice_key + "#" + std::to_string(i),
                 what + " has no valid namespace (\"" + ns + "\"); it is ignored.");
        continue;
      }
      if (!is_dns1123_label(label)) {
        warn.add("label:" + slice_key + "#" + std::to_string(i),
                 what + " has " + (fallback ? "pod name" : "hostname") + " \"" + label +
                     "\", which is not a DNS label (lower-case letters, digits and '-', at most "
                     "63); it is ignored.");
        continue;
      }
      const std::string identity = make_identity(label, ctx.service, ns, ctx.cluster_domain);
      if (!is_dns1123_subdomain(identity)) {
        warn.add("id:" + identity, what + " would have identity \"" + identity +
                                       "\", which is not a valid DNS name (check the service "
                                       "name and cluster domain); it is ignored.");
        continue;
      }
      if (ep.addresses.empty()) {
        warn.add("noaddr:" + identity, what + " (" + identity + ") has no address; it is ignored.");
        continue;
      }
      if (fallback) {
        warn.add("fallback:" + identity,
                 what + " has no hostname; using its pod name for the identity " + identity +
                     ". Give the pod spec.hostname and spec.subdomain=" + ctx.service +
                     " (a StatefulSet does) so members have stable DNS names.");
      }

      Peer peer;
      peer.identity = identity;
      peer.address = ep.addresses.front();
      peer.addresses = ep.addresses;
      peer.gossip_port = gossip_port;
      peer.ready = ep.ready;
      peer.serving = ep.serving;
      peer.terminating = ep.terminating;
      peer.zone = ep.zone;
      peer.node = ep.node_name;
      if (pod_ref) {
        peer.pod_uid = ep.target_uid;
        peer.pod_name = ep.target_name;
      }

      auto [it, inserted] = by_identity.try_emplace(identity, peer);
      if (!inserted && preference(peer) > preference(it->second)) it->second = std::move(peer);
    }
  }

  PeerSet peers;
  peers.reserve(by_identity.size());
  for (auto& entry : by_identity) peers.push_back(std::move(entry.second));
  return peers;
}

std::vector<std::string> ChangedWarnings::fresh(const std::vector<std::string>& current) {
  std::set<std::string> now;
  std::vector<std::string> out;
  for (const std::string& w : current) {
    if (now.insert(w).second && !last_.contains(w)) out.push_back(w);
  }
  last_ = std::move(now);
  return out;
}

}  // namespace esk8s::discovery
