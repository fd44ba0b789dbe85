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

namespace {

// ---- The parsers of the key table: building blocks, then the keys with rules of their own.

bool parse_uint(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = v;
  return true;
}

bool is_ip_literal(std::string_view s) {
  const std::string text(s);
  in_addr a4{};
  in6_addr a6{};
  return inet_pton(AF_INET, text.c_str(), &a4) == 1 || inet_pton(AF_INET6, text.c_str(), &a6) == 1;
}

bool is_ip_or_dns_name(std::string_view s) { return is_ip_literal(s) || is_dns1123_subdomain(s); }

bool is_key_type(std::string_view s) {
  return s == "ecdsa-p256" || s == "rsa-2048" || s == "rsa-3072" || s == "ed25519";
}

// Comma-separated items, blanks around each trimmed, empty items dropped.
std::vector<std::string> split_list(std::string_view text) {
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
}

// The value as is (paths).
KeyParser text(std::string Config::*field) {
  return [field](const std::string& v, Config& c, std::vector<std::string>&) { c.*field = v; };
}

// The value when `valid` accepts it.
KeyParser checked(std::string Config::*field, bool (*valid)(std::string_view),
                  std::string why = "") {
  return [field, valid, why](const std::string& v, Config& c, std::vector<std::string>& bad) {
    if (valid(v))
      c.*field = v;
    else
      bad.push_back(why);
  };
}

// One of the enumeration's names (to_string).
template <typename E>
KeyParser one_of(E Config::*field, std::initializer_list<E> options) {
  return [field, names = std::vector<E>(options)](const std::string& v, Config& c,
                                                  std::vector<std::string>& bad) {
    for (E e : names) {
      if (to_string(e) == v) {
        c.*field = e;
        return;
      }
    }
    bad.emplace_back();
  };
}

template <typename T>
struct NumberOf {
  using type = T;
};
template <typename T>
struct NumberOf<std::optional<T>> {
  using type = T;
};

// A decimal integer in [min, max] (max fits the field's type).
template <typename T>
KeyParser number(T Config::*field, uint64_t min, uint64_t max) {
  return [field, min, max](const std::string& v, Config& c, std::vector<std::string>& bad) {
    uint64_t n = 0;
    if (parse_uint(v, max, n) && n >= min)
      c.*field = static_cast<typename NumberOf<T>::type>(n);
    else
      bad.emplace_back();
  };
}

KeyParser flag(bool Config::*field, std::string_view yes, std::string_view no) {
  return [field, yes, no](const std::string& v, Config& c, std::vector<std::string>& bad) {
    if (v == yes || v == no)
      c.*field = v == yes;
    else
      bad.emplace_back();
  };
}

// A comma-separated list; `problem` says why one item is refused ("" when it is accepted).
KeyParser list(std::vector<std::string> Config::*field,
               std::string (*problem)(const std::string& item)) {
  return [field, problem](const std::string& v, Config& c, std::vector<std::string>& bad) {
    for (auto& item : split_list(v)) {
      if (std::string why = problem(item); why.empty())
        (c.*field).push_back(std::move(item));
      else
        bad.push_back(std::move(why));
    }
  };
}

std::string service_name_problem(const std::string& item) {
  return is_dns1123_label(item) ? "" : "\"" + item + "\" is not a service name";
}

std::string allow_pattern_problem(const std::string& item) {
  Status s = tls::validate_allow_pattern(item);
  return s ? "" : s.message();
}

// Distinct namespaces; the own one is dropped once it is known (parse_config).
void parse_peer_namespaces(const std::string& v, Config& c, std::vector<std::string>& bad) {
  for (auto& ns : split_list(v)) {
    if (!is_dns1123_label(ns)) {
      bad.push_back("\"" + ns + "\" is not a namespace name");
    } else if (std::find(c.peer_namespaces.begin(), c.peer_namespaces.end(), ns) ==
               c.peer_namespaces.end()) {
      c.peer_namespaces.push_back(std::move(ns));
    }
  }
}

void parse_cluster_domain(const std::string& v, Config& c, std::vector<std::string>& bad) {
  std::string d = v;
  while (!d.empty() && d.back() == '.') d.pop_back();
  if (!is_dns1123_subdomain(d)) return bad.push_back("");
  c.cluster_domain = d;
  c.cluster_domain_source = "ESK8S_CLUSTER_DOMAIN";
}

// Static mode only (ESK8S_DISCOVERY is above it; parse_config refuses the key in other modes).
// A peer without a port keeps port 0 until parse_config gives it ESK8S_GOSSIP_PORT.
void parse_static_peers_key(const std::string& v, Config& c, std::vector<std::string>& bad) {
  if (c.discovery != DiscoveryMode::kStatic) return;
  auto peers = discovery::parse_static_peers(v, 0);
  if (!peers) return bad.push_back(peers.status().message());
  c.static_peers = std::move(peers.value());
}

void parse_kube_api(const std::string& v, Config& c, std::vector<std::string>& bad) {
  if (!v.starts_with("https://") || v.size() <= 8) {
    return bad.push_back("the API server is always spoken to over verified HTTPS");
  }
  c.kube_api = v;
}

void parse_https_port(const std::string& v, Config& c, std::vector<std::string>& bad) {
  uint64_t n = 0;
  if (v == "off")
    c.https_port.reset();
  else if (parse_uint(v, 65535, n))
    c.https_port = static_cast<uint16_t>(n);
  else
    bad.emplace_back();
}

void parse_csr_signer(const std::string& v, Config& c, std::vector<std::string>& bad) {
  if (std::string why = refuse_builtin_signer(v); !why.empty()) return bad.push_back(why);
  if (v.find('/') == std::string::npos || v.front() == '/' || v.back() == '/') {
    return bad.push_back("a signer name has the form domain/path");
  }
  c.tls_csr_signer = v;
}

void parse_disruption_lease(const std::string& v, Config& c, std::vector<std::string>& bad) {
  if (v == "off") return;
  const size_t slash = v.find('/');
  const std::string ns = slash == std::string::npos ? "" : v.substr(0, slash);
  const std::string name = slash == std::string::npos ? "" : v.substr(slash + 1);
  if (!is_dns1123_label(ns) || !is_dns1123_subdomain(name)) return bad.push_back("");
  c.disruption_lease_namespace = ns;
  c.disruption_lease_name = name;
}

}  // namespace

