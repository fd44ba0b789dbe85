#include "discovery/static_source.h"


#include <charconv>
#include <set>
#include <string>

#include "common/escape.h"
#include "common/identity.h"
#include "common/text.h"

namespace esk8s::discovery {

namespace {

bool parse_port(std::string_view s, uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

constexpr std::string_view kExpected =
    "expected identity=address[:port], e.g. esdb-0.esdb.prod.svc.cluster.local=10.0.0.5:2114";

// Entries are echoed escaped and cut (common/escape.h): they may come from anywhere.
constexpr size_t kMaxEchoedBytes = 200;

Status entry_error(std::string_view entry, std::string_view why) {
  return Status::config("ESK8S_STATIC_PEERS entry \"" + escape_untrusted(entry, kMaxEchoedBytes) +
                        "\" " + std::string(why) + "; " + std::string(kExpected));
}

}  // namespace

Result<PeerSet> parse_static_peers(std::string_view text, uint16_t default_port) {
  PeerSet peers;
  std::set<std::string> seen;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view entry =
        trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (entry.empty()) continue;

    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) return entry_error(entry, "has no '='");
    std::string identity(trim(entry.substr(0, eq)));
    std::string_view where = trim(entry.substr(eq + 1));
    if (!is_dns1123_subdomain(identity)) {
      return entry_error(entry, "has an identity that is not a lower-case DNS name");
    }
    if (!seen.insert(identity).second) return entry_error(entry, "repeats an identity");

    Peer peer;
    peer.identity = identity;
    peer.gossip_port = default_port;
    std::string_view port_text;
    if (!where.empty() && where.front() == '[') {
      size_t close = where.find(']');
      if (close == std::string_view::npos) return entry_error(entry, "has an unclosed '['");
      peer.address = std::string(where.substr(1, close - 1));
      if (!is_ipv6(peer.address)) return entry_error(entry, "has an invalid IPv6 address");
      std::string_view rest = where.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return entry_error(entry, "has text after ']' that is not :port");
        port_text = rest.substr(1);
        if (port_text.empty()) return entry_error(entry, "has an empty port");
      }
    } else {
      size_t colon = where.find(':');
      if (colon != std::string_view::npos && where.find(':', colon + 1) != std::string_view::npos) {
        return entry_error(entry, "has an IPv6 address without brackets (write [addr]:port)");
      }
      peer.address = std::string(where.substr(0, colon));
      if (colon != std::string_view::npos) {
        port_text = where.substr(colon + 1);
        if (port_text.empty()) return entry_error(entry, "has an empty port");
      }
      if (peer.address.empty()) return entry_error(entry, "has no address");
      if (!is_ipv4(peer.address) && !is_dns1123_subdomain(peer.address)) {
        return entry_error(entry, "has an address that is neither an IP literal nor a DNS name");
      }
    }
    if (!port_text.empty() && !parse_port(port_text, peer.gossip_port)) {
      return entry_error(entry, "has a port that is not 1-65535");
    }
    peers.push_back(std::move(peer));
  }
  if (peers.empty()) {
    // "," or " , " would otherwise start a cluster of one that is ready on its own.
    return Status::config("ESK8S_STATIC_PEERS=\"" + escape_untrusted(text, kMaxEchoedBytes) +
                          "\" lists no peer; " + std::string(kExpected) +
                          ", entries separated by commas");
  }
  return peers;
}

}  // namespace esk8s::discovery
