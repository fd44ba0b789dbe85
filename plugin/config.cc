#include "plugin/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

#include "common/escape.h"
#include "common/file.h"
#include "common/identity.h"
#include "discovery/static_source.h"
#include "plugin/csr_request.h"
#include "tls/peer_verify.h"

extern char** environ;

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

const std::vector<KeySpec>& config_keys() {
  static const std::vector<KeySpec> keys = {
      {"ESK8S_SERVICE", "a DNS-1123 label (lower-case letters, digits, '-', at most 63)",
       "required", "Name of the headless Service that selects the database pods."},
      {"ESK8S_NAMESPACE", "a DNS-1123 label", "the service-account namespace file",
       "The pod's own namespace (downward API metadata.namespace)."},
      {"ESK8S_PEER_NAMESPACES", "a comma-separated list of DNS-1123 labels", "none",
       "Other namespaces holding members of the same cluster."},
      {"ESK8S_POD_NAME", "a DNS-1123 label", "the host name",
       "The pod's name (downward API metadata.name); the first label of the identity."},
      {"ESK8S_CLUSTER_DOMAIN", "a DNS-1123 subdomain such as cluster.local",
       "detected from /etc/resolv.conf, else cluster.local", "The Kubernetes cluster DNS domain."},
      {"ESK8S_CLUSTER_SIZE", "an integer 1-10000",
       "the StatefulSet's spec.replicas; static mode: the static peers",
       "Number of voting members; quorum is a majority of it."},
      {"ESK8S_MAX_MEMBERS", "an integer 2-100000",
       "2 x ESK8S_CLUSTER_SIZE + 16 when the size is set (static mode: from the peers), else 4096",
       "Cap of the gossip membership table (self and tombstones included); records about new "
       "identities beyond it are refused and counted (claims_rejected reason table_full)."},
      {"ESK8S_CLUSTER_NAME", "a DNS-1123 subdomain", "<service>.<namespace>",
       "Carried by every gossip message; messages of other clusters are refused."},
      {"ESK8S_DISCOVERY", "kubernetes | dns | static", "kubernetes", "Where peers come from."},
      {"ESK8S_STATIC_PEERS", "identity=address[:port],... (static mode only)", "none",
       "The peers of static discovery; the local identity may be listed and is skipped."},
      {"ESK8S_KUBE_API", "an https:// URL", "in-cluster KUBERNETES_SERVICE_HOST/PORT",
       "Kubernetes API server to use instead of the in-cluster one."},
      {"ESK8S_KUBECONFIG", "a file path", "KUBECONFIG, else in-cluster config",
       "kubeconfig file for running outside a cluster."},
      {"ESK8S_SERVICE_ACCOUNT_DIR", "a directory path",
       "/var/run/secrets/kubernetes.io/serviceaccount",
       "Where the service-account token, ca.crt and namespace files are mounted."},
      {"ESK8S_GOSSIP_PORT", "an integer 1-65535", "2114",
       "TCP port of the gossip (mutual TLS) listener."},
      {"ESK8S_HTTP_PORT", "an integer 0-65535 (0 picks a free port)", "2115",
       "Port of the HTTP endpoints (the health probes; /members, /gossip and /metrics as they "
       "land)."},
      {"ESK8S_HTTPS_PORT", "an integer 0-65535 (0 picks a free port) or off",
       "2116 (0 when ESK8S_HTTP_PORT is 0)",
       "Port of the same HTTP endpoints over TLS with the node's certificate, for database "
       "clients that fetch /gossip over HTTPS; probes keep using ESK8S_HTTP_PORT."},
      {"ESK8S_BIND_ADDRESS", "an IPv4 or IPv6 literal", "0.0.0.0 (all IPv4 interfaces)",
       "Address the listeners bind to (set it to the pod IP to listen on that address only)."},
      {"ESK8S_ADVERTISE_ADDRESS", "an IP literal or a DNS name",
       "ESK8S_BIND_ADDRESS when it is a specific address, else the identity",
       "Where peers reach this node's gossip listener (set it from status.podIP)."},
      {"ESK8S_TLS_MODE", "local-ca | kubernetes-csr | files", "local-ca",
       "How the node gets its certificate."},
      {"ESK8S_TLS_CA_DIR", "a directory path", "/etc/esk8s/ca",
       "local-ca mode: directory with ca.crt and ca.key (a Secret); ca.key must not be "
       "readable by group or others."},
      {"ESK8S_TLS_DIR", "a directory path", "/etc/esk8s/tls",
       "files mode: directory with tls.crt, tls.key and ca.crt (cert-manager, a CSI driver)."},
      {"ESK8S_TLS_OUT_DIR", "a directory path", "none (kept in memory)",
       "local-ca and kubernetes-csr modes: where the issued tls.crt, tls.key (0600) and ca.crt "
       "are written for the database to use."},
      {"ESK8S_TLS_KEY_TYPE", "ecdsa-p256 | rsa-2048 | rsa-3072 | ed25519", "ecdsa-p256",
       "Key type of issued certificates."},
      {"ESK8S_TLS_VALIDITY_HOURS", "an integer 1-8760", "720 (30 days)",
       "Lifetime of issued certificates; renewed at two thirds of it."},
      {"ESK8S_TLS_CSR_SIGNER", "a signer name domain/path (not a kubernetes.io built-in)",
       "esk8s.io/node", "kubernetes-csr mode: signerName of the CertificateSigningRequest."},
      {"ESK8S_TLS_CSR_TIMEOUT_SECONDS", "an integer 1-86400", "300",
       "kubernetes-csr mode: how long to wait for approval and signing."},
      {"ESK8S_TLS_LOCALHOST", "true | false", "false",
       "Add localhost, 127.0.0.1 and ::1 to the certificate (for local probes)."},
      {"ESK8S_CLIENT_SERVICES", "a comma-separated list of DNS-1123 labels", "none",
       "Client-facing Services whose names go into the certificate."},
      {"ESK8S_ALLOWED_PEERS", "comma-separated DNS names; '*' matches one label",
       "*.<service>.<namespace>.svc.<domain> for the own and every peer namespace",
       "Identities allowed to join this cluster over gossip."},
      {"ESK8S_READY_MODE", "auto | quorum | bootstrap-latch", "auto",
       "Semantics of /health/ready (auto: bootstrap-latch under OrderedReady, quorum under "
       "Parallel)."},
      {"ESK8S_DISRUPTION_LEASE", "off | NAMESPACE/NAME (a DNS-1123 label / subdomain)", "off",
       "The cluster-wide disruption guard: a coordination.k8s.io Lease every member must hold "
       "before /health/disruptable answers 200, so that disruptions happen one at a time "
       "across namespaces (RBAC: rbac/disruption-lease.yaml)."},
      {"ESK8S_DISRUPTION_LEASE_SECONDS", "an integer 10-3600", "120",
       "How long a disruption holds the guard at most: the member's next process frees it once "
       "it sees a quorum again; a member that never comes back frees it by expiry."},
      {"ESK8S_EVENTS", "on | off", "on",
       "Kubernetes discovery: write events.k8s.io/v1 Events about what this member saw (a member "
       "died or left, quorum lost and regained, superseded, RBAC missing, certificate renewal, "
       "discovery stale) on its own Pod, aggregated and rate-limited (RBAC: rbac/role.yaml)."},
      {"ESK8S_PRESET", "lan | local | wan", "lan", "Timing preset (probe intervals, deadlines)."},
      {"ESK8S_FAULT_FILE", "path", "none",
       "Testing only: while this file holds the word isolate, gossip traffic is dropped both "
       "ways (a simulated partition)."},
  };
  return keys;
}