namespace {

// The members' identity and the cluster they form.
std::vector<KeySpec> cluster_keys() {
  return {
    {"ESK8S_SERVICE", "a DNS-1123 label (lower-case letters, digits, '-', at most 63)",
     "required", "Name of the headless Service that selects the database pods.",
     checked(&Config::service, is_dns1123_label)},
    {"ESK8S_NAMESPACE", "a DNS-1123 label", "the service-account namespace file",
     "The pod's own namespace (downward API metadata.namespace).",
     checked(&Config::namespace_name, is_dns1123_label)},
    {"ESK8S_PEER_NAMESPACES", "a comma-separated list of DNS-1123 labels", "none",
     "Other namespaces holding members of the same cluster.",
     parse_peer_namespaces},
    {"ESK8S_POD_NAME", "a DNS-1123 label", "the host name",
     "The pod's name (downward API metadata.name); the first label of the identity.",
     checked(&Config::pod_name, is_dns1123_label)},
    {"ESK8S_CLUSTER_DOMAIN", "a DNS-1123 subdomain such as cluster.local",
     "detected from /etc/resolv.conf, else cluster.local", "The Kubernetes cluster DNS domain.",
     parse_cluster_domain},
    {"ESK8S_CLUSTER_SIZE", "an integer 1-10000",
     "the StatefulSet's spec.replicas; static mode: the static peers",
     "Number of voting members; quorum is a majority of it.",
     number(&Config::cluster_size, 1, kMaxClusterSize)},
    {"ESK8S_MAX_MEMBERS", "an integer 2-100000",
     "2 x ESK8S_CLUSTER_SIZE + 16 when the size is set (static mode: from the peers), else 4096",
     "Cap of the gossip membership table (self and tombstones included); records about new "
     "identities beyond it are refused and counted (claims_rejected reason table_full).",
     number(&Config::max_members, 2, 100000)},
    {"ESK8S_CLUSTER_NAME", "a DNS-1123 subdomain", "<service>.<namespace>",
     "Carried by every gossip message; messages of other clusters are refused.",
     checked(&Config::cluster_name, is_dns1123_subdomain)},
  };
}

// Where peers come from.
std::vector<KeySpec> discovery_keys() {
  return {
    {"ESK8S_DISCOVERY", "kubernetes | dns | static", "kubernetes", "Where peers come from.",
     one_of(&Config::discovery, {DiscoveryMode::kKubernetes, DiscoveryMode::kDns, DiscoveryMode::kStatic})},
    {"ESK8S_STATIC_PEERS", "identity=address[:port],... (static mode only)", "none",
     "The peers of static discovery; the local identity may be listed and is skipped.",
     parse_static_peers_key},
    {"ESK8S_KUBE_API", "an https:// URL", "in-cluster KUBERNETES_SERVICE_HOST/PORT",
     "Kubernetes API server to use instead of the in-cluster one.",
     parse_kube_api},
    {"ESK8S_KUBECONFIG", "a file path", "KUBECONFIG, else in-cluster config",
     "kubeconfig file for running outside a cluster.",
     text(&Config::kubeconfig)},
    {"ESK8S_SERVICE_ACCOUNT_DIR", "a directory path",
     "/var/run/secrets/kubernetes.io/serviceaccount",
     "Where the service-account token, ca.crt and namespace files are mounted.",
     text(&Config::service_account_dir)},
  };
}

// The listeners and the addresses peers reach.
std::vector<KeySpec> listener_keys() {
  return {
    {"ESK8S_GOSSIP_PORT", "an integer 1-65535", "2114",
     "TCP port of the gossip (mutual TLS) listener.",
     number(&Config::gossip_port, 1, 65535)},
    {"ESK8S_HTTP_PORT", "an integer 0-65535 (0 picks a free port)", "2115",
     "Port of the HTTP endpoints (the health probes; /members, /gossip and /metrics as they "
     "land).",
     number(&Config::http_port, 0, 65535)},
    {"ESK8S_HTTPS_PORT", "an integer 0-65535 (0 picks a free port) or off",
     "2116 (0 when ESK8S_HTTP_PORT is 0)",
     "Port of the same HTTP endpoints over TLS with the node's certificate, for database "
     "clients that fetch /gossip over HTTPS; probes keep using ESK8S_HTTP_PORT.",
     parse_https_port},
    {"ESK8S_BIND_ADDRESS", "an IPv4 or IPv6 literal", "0.0.0.0 (all IPv4 interfaces)",
     "Address the listeners bind to (set it to the pod IP to listen on that address only).",
     checked(&Config::bind_address, is_ip_literal, "host names are not accepted")},
    {"ESK8S_ADVERTISE_ADDRESS", "an IP literal or a DNS name",
     "ESK8S_BIND_ADDRESS when it is a specific address, else the identity",
     "Where peers reach this node's gossip listener (set it from status.podIP).",
     checked(&Config::advertise_address, is_ip_or_dns_name)},
  };
}

// The node's certificate and who may join.
std::vector<KeySpec> tls_keys() {
  return {
    {"ESK8S_TLS_MODE", "local-ca | kubernetes-csr | files", "local-ca",
     "How the node gets its certificate.",
     one_of(&Config::tls_mode, {TlsMode::kLocalCa, TlsMode::kKubernetesCsr, TlsMode::kFiles})},
    {"ESK8S_TLS_CA_DIR", "a directory path", "/etc/esk8s/ca",
     "local-ca mode: directory with ca.crt and ca.key (a Secret); ca.key must not be "
     "readable by group or others.",
     text(&Config::tls_ca_dir)},
    {"ESK8S_TLS_DIR", "a directory path", "/etc/esk8s/tls",
     "files mode: directory with tls.crt, tls.key and ca.crt (cert-manager, a CSI driver).",
     text(&Config::tls_dir)},
    {"ESK8S_TLS_OUT_DIR", "a directory path", "none (kept in memory)",
     "local-ca and kubernetes-csr modes: where the issued tls.crt, tls.key (0600) and ca.crt "
     "are written for the database to use.",
     text(&Config::tls_out_dir)},
    {"ESK8S_TLS_KEY_TYPE", "ecdsa-p256 | rsa-2048 | rsa-3072 | ed25519", "ecdsa-p256",
     "Key type of issued certificates.",
     checked(&Config::tls_key_type, is_key_type)},
    {"ESK8S_TLS_VALIDITY_HOURS", "an integer 1-8760", "720 (30 days)",
     "Lifetime of issued certificates; renewed at two thirds of it.",
     number(&Config::tls_validity_hours, 1, 8760)},
    {"ESK8S_TLS_CSR_SIGNER", "a signer name domain/path (not a kubernetes.io built-in)",
     "esk8s.io/node", "kubernetes-csr mode: signerName of the CertificateSigningRequest.",
     parse_csr_signer},
    {"ESK8S_TLS_CSR_TIMEOUT_SECONDS", "an integer 1-86400", "300",
     "kubernetes-csr mode: how long to wait for approval and signing.",
     number(&Config::tls_csr_timeout_seconds, 1, 86400)},
    {"ESK8S_TLS_LOCALHOST", "true | false", "false",
     "Add localhost, 127.0.0.1 and ::1 to the certificate (for local probes).",
     flag(&Config::tls_localhost, "true", "false")},
    {"ESK8S_CLIENT_SERVICES", "a comma-separated list of DNS-1123 labels", "none",
     "Client-facing Services whose names go into the certificate.",
     list(&Config::client_services, service_name_problem)},
    {"ESK8S_ALLOWED_PEERS", "comma-separated DNS names; '*' matches one label",
     "*.<service>.<namespace>.svc.<domain> for the own and every peer namespace",
     "Identities allowed to join this cluster over gossip.",
     list(&Config::allowed_peers, allow_pattern_problem)},
  };
}

// Readiness, disruptions, Events, timing and fault injection.
std::vector<KeySpec> operation_keys() {
  return {
    {"ESK8S_READY_MODE", "auto | quorum | bootstrap-latch", "auto",
     "Semantics of /health/ready (auto: bootstrap-latch under OrderedReady, quorum under "
     "Parallel).",
     one_of(&Config::ready_mode, {ReadyMode::kAuto, ReadyMode::kQuorum, ReadyMode::kBootstrapLatch})},
    {"ESK8S_DISRUPTION_LEASE", "off | NAMESPACE/NAME (a DNS-1123 label / subdomain)", "off",
     "The cluster-wide disruption guard: a coordination.k8s.io Lease every member must hold "
     "before /health/disruptable answers 200, so that disruptions happen one at a time "
     "across namespaces (RBAC: rbac/disruption-lease.yaml).",
     parse_disruption_lease},
    {"ESK8S_DISRUPTION_LEASE_SECONDS", "an integer 10-3600", "120",
     "How long a disruption holds the guard at most: the member's next process frees it once "
     "it sees a quorum again; a member that never comes back frees it by expiry.",
     number(&Config::disruption_lease_seconds, 10, 3600)},
    {"ESK8S_EVENTS", "on | off", "on",
     "Kubernetes discovery: write events.k8s.io/v1 Events about what this member saw (a member "
     "died or left, quorum lost and regained, superseded, RBAC missing, certificate renewal, "
     "discovery stale) on its own Pod, aggregated and rate-limited (RBAC: rbac/role.yaml).",
     flag(&Config::events, "on", "off")},
    {"ESK8S_PRESET", "lan | local | wan", "lan", "Timing preset (probe intervals, deadlines).",
     one_of(&Config::preset, {Preset::kLan, Preset::kLocal, Preset::kWan})},
    {"ESK8S_FAULT_FILE", "path", "none",
     "Testing only: while this file holds the word isolate, gossip traffic is dropped both "
     "ways (a simulated partition).",
     text(&Config::fault_file)},
  };
}

}  // namespace

