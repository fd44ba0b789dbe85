// The plugin's configuration: the ESK8S_* keys (README "Configuration"), their defaults, and the
// validation that turns key/value pairs into a Config or into one error listing every problem.
// Each problem names the key, the value and what is accepted.
//
// Pure apart from HostFacts, which carries what is read from the machine (host name, resolv.conf,
// the service-account namespace file) so tests can inject it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "discovery/peer.h"
#include "plugin/modes.h"

namespace esk8s::plugin {

inline constexpr uint16_t kDefaultGossipPort = 2114;
inline constexpr uint16_t kDefaultHttpPort = 2115;
inline constexpr uint16_t kDefaultHttpsPort = 2116;
inline constexpr uint32_t kMaxClusterSize = 10000;
inline constexpr std::string_view kDefaultServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

struct Config {
  std::string service;                       // headless Service name
  std::string namespace_name;                // own namespace
  std::vector<std::string> peer_namespaces;  // other namespaces with members (own excluded)
  std::string pod_name;
  std::string cluster_domain;
  std::string cluster_domain_source;  // "ESK8S_CLUSTER_DOMAIN", "/etc/resolv.conf", "default"
  // Voting members; unset means "read the StatefulSet's spec.replicas" (Kubernetes modes).
  std::optional<uint32_t> cluster_size;
  // ESK8S_MAX_MEMBERS: the gossip table's cap; unset = derived from cluster_size (runtime.cc).
  std::optional<uint32_t> max_members;
  std::string cluster_name;
  DiscoveryMode discovery = DiscoveryMode::kKubernetes;
  discovery::PeerSet static_peers;  // static mode only; the local identity removed
  std::string kube_api;             // "https://host:port" or empty
  std::string kubeconfig;           // path or empty
  std::string service_account_dir;
  uint16_t gossip_port = kDefaultGossipPort;
  uint16_t http_port = kDefaultHttpPort;  // 0: any free port (tests)
  // The same endpoints over HTTPS (ESK8S_HTTPS_PORT); nullopt: off; 0: any free port.
  std::optional<uint16_t> https_port = kDefaultHttpsPort;
  std::string bind_address = "0.0.0.0";
  // Where peers reach our gossip listener: ESK8S_ADVERTISE_ADDRESS, else the bind address when
  // it is a specific one, else the identity (resolved through the headless Service's DNS).
  std::string advertise_address;
  TlsMode tls_mode = TlsMode::kLocalCa;
  std::string tls_ca_dir = "/etc/esk8s/ca";  // local-ca: ca.crt + ca.key
  std::string tls_dir = "/etc/esk8s/tls";    // files: tls.crt + tls.key + ca.crt
  std::string tls_out_dir;                   // local-ca/kubernetes-csr: write issued files here
  std::string tls_key_type = "ecdsa-p256";   // ecdsa-p256 | rsa-2048 | rsa-3072 | ed25519
  uint32_t tls_validity_hours = 720;         // local-ca and kubernetes-csr
  std::string tls_csr_signer = "esk8s.io/node";
  uint32_t tls_csr_timeout_seconds = 300;
  bool tls_localhost = false;                // localhost / 127.0.0.1 / ::1 SANs
  std::vector<std::string> client_services;  // client-facing Services (SANs)
  std::vector<std::string> allowed_peers;    // patterns; empty: this cluster's names
  ReadyMode ready_mode = ReadyMode::kAuto;
  Preset preset = Preset::kLan;
  // ESK8S_DISRUPTION_LEASE: the guard's Lease (both empty: off), plugin/disruption_guard.h.
  std::string disruption_lease_namespace;
  std::string disruption_lease_name;
  uint32_t disruption_lease_seconds = 120;
  // ESK8S_EVENTS: Kubernetes Events on the member's own Pod (kubernetes discovery only).
  bool events = true;
  std::string fault_file;  // testing only: "isolate" in it partitions gossip (empty: off)

  // "<pod>.<service>.<namespace>.svc.<cluster-domain>".
  std::string identity() const;
};

// One configuration key: its documentation and its parser. The table (config_keys) is the one
// place a key exists: parse_config accepts exactly its keys, `esk8s config keys` prints it, and
// tests/docs_test.sh checks the README's key table against it.
//
// A parser reads one set, non-empty value into its Config field(s); each entry it pushes to
// `bad` makes the value invalid and says why (quoted in the error after the value; "" when the
// `accepted` text says it all; an entry that starts with "KEY=" is a complete sentence naming the
// key and the value, and is reported as it is). Parsers run in table order and may read the fields of keys above
// them (ESK8S_STATIC_PEERS reads ESK8S_DISCOVERY); defaults and checks that involve several keys
// run after every parser (parse_config).
using KeyParser = std::function<void(const std::string& value, Config& config,
                                     std::vector<std::string>& bad)>;

struct KeySpec {
  std::string_view key;
  std::string_view accepted;       // what values are accepted, as printed in errors
  std::string_view default_value;  // human description of the default
  std::string_view description;
  KeyParser parse;
};

// Every key the plugin accepts, in documentation order.
const std::vector<KeySpec>& config_keys();

// Where the key/value pairs came from: explicit host configuration rejects unknown keys; the
// environment only warns about unknown ESK8S_* variables (Kubernetes service links inject
// ESK8S_PORT, ESK8S_SERVICE_HOST, ... into every pod when a Service is named "esk8s").
enum class ConfigOrigin { kHost, kEnvironment };

struct ConfigInput {
  std::vector<std::pair<std::string, std::string>> entries;
  ConfigOrigin origin = ConfigOrigin::kHost;
};

// The ESK8S_* variables of this process's environment.
ConfigInput environment_config();

// What the defaults are derived from.
struct HostFacts {
  std::optional<std::string> hostname;  // pod name default (a StatefulSet pod's host name)
  std::string resolv_conf_path = "/etc/resolv.conf";

  // The real machine's facts.
  static HostFacts from_system();
};

struct ParsedConfig {
  Config config;
  std::vector<std::string> warnings;  // non-fatal findings, each a sentence
};

// Validates `input` and applies defaults. On failure the Status (code kConfig) lists every
// problem, one per line.
Result<ParsedConfig> parse_config(const ConfigInput& input, const HostFacts& facts);

// The cluster domain from resolv.conf text: the part after "svc." of the first search domain of
// the form "[<ns>.]svc.<domain>". Empty when there is none.
std::string detect_cluster_domain(std::string_view resolv_conf);

}  // namespace esk8s::plugin