std::string Config::identity() const {
  return make_identity(pod_name, service, namespace_name, cluster_domain);
}

ConfigInput environment_config() {
  ConfigInput in;
  in.origin = ConfigOrigin::kEnvironment;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (!kv.starts_with("ESK8S_")) continue;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    in.entries.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return in;
}

HostFacts HostFacts::from_system() {
  HostFacts f;
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') f.hostname = std::string(buf);
  return f;
}

std::string detect_cluster_domain(std::string_view resolv_conf) {
  std::istringstream in{std::string(resolv_conf)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string word;
    if (!(words >> word) || word != "search") continue;
    while (words >> word) {
      // "svc.<domain>" or "<ns>.svc.<domain>"
      size_t pos = word.starts_with("svc.") ? 0 : word.find(".svc.");
      if (pos == std::string::npos) continue;
      std::string domain = word.substr(pos == 0 ? 4 : pos + 5);
      while (!domain.empty() && domain.back() == '.') domain.pop_back();
      if (is_dns1123_subdomain(domain)) return domain;
    }
  }
  return "";
}

namespace {

// The first line of a small file, trailing blanks removed; nullopt when it cannot be read.
std::optional<std::string> read_first_line(const std::string& path) {
  auto text = read_regular_file(path, kMaxSmallFileBytes);
  if (!text) return std::nullopt;
  std::string line = text.value().substr(0, text.value().find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

const KeySpec* find_key(std::string_view key) {
  for (const auto& k : config_keys()) {
    if (k.key == key) return &k;
  }
  return nullptr;
}

// Values echoed in problems and warnings are escaped and cut (common/escape.h): they may hold a
// newline that would forge a log line when the error is logged, or megabytes.
constexpr size_t kMaxEchoedValueBytes = 200;

std::string shown(std::string_view value) { return escape_untrusted(value, kMaxEchoedValueBytes); }

// Collects problems; each names the key, the value and what the key accepts.
class Problems {
 public:
  void bad_value(std::string_view key, std::string_view value, std::string_view why = "") {
    const KeySpec* spec = find_key(key);
    std::string msg = std::string(key) + "=\"" + shown(value) + "\" is invalid";
    // `why` may quote part of the value.
    if (!why.empty()) msg += " (" + escape_untrusted(why, 2 * kMaxEchoedValueBytes) + ")";
    if (spec) msg += "; accepted: " + std::string(spec->accepted);
    errors.push_back(std::move(msg));
  }
  void error(std::string msg) { errors.push_back(std::move(msg)); }
  std::vector<std::string> errors;
};

bool parse_uint(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = v;
  return true;
}

bool is_ip_literal(const std::string& s) {
  in_addr a4{};
  in6_addr a6{};
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

template <typename E>
bool parse_enum(std::string_view value, std::initializer_list<E> options, E& out) {
  for (E e : options) {
    if (to_string(e) == value) {
      out = e;
      return true;
    }
  }
  return false;
}

}  // namespace

Result<ParsedConfig> parse_config(const ConfigInput& input, const HostFacts& facts) {
  ParsedConfig parsed;
  Config& c = parsed.config;
  Problems problems;
  std::map<std::string, std::string, std::less<>> values;

  for (const auto& [key, value] : input.entries) {
    if (!find_key(key)) {
      if (input.origin == ConfigOrigin::kEnvironment) {
        parsed.warnings.push_back("environment variable " + shown(key) +
                                  " is not an esk8s setting and is ignored (Kubernetes service "
                                  "links inject <SERVICE>_PORT-style variables; a typo would also "
                                  "land here)");
      } else {
        problems.error("unknown configuration key \"" + shown(key) +
                       "\"; accepted keys are listed by `esk8s config keys` and in the README");
      }
      continue;
    }
    if (values.contains(key)) {
      problems.error("configuration key " + key + " is given twice (\"" + shown(values[key]) +
                     "\" and \"" + shown(value) + "\"); give it once");
      continue;
    }
    // An empty value means "unset": ConfigMaps often carry empty optional keys.
    if (!value.empty()) values[key] = value;
  }
  auto get = [&](std::string_view key) -> std::optional<std::string> {
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };

  // Enumerations first: later checks depend on the discovery mode.
  if (auto v = get("ESK8S_DISCOVERY")) {
    if (!parse_enum(*v, {DiscoveryMode::kKubernetes, DiscoveryMode::kDns, DiscoveryMode::kStatic},
                    c.discovery)) {
      problems.bad_value("ESK8S_DISCOVERY", *v);
    }
  }
  if (auto v = get("ESK8S_TLS_MODE")) {
    if (!parse_enum(*v, {TlsMode::kLocalCa, TlsMode::kKubernetesCsr, TlsMode::kFiles},
                    c.tls_mode)) {
      problems.bad_value("ESK8S_TLS_MODE", *v);
    }
  }
  if (auto v = get("ESK8S_READY_MODE")) {
    if (!parse_enum(*v, {ReadyMode::kAuto, ReadyMode::kQuorum, ReadyMode::kBootstrapLatch},
                    c.ready_mode)) {
      problems.bad_value("ESK8S_READY_MODE", *v);
    }
  }
  if (auto v = get("ESK8S_PRESET")) {
    if (!parse_enum(*v, {Preset::kLan, Preset::kLocal, Preset::kWan}, c.preset)) {
      problems.bad_value("ESK8S_PRESET", *v);
    }
  }

  if (auto v = get("ESK8S_FAULT_FILE")) c.fault_file = *v;

  // Names.
  c.service_account_dir =
      get("ESK8S_SERVICE_ACCOUNT_DIR").value_or(std::string(kDefaultServiceAccountDir));

  if (auto v = get("ESK8S_SERVICE")) {
    if (is_dns1123_label(*v))
      c.service = *v;
    else
      problems.bad_value("ESK8S_SERVICE", *v);
  } else {
    problems.error(
        "ESK8S_SERVICE is not set; set it to the name of the headless Service that selects the "
        "database pods (e.g. ESK8S_SERVICE=esdb)");
  }

  if (auto v = get("ESK8S_POD_NAME")) {
    if (is_dns1123_label(*v))
      c.pod_name = *v;
    else
      problems.bad_value("ESK8S_POD_NAME", *v);
  } else if (facts.hostname && is_dns1123_label(*facts.hostname)) {
    c.pod_name = *facts.hostname;
  } else {
    problems.error("ESK8S_POD_NAME is not set and the host name \"" +
                   shown(facts.hostname.value_or("")) +
                   "\" is not a DNS-1123 label; set ESK8S_POD_NAME from the downward API "
                   "(fieldRef: metadata.name)");
  }

  if (auto v = get("ESK8S_NAMESPACE")) {
    if (is_dns1123_label(*v))
      c.namespace_name = *v;
    else
      problems.bad_value("ESK8S_NAMESPACE", *v);
  } else {
    std::string path = c.service_account_dir + "/namespace";
    auto ns = read_first_line(path);
    if (ns && is_dns1123_label(*ns)) {
      c.namespace_name = *ns;
    } else {
      problems.error("ESK8S_NAMESPACE is not set and " + path +
                     (ns ? " does not hold a namespace name" : " cannot be read") +
                     "; set ESK8S_NAMESPACE from the downward API (fieldRef: metadata.namespace)");
    }
  }

  if (auto v = get("ESK8S_PEER_NAMESPACES")) {
    std::string_view rest = *v;
    while (true) {
      size_t comma = rest.find(',');
      std::string ns(rest.substr(0, comma));
      ns.erase(0, ns.find_first_not_of(' '));
      ns.erase(ns.find_last_not_of(' ') + 1);
      if (!ns.empty()) {
        if (!is_dns1123_label(ns)) {
          problems.bad_value("ESK8S_PEER_NAMESPACES", *v, "\"" + ns + "\" is not a namespace name");
        } else if (ns != c.namespace_name &&
                   std::find(c.peer_namespaces.begin(), c.peer_namespaces.end(), ns) ==
                       c.peer_namespaces.end()) {
          c.peer_namespaces.push_back(ns);
        }
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }

  if (auto v = get("ESK8S_CLUSTER_DOMAIN")) {
    std::string d = *v;
    while (!d.empty() && d.back() == '.') d.pop_back();
    if (is_dns1123_subdomain(d)) {
      c.cluster_domain = d;
      c.cluster_domain_source = "ESK8S_CLUSTER_DOMAIN";
    } else {
      problems.bad_value("ESK8S_CLUSTER_DOMAIN", *v);
    }
  } else {
    std::string detected;
    if (auto text = read_regular_file(facts.resolv_conf_path, kMaxSmallFileBytes)) {
      detected = detect_cluster_domain(text.value());
    }
    if (!detected.empty()) {
      c.cluster_domain = detected;
      c.cluster_domain_source = facts.resolv_conf_path;
    } else {
      c.cluster_domain = "cluster.local";
      c.cluster_domain_source = "default";
    }
  }

  if (!c.pod_name.empty() && !c.service.empty() && !c.namespace_name.empty() &&
      !c.cluster_domain.empty() && !is_dns1123_subdomain(c.identity())) {
    problems.error("the identity \"" + c.identity() +
                   "\" (ESK8S_POD_NAME.ESK8S_SERVICE.ESK8S_NAMESPACE.svc.ESK8S_CLUSTER_DOMAIN) is "
                   "longer than 253 characters; shorten the names");
  }

  if (auto v = get("ESK8S_CLUSTER_NAME")) {
    if (is_dns1123_subdomain(*v))
      c.cluster_name = *v;
    else
      problems.bad_value("ESK8S_CLUSTER_NAME", *v);
  } else if (!c.service.empty() && !c.namespace_name.empty()) {
    c.cluster_name = c.service + "." + c.namespace_name;
  }

  // TLS.
  if (auto v = get("ESK8S_TLS_CA_DIR")) c.tls_ca_dir = *v;
  if (auto v = get("ESK8S_TLS_DIR")) c.tls_dir = *v;
  if (auto v = get("ESK8S_TLS_OUT_DIR")) c.tls_out_dir = *v;
  if (auto v = get("ESK8S_TLS_KEY_TYPE")) {
    if (*v == "ecdsa-p256" || *v == "rsa-2048" || *v == "rsa-3072" || *v == "ed25519")
      c.tls_key_type = *v;
    else
      problems.bad_value("ESK8S_TLS_KEY_TYPE", *v);
  }
  uint64_t num = 0;
  if (auto v = get("ESK8S_TLS_VALIDITY_HOURS")) {
    if (parse_uint(*v, 8760, num) && num >= 1)
      c.tls_validity_hours = static_cast<uint32_t>(num);
    else
      problems.bad_value("ESK8S_TLS_VALIDITY_HOURS", *v);
  }
  if (auto v = get("ESK8S_TLS_CSR_TIMEOUT_SECONDS")) {
    if (parse_uint(*v, 86400, num) && num >= 1)
      c.tls_csr_timeout_seconds = static_cast<uint32_t>(num);
    else
      problems.bad_value("ESK8S_TLS_CSR_TIMEOUT_SECONDS", *v);
  }
  if (auto v = get("ESK8S_TLS_CSR_SIGNER")) {
    if (std::string why = refuse_builtin_signer(*v); !why.empty()) {
      problems.bad_value("ESK8S_TLS_CSR_SIGNER", *v, why);
    } else if (v->find('/') == std::string::npos || v->front() == '/' || v->back() == '/') {
      problems.bad_value("ESK8S_TLS_CSR_SIGNER", *v, "a signer name has the form domain/path");
    } else {
      c.tls_csr_signer = *v;
    }
  }
  if (auto v = get("ESK8S_TLS_LOCALHOST")) {
    if (*v == "true" || *v == "false")
      c.tls_localhost = *v == "true";
    else
      problems.bad_value("ESK8S_TLS_LOCALHOST", *v);
  }
  auto split_list = [](std::string_view text) {
    std::vector<std::string> out;
    while (true) {
      size_t comma = text.find(',');
      std::string item(text.substr(0, comma));
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
    return out;
  };
  if (auto v = get("ESK8S_CLIENT_SERVICES")) {
    for (auto& svc : split_list(*v)) {
      if (is_dns1123_label(svc))
        c.client_services.push_back(svc);
      else
        problems.bad_value("ESK8S_CLIENT_SERVICES", *v, "\"" + svc + "\" is not a service name");
    }
  }
  if (auto v = get("ESK8S_ALLOWED_PEERS")) {
    for (auto& pattern : split_list(*v)) {
      if (Status ps = tls::validate_allow_pattern(pattern); ps)
        c.allowed_peers.push_back(pattern);
      else
        problems.bad_value("ESK8S_ALLOWED_PEERS", *v, ps.message());
    }
  }

  // Ports and addresses.
  uint64_t n = 0;
  if (auto v = get("ESK8S_GOSSIP_PORT")) {
    if (parse_uint(*v, 65535, n) && n > 0)
      c.gossip_port = static_cast<uint16_t>(n);
    else
      problems.bad_value("ESK8S_GOSSIP_PORT", *v);
  }
  if (auto v = get("ESK8S_HTTP_PORT")) {
    if (parse_uint(*v, 65535, n))
      c.http_port = static_cast<uint16_t>(n);
    else
      problems.bad_value("ESK8S_HTTP_PORT", *v);
  }
  if (c.http_port != 0 && c.http_port == c.gossip_port) {
    problems.error("ESK8S_HTTP_PORT and ESK8S_GOSSIP_PORT are both " + std::to_string(c.http_port) +
                   "; they need different ports");
  }
  if (c.http_port == 0) c.https_port = 0;  // tests: every listener on a free port
  if (auto v = get("ESK8S_HTTPS_PORT")) {
    if (*v == "off")
      c.https_port.reset();
    else if (parse_uint(*v, 65535, n))
      c.https_port = static_cast<uint16_t>(n);
    else
      problems.bad_value("ESK8S_HTTPS_PORT", *v);
  }
  if (c.https_port && *c.https_port != 0) {
    for (auto [key, p] : {std::pair<const char*, uint16_t>{"ESK8S_HTTP_PORT", c.http_port},
                          {"ESK8S_GOSSIP_PORT", c.gossip_port}}) {
      if (p == *c.https_port) {
        problems.error(std::string("ESK8S_HTTPS_PORT and ") + key + " are both " +
                       std::to_string(p) + "; they need different ports");
      }
    }
  }
  if (auto v = get("ESK8S_BIND_ADDRESS")) {
    if (is_ip_literal(*v))
      c.bind_address = *v;
    else
      problems.bad_value("ESK8S_BIND_ADDRESS", *v, "host names are not accepted");
  }

  if (auto v = get("ESK8S_ADVERTISE_ADDRESS")) {
    if (is_ip_literal(*v) || is_dns1123_subdomain(*v))
      c.advertise_address = *v;
    else
      problems.bad_value("ESK8S_ADVERTISE_ADDRESS", *v);
  } else if (c.bind_address != "0.0.0.0" && c.bind_address != "::") {
    c.advertise_address = c.bind_address;
  } else if (!c.pod_name.empty() && !c.service.empty() && !c.namespace_name.empty()) {
    c.advertise_address = c.identity();
    if (c.discovery == DiscoveryMode::kKubernetes) {
      parsed.warnings.push_back(
          "ESK8S_ADVERTISE_ADDRESS is not set and ESK8S_BIND_ADDRESS is a wildcard: peers will "
          "reach this node by resolving its identity " +
          c.identity() +
          " through cluster DNS; set ESK8S_ADVERTISE_ADDRESS from the downward API "
          "(fieldRef: status.podIP) so gossip does not depend on DNS");
    }
  }

  // Discovery.
  if (auto v = get("ESK8S_KUBE_API")) {
    if (!v->starts_with("https://") || v->size() <= 8) {
      problems.bad_value("ESK8S_KUBE_API", *v,
                         "the API server is always spoken to over verified HTTPS");
    } else {
      c.kube_api = *v;
    }
  }
  if (auto v = get("ESK8S_KUBECONFIG")) c.kubeconfig = *v;
  if (c.discovery != DiscoveryMode::kKubernetes && (!c.kube_api.empty() || !c.kubeconfig.empty())) {
    parsed.warnings.push_back("ESK8S_KUBE_API/ESK8S_KUBECONFIG are set but ESK8S_DISCOVERY=" +
                              std::string(to_string(c.discovery)) + " does not use them");
  }

  auto static_peers = get("ESK8S_STATIC_PEERS");
  if (c.discovery == DiscoveryMode::kStatic) {
    if (!static_peers) {
      problems.error(
          "ESK8S_DISCOVERY=static needs ESK8S_STATIC_PEERS, e.g. "
          "ESK8S_STATIC_PEERS=esdb-0.esdb.prod.svc.cluster.local=10.0.0.5:2114,...");
    } else {
      auto peers = discovery::parse_static_peers(*static_peers, c.gossip_port);
      if (!peers) {
        problems.error(peers.status().message());
      } else {
        std::string self = c.identity();
        for (auto& p : peers.value()) {
          if (p.identity != self) c.static_peers.push_back(std::move(p));
        }
      }
    }
  } else if (static_peers) {
    problems.error(
        "ESK8S_STATIC_PEERS is set but ESK8S_DISCOVERY=" + std::string(to_string(c.discovery)) +
        "; set ESK8S_DISCOVERY=static or remove ESK8S_STATIC_PEERS");
  }

  if (auto v = get("ESK8S_CLUSTER_SIZE")) {
    if (parse_uint(*v, kMaxClusterSize, n) && n >= 1) {
      c.cluster_size = static_cast<uint32_t>(n);
      if (n % 2 == 0) {
        parsed.warnings.push_back("ESK8S_CLUSTER_SIZE=" + *v +
                                  " is even: it tolerates as many failures as " +
                                  std::to_string(n - 1) + " members would; prefer an odd size");
      }
    } else {
      problems.bad_value("ESK8S_CLUSTER_SIZE", *v);
    }
  } else if (c.discovery == DiscoveryMode::kStatic) {
    c.cluster_size = static_cast<uint32_t>(c.static_peers.size() + 1);
  }

  if (auto v = get("ESK8S_DISRUPTION_LEASE"); v && *v != "off") {
    const size_t slash = v->find('/');
    const std::string ns = slash == std::string::npos ? "" : v->substr(0, slash);
    const std::string name = slash == std::string::npos ? "" : v->substr(slash + 1);
    if (is_dns1123_label(ns) && is_dns1123_subdomain(name)) {
      c.disruption_lease_namespace = ns;
      c.disruption_lease_name = name;
    } else {
      problems.bad_value("ESK8S_DISRUPTION_LEASE", *v);
    }
  }
  if (auto v = get("ESK8S_EVENTS")) {
    if (*v == "on" || *v == "off")
      c.events = *v == "on";
    else
      problems.bad_value("ESK8S_EVENTS", *v);
  }
  if (auto v = get("ESK8S_DISRUPTION_LEASE_SECONDS")) {
    if (parse_uint(*v, 3600, n) && n >= 10) {
      c.disruption_lease_seconds = static_cast<uint32_t>(n);
    } else {
      problems.bad_value("ESK8S_DISRUPTION_LEASE_SECONDS", *v);
    }
  }

  if (auto v = get("ESK8S_MAX_MEMBERS")) {
    if (parse_uint(*v, 100000, n) && n >= 2) {
      c.max_members = static_cast<uint32_t>(n);
      if (c.cluster_size && n < *c.cluster_size) {
        problems.error("ESK8S_MAX_MEMBERS=" + std::to_string(n) + " is below ESK8S_CLUSTER_SIZE=" +
                       std::to_string(*c.cluster_size) +
                       ": the cluster's own members would be refused; unset it or raise it to at "
                       "least " + std::to_string(2 * *c.cluster_size + 16));
      }
    } else {
      problems.bad_value("ESK8S_MAX_MEMBERS", *v);
    }
  }

  if (!problems.errors.empty()) {
    std::string msg = "invalid esk8s configuration (" + std::to_string(problems.errors.size()) +
                      (problems.errors.size() == 1 ? " problem):" : " problems):");
    for (const auto& e : problems.errors) msg += "\n  - " + e;
    return Status::config(std::move(msg));
  }
  return parsed;
}

}  // namespace esk8s::plugin