const std::vector<KeySpec>& config_keys() {
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> all;
    for (auto group : {cluster_keys, discovery_keys, listener_keys, tls_keys, operation_keys}) {
      for (KeySpec& k : group()) all.push_back(std::move(k));
    }
    return all;
  }();
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
  void bad_value(const KeySpec& spec, std::string_view value, std::string_view why) {
    // A sentence that already names the key and the value (parse_static_peers) is kept as is.
    if (why.starts_with(std::string(spec.key) + "=")) return error(std::string(why));
    std::string msg = std::string(spec.key) + "=\"" + shown(value) + "\" is invalid";
    // `why` may quote part of the value.
    if (!why.empty()) msg += " (" + escape_untrusted(why, 2 * kMaxEchoedValueBytes) + ")";
    msg += "; accepted: " + std::string(spec.accepted);
    errors.push_back(std::move(msg));
  }
  void error(std::string msg) { errors.push_back(std::move(msg)); }
  std::vector<std::string> errors;
};

using Values = std::map<std::string, std::string, std::less<>>;

// The non-empty values by key (an empty value means "unset": ConfigMaps often carry empty
// optional keys). Unknown keys are problems from the host and warnings from the environment.
Values known_values(const ConfigInput& input, Problems& problems,
                    std::vector<std::string>& warnings) {
  Values values;
  for (const auto& [key, value] : input.entries) {
    if (!find_key(key)) {
      if (input.origin == ConfigOrigin::kEnvironment) {
        warnings.push_back("environment variable " + shown(key) +
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
    if (!value.empty()) values[key] = value;
  }
  return values;
}

// Defaults and checks that involve more than one key, after every key's parser ran.
struct Resolution {
  const Values& values;
  const HostFacts& facts;
  Config& c;
  Problems& problems;
  std::vector<std::string>& warnings;

  bool set(std::string_view key) const { return values.contains(key); }
};

// The identity's parts and the cluster name.
void resolve_names(Resolution& r) {
  Config& c = r.c;
  if (!r.set("ESK8S_SERVICE_ACCOUNT_DIR")) c.service_account_dir = kDefaultServiceAccountDir;
  if (!r.set("ESK8S_SERVICE")) {
    r.problems.error(
        "ESK8S_SERVICE is not set; set it to the name of the headless Service that selects the "
        "database pods (e.g. ESK8S_SERVICE=esdb)");
  }
  if (r.set("ESK8S_POD_NAME")) {
  } else if (r.facts.hostname && is_dns1123_label(*r.facts.hostname)) {
    c.pod_name = *r.facts.hostname;
  } else {
    r.problems.error("ESK8S_POD_NAME is not set and the host name \"" +
                     shown(r.facts.hostname.value_or("")) +
                     "\" is not a DNS-1123 label; set ESK8S_POD_NAME from the downward API "
                     "(fieldRef: metadata.name)");
  }
  if (!r.set("ESK8S_NAMESPACE")) {
    const std::string path = c.service_account_dir + "/namespace";
    auto ns = read_first_line(path);
    if (ns && is_dns1123_label(*ns)) {
      c.namespace_name = *ns;
    } else {
      r.problems.error(
          "ESK8S_NAMESPACE is not set and " + path +
          (ns ? " does not hold a namespace name" : " cannot be read") +
          "; set ESK8S_NAMESPACE from the downward API (fieldRef: metadata.namespace)");
    }
  }
  std::erase(c.peer_namespaces, c.namespace_name);
  if (!r.set("ESK8S_CLUSTER_DOMAIN")) {
    std::string detected;
    if (auto text = read_regular_file(r.facts.resolv_conf_path, kMaxSmallFileBytes)) {
      detected = detect_cluster_domain(text.value());
    }
    c.cluster_domain = detected.empty() ? "cluster.local" : detected;
    c.cluster_domain_source = detected.empty() ? "default" : r.facts.resolv_conf_path;
  }
  if (!c.pod_name.empty() && !c.service.empty() && !c.namespace_name.empty() &&
      !c.cluster_domain.empty() && !is_dns1123_subdomain(c.identity())) {
    r.problems.error("the identity \"" + c.identity() +
                     "\" (ESK8S_POD_NAME.ESK8S_SERVICE.ESK8S_NAMESPACE.svc.ESK8S_CLUSTER_DOMAIN) "
                     "is longer than 253 characters; shorten the names");
  }
  if (!r.set("ESK8S_CLUSTER_NAME") && !c.service.empty() && !c.namespace_name.empty()) {
    c.cluster_name = c.service + "." + c.namespace_name;
  }
}

// Distinct ports, HTTPS following a free-port HTTP, and where peers reach this node.
void resolve_listeners(Resolution& r) {
  Config& c = r.c;
  if (c.http_port != 0 && c.http_port == c.gossip_port) {
    r.problems.error("ESK8S_HTTP_PORT and ESK8S_GOSSIP_PORT are both " +
                     std::to_string(c.http_port) + "; they need different ports");
  }
  // Tests: every listener on a free port.
  if (c.http_port == 0 && !r.set("ESK8S_HTTPS_PORT")) c.https_port = 0;
  if (c.https_port && *c.https_port != 0) {
    for (auto [key, p] : {std::pair<const char*, uint16_t>{"ESK8S_HTTP_PORT", c.http_port},
                          {"ESK8S_GOSSIP_PORT", c.gossip_port}}) {
      if (p == *c.https_port) {
        r.problems.error(std::string("ESK8S_HTTPS_PORT and ") + key + " are both " +
                         std::to_string(p) + "; they need different ports");
      }
    }
  }
  if (r.set("ESK8S_ADVERTISE_ADDRESS")) return;
  if (c.bind_address != "0.0.0.0" && c.bind_address != "::") {
    c.advertise_address = c.bind_address;
  } else if (!c.pod_name.empty() && !c.service.empty() && !c.namespace_name.empty()) {
    c.advertise_address = c.identity();
    if (c.discovery == DiscoveryMode::kKubernetes) {
      r.warnings.push_back(
          "ESK8S_ADVERTISE_ADDRESS is not set and ESK8S_BIND_ADDRESS is a wildcard: peers will "
          "reach this node by resolving its identity " +
          c.identity() +
          " through cluster DNS; set ESK8S_ADVERTISE_ADDRESS from the downward API "
          "(fieldRef: status.podIP) so gossip does not depend on DNS");
    }
  }
}

// The discovery mode's keys, the static peers, and the sizes derived from them.
void resolve_discovery(Resolution& r) {
  Config& c = r.c;
  const std::string mode(to_string(c.discovery));
  if (c.discovery != DiscoveryMode::kKubernetes && (!c.kube_api.empty() || !c.kubeconfig.empty())) {
    r.warnings.push_back("ESK8S_KUBE_API/ESK8S_KUBECONFIG are set but ESK8S_DISCOVERY=" + mode +
                         " does not use them");
  }
  if (c.discovery == DiscoveryMode::kStatic && !r.set("ESK8S_STATIC_PEERS")) {
    r.problems.error(
        "ESK8S_DISCOVERY=static needs ESK8S_STATIC_PEERS, e.g. "
        "ESK8S_STATIC_PEERS=esdb-0.esdb.prod.svc.cluster.local=10.0.0.5:2114,...");
  } else if (c.discovery != DiscoveryMode::kStatic && r.set("ESK8S_STATIC_PEERS")) {
    r.problems.error("ESK8S_STATIC_PEERS is set but ESK8S_DISCOVERY=" + mode +
                     "; set ESK8S_DISCOVERY=static or remove ESK8S_STATIC_PEERS");
  }
  const std::string self = c.identity();
  std::erase_if(c.static_peers, [&](const discovery::Peer& p) { return p.identity == self; });
  for (auto& p : c.static_peers) {
    if (p.gossip_port == 0) p.gossip_port = c.gossip_port;
  }
  if (r.set("ESK8S_CLUSTER_SIZE")) {
    if (c.cluster_size && *c.cluster_size % 2 == 0) {
      r.warnings.push_back("ESK8S_CLUSTER_SIZE=" + r.values.at("ESK8S_CLUSTER_SIZE") +
                           " is even: it tolerates as many failures as " +
                           std::to_string(*c.cluster_size - 1) +
                           " members would; prefer an odd size");
    }
  } else if (c.discovery == DiscoveryMode::kStatic) {
    c.cluster_size = static_cast<uint32_t>(c.static_peers.size() + 1);
  }
  if (c.max_members && c.cluster_size && *c.max_members < *c.cluster_size) {
    r.problems.error("ESK8S_MAX_MEMBERS=" + std::to_string(*c.max_members) +
                     " is below ESK8S_CLUSTER_SIZE=" + std::to_string(*c.cluster_size) +
                     ": the cluster's own members would be refused; unset it or raise it to at "
                     "least " + std::to_string(2 * *c.cluster_size + 16));
  }
}

}  // namespace

Result<ParsedConfig> parse_config(const ConfigInput& input, const HostFacts& facts) {
  ParsedConfig parsed;
  Problems problems;
  const Values values = known_values(input, problems, parsed.warnings);
  for (const KeySpec& spec : config_keys()) {
    const auto it = values.find(spec.key);
    if (it == values.end()) continue;
    std::vector<std::string> bad;
    spec.parse(it->second, parsed.config, bad);
    for (const auto& why : bad) problems.bad_value(spec, it->second, why);
  }
  Resolution r{values, facts, parsed.config, problems, parsed.warnings};
  resolve_names(r);
  resolve_listeners(r);
  resolve_discovery(r);

  if (!problems.errors.empty()) {
    std::string msg = "invalid esk8s configuration (" + std::to_string(problems.errors.size()) +
                      (problems.errors.size() == 1 ? " problem):" : " problems):");
    for (const auto& e : problems.errors) msg += "\n  - " + e;
    return Status::config(std::move(msg));
  }
  return parsed;
}

}  // namespace esk8s::plugin
