#include <doctest/doctest.h>

#include <functional>
#include <optional>
#include <set>
#include <tuple>

#include "plugin/config.h"
#include "test_util.h"

using namespace esk8s::plugin;
using esk8s::test::TempDir;

namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

// A valid static-mode configuration; tests change one key at a time.
Entries base() {
  return {
      {"ESK8S_SERVICE", "esdb"},
      {"ESK8S_NAMESPACE", "prod"},
      {"ESK8S_POD_NAME", "esdb-0"},
      {"ESK8S_CLUSTER_DOMAIN", "cluster.local"},
      {"ESK8S_DISCOVERY", "static"},
      {"ESK8S_STATIC_PEERS",
       "esdb-0.esdb.prod.svc.cluster.local=10.0.0.1,esdb-1.esdb.prod.svc.cluster.local=10.0.0.2,"
       "esdb-2.esdb.prod.svc.cluster.local=10.0.0.3"}};
}

Entries with(Entries e, const std::string& key, const std::string& value) {
  for (auto& [k, v] : e) {
    if (k == key) {
      v = value;
      return e;
    }
  }
  e.emplace_back(key, value);
  return e;
}

Entries without(Entries e, const std::string& key) {
  std::erase_if(e, [&](const auto& kv) { return kv.first == key; });
  return e;
}

HostFacts no_facts() {
  HostFacts f;
  f.hostname = std::nullopt;
  f.resolv_conf_path = "/nonexistent/resolv.conf";
  return f;
}

esk8s::Result<ParsedConfig> parse(const Entries& e, ConfigOrigin origin = ConfigOrigin::kHost,
                                  const HostFacts& facts = no_facts()) {
  return parse_config(ConfigInput{e, origin}, facts);
}

// The error message of a configuration that must fail.
std::string error_of(const Entries& e, const HostFacts& facts = no_facts()) {
  auto r = parse(e, ConfigOrigin::kHost, facts);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == esk8s::Status::Code::kConfig);
  return r.status().message();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("config: a valid static configuration yields identity, defaults and cluster size") {
  auto r = parse(base());
  REQUIRE(r.is_ok());
  const Config& c = r->config;
  CHECK(c.identity() == "esdb-0.esdb.prod.svc.cluster.local");
  CHECK(c.cluster_name == "esdb.prod");
  CHECK(c.gossip_port == kDefaultGossipPort);
  CHECK(c.http_port == kDefaultHttpPort);
  CHECK(c.bind_address == "0.0.0.0");
  CHECK(c.tls_mode == TlsMode::kLocalCa);
  CHECK(c.ready_mode == ReadyMode::kAuto);
  CHECK(c.preset == Preset::kLan);
  // The local identity is listed in the static peers and skipped; size counts it.
  REQUIRE(c.static_peers.size() == 2);
  CHECK(c.static_peers[0].identity == "esdb-1.esdb.prod.svc.cluster.local");
  CHECK(c.cluster_size == 3u);
  CHECK(r->warnings.empty());
}

TEST_CASE(
    "config: every enumeration value is accepted and a wrong one names key, value and choices") {
  for (auto [key, good, bad, choices] :
       std::vector<std::tuple<std::string, std::string, std::string, std::string>>{
           {"ESK8S_TLS_MODE", "kubernetes-csr", "vault", "local-ca | kubernetes-csr | files"},
           {"ESK8S_READY_MODE", "bootstrap-latch", "always", "auto | quorum | bootstrap-latch"},
           {"ESK8S_PRESET", "wan", "fast", "lan | local | wan"},
           {"ESK8S_EVENTS", "off", "yes", "on | off"},
           {"ESK8S_DISCOVERY", "static", "consul", "kubernetes | dns | static"}}) {
    CAPTURE(key);
    CHECK(parse(with(base(), key, good)).is_ok());
    std::string msg = error_of(with(base(), key, bad));
    CHECK(contains(msg, key + "=\"" + bad + "\""));
    CHECK(contains(msg, choices));
  }
}

TEST_CASE("config: ESK8S_SERVICE is required and must be a DNS label") {
  CHECK(contains(error_of(without(base(), "ESK8S_SERVICE")), "ESK8S_SERVICE is not set"));
  std::string msg = error_of(with(base(), "ESK8S_SERVICE", "Esdb_DB"));
  CHECK(contains(msg, "ESK8S_SERVICE=\"Esdb_DB\""));
  CHECK(contains(msg, "DNS-1123 label"));
}

TEST_CASE("config: the pod name defaults to the host name and is validated") {
  HostFacts facts = no_facts();
  facts.hostname = "esdb-2";
  auto r = parse(without(base(), "ESK8S_POD_NAME"), ConfigOrigin::kHost, facts);
  REQUIRE(r.is_ok());
  CHECK(r->config.pod_name == "esdb-2");

  facts.hostname = "My_Laptop";
  CHECK(contains(error_of(without(base(), "ESK8S_POD_NAME"), facts), "host name \"My_Laptop\""));
  CHECK(contains(error_of(without(base(), "ESK8S_POD_NAME")), "fieldRef: metadata.name"));
  CHECK(contains(error_of(with(base(), "ESK8S_POD_NAME", "-esdb")), "ESK8S_POD_NAME=\"-esdb\""));
}

TEST_CASE("config: the namespace defaults to the service-account namespace file") {
  TempDir dir;
  dir.write("namespace", "payments\n");
  auto e = with(without(base(), "ESK8S_NAMESPACE"), "ESK8S_SERVICE_ACCOUNT_DIR", dir.path());
  e = with(e, "ESK8S_STATIC_PEERS", "esdb-1.esdb.payments.svc.cluster.local=10.0.0.2");
  auto r = parse(e);
  REQUIRE(r.is_ok());
  CHECK(r->config.namespace_name == "payments");
  CHECK(r->config.identity() == "esdb-0.esdb.payments.svc.cluster.local");

  TempDir empty;
  std::string msg =
      error_of(with(without(base(), "ESK8S_NAMESPACE"), "ESK8S_SERVICE_ACCOUNT_DIR", empty.path()));
  CHECK(contains(msg, empty.path() + "/namespace cannot be read"));
  CHECK(contains(msg, "fieldRef: metadata.namespace"));

  TempDir garbage;
  garbage.write("namespace", "Not A Namespace");
  CHECK(contains(error_of(with(without(base(), "ESK8S_NAMESPACE"), "ESK8S_SERVICE_ACCOUNT_DIR",
                               garbage.path())),
                 "does not hold a namespace name"));
  CHECK(contains(error_of(with(base(), "ESK8S_NAMESPACE", "prod.eu")),
                 "ESK8S_NAMESPACE=\"prod.eu\""));
}

TEST_CASE("config: peer namespaces are validated, deduplicated and exclude the own namespace") {
  auto r = parse(with(base(), "ESK8S_PEER_NAMESPACES", "prod, eu-west ,eu-west,us-east,"));
  REQUIRE(r.is_ok());
  CHECK(r->config.peer_namespaces == std::vector<std::string>{"eu-west", "us-east"});
  std::string msg = error_of(with(base(), "ESK8S_PEER_NAMESPACES", "eu-west,EU_EAST"));
  CHECK(contains(msg, "\"EU_EAST\" is not a namespace name"));
}

TEST_CASE("config: the cluster domain comes from the key, then resolv.conf, then cluster.local") {
  auto r = parse(with(base(), "ESK8S_CLUSTER_DOMAIN", "corp.example."));
  REQUIRE(r.is_ok());
  CHECK(r->config.cluster_domain == "corp.example");
  CHECK(r->config.cluster_domain_source == "ESK8S_CLUSTER_DOMAIN");

  TempDir dir;
  HostFacts facts = no_facts();
  facts.resolv_conf_path = dir.write("resolv.conf",
                                     "nameserver 10.96.0.10\nsearch prod.svc.k8s.internal "
                                     "svc.k8s.internal k8s.internal\noptions ndots:5\n");
  auto e = with(without(base(), "ESK8S_CLUSTER_DOMAIN"), "ESK8S_STATIC_PEERS", "");
  e = with(e, "ESK8S_STATIC_PEERS", "esdb-1.esdb.prod.svc.k8s.internal=10.0.0.2");
  r = parse(e, ConfigOrigin::kHost, facts);
  REQUIRE(r.is_ok());
  CHECK(r->config.cluster_domain == "k8s.internal");
  CHECK(r->config.cluster_domain_source == facts.resolv_conf_path);

  r = parse(without(base(), "ESK8S_CLUSTER_DOMAIN"));
  REQUIRE(r.is_ok());
  CHECK(r->config.cluster_domain == "cluster.local");
  CHECK(r->config.cluster_domain_source == "default");

  CHECK(contains(error_of(with(base(), "ESK8S_CLUSTER_DOMAIN", "cluster..local")),
                 "ESK8S_CLUSTER_DOMAIN=\"cluster..local\""));
}

TEST_CASE("config: detect_cluster_domain reads only svc search domains") {
  CHECK(
      detect_cluster_domain("search default.svc.cluster.local svc.cluster.local cluster.local\n") ==
      "cluster.local");
  CHECK(detect_cluster_domain("search svc.a.b\n") == "a.b");
  CHECK(detect_cluster_domain("search example.com corp.local\n") == "");
  CHECK(detect_cluster_domain("nameserver 1.1.1.1\n") == "");
  CHECK(detect_cluster_domain("") == "");
}

TEST_CASE("config: an identity longer than 253 characters is refused") {
  std::string label(63, 'a');
  auto e = with(base(), "ESK8S_POD_NAME", label);
  e = with(e, "ESK8S_SERVICE", label);
  e = with(e, "ESK8S_NAMESPACE", label);
  e = with(e, "ESK8S_CLUSTER_DOMAIN", label + "." + label);
  CHECK(contains(error_of(e), "longer than 253 characters"));
}

TEST_CASE("config: the cluster name defaults to service.namespace and is validated") {
  auto r = parse(with(base(), "ESK8S_CLUSTER_NAME", "orders-prod"));
  REQUIRE(r.is_ok());
  CHECK(r->config.cluster_name == "orders-prod");
  CHECK(contains(error_of(with(base(), "ESK8S_CLUSTER_NAME", "Orders Prod")),
                 "ESK8S_CLUSTER_NAME=\"Orders Prod\""));
}

TEST_CASE("config: ports are range-checked and must differ") {
  for (std::string bad : {"0", "65536", "abc", "-1", "+80", "21 14", "99999999999999999999999"}) {
    CAPTURE(bad);
    CHECK(contains(error_of(with(base(), "ESK8S_GOSSIP_PORT", bad)),
                   "ESK8S_GOSSIP_PORT=\"" + bad + "\""));
  }
  for (std::string bad : {"65536", "http", "-5"}) {
    CAPTURE(bad);
    std::string msg = error_of(with(base(), "ESK8S_HTTP_PORT", bad));
    CHECK(contains(msg, "ESK8S_HTTP_PORT=\"" + bad + "\""));
    CHECK(contains(msg, "0 picks a free port"));
  }
  auto r = parse(with(base(), "ESK8S_HTTP_PORT", "0"));
  REQUIRE(r.is_ok());
  CHECK(r->config.http_port == 0);
  auto same = with(with(base(), "ESK8S_HTTP_PORT", "7000"), "ESK8S_GOSSIP_PORT", "7000");
  CHECK(contains(error_of(same), "both 7000"));
}

TEST_CASE("config: ESK8S_HTTPS_PORT defaults to 2116, follows ESK8S_HTTP_PORT=0 and can be off") {
  auto r = parse(base());
  REQUIRE(r.is_ok());
  CHECK(r->config.https_port == std::optional<uint16_t>(2116));
  r = parse(with(base(), "ESK8S_HTTP_PORT", "0"));
  REQUIRE(r.is_ok());
  CHECK(r->config.https_port == std::optional<uint16_t>(0));
  r = parse(with(base(), "ESK8S_HTTPS_PORT", "off"));
  REQUIRE(r.is_ok());
  CHECK_FALSE(r->config.https_port.has_value());
  r = parse(with(with(base(), "ESK8S_HTTP_PORT", "0"), "ESK8S_HTTPS_PORT", "8443"));
  REQUIRE(r.is_ok());
  CHECK(r->config.https_port == std::optional<uint16_t>(8443));
  for (std::string bad : {"65536", "https", "-1", "on"}) {
    CAPTURE(bad);
    CHECK(contains(error_of(with(base(), "ESK8S_HTTPS_PORT", bad)),
                   "ESK8S_HTTPS_PORT=\"" + bad + "\""));
  }
}

TEST_CASE("config: ESK8S_HTTPS_PORT must differ from the HTTP and gossip ports") {
  CHECK(contains(error_of(with(base(), "ESK8S_HTTPS_PORT", "2115")),
                 "ESK8S_HTTPS_PORT and ESK8S_HTTP_PORT are both 2115"));
  CHECK(contains(error_of(with(base(), "ESK8S_HTTPS_PORT", "2114")),
                 "ESK8S_HTTPS_PORT and ESK8S_GOSSIP_PORT are both 2114"));
}

TEST_CASE("config: the bind address must be an IP literal") {
  CHECK(parse(with(base(), "ESK8S_BIND_ADDRESS", "::")).is_ok());
  CHECK(parse(with(base(), "ESK8S_BIND_ADDRESS", "127.0.3.4")).is_ok());
  std::string msg = error_of(with(base(), "ESK8S_BIND_ADDRESS", "localhost"));
  CHECK(contains(msg, "ESK8S_BIND_ADDRESS=\"localhost\""));
  CHECK(contains(msg, "host names are not accepted"));
}

TEST_CASE("config: the API server URL must be https") {
  auto k8s = with(without(base(), "ESK8S_STATIC_PEERS"), "ESK8S_DISCOVERY", "kubernetes");
  auto r = parse(with(k8s, "ESK8S_KUBE_API", "https://[fd00::1]:6443"));
  REQUIRE(r.is_ok());
  CHECK(r->config.kube_api == "https://[fd00::1]:6443");
  CHECK(contains(error_of(with(k8s, "ESK8S_KUBE_API", "http://10.0.0.1:6443")),
                 "always spoken to over verified HTTPS"));
  // Set but unused in static mode: a warning, not an error.
  r = parse(with(base(), "ESK8S_KUBE_API", "https://10.0.0.1"));
  REQUIRE(r.is_ok());
  REQUIRE(r->warnings.size() == 1);
  CHECK(contains(r->warnings[0], "does not use them"));
}

TEST_CASE("config: static discovery needs ESK8S_STATIC_PEERS and other modes refuse it") {
  CHECK(contains(error_of(without(base(), "ESK8S_STATIC_PEERS")),
                 "ESK8S_DISCOVERY=static needs ESK8S_STATIC_PEERS"));
  CHECK(contains(error_of(with(base(), "ESK8S_DISCOVERY", "dns")),
                 "ESK8S_STATIC_PEERS is set but ESK8S_DISCOVERY=dns"));
  CHECK(contains(error_of(with(base(), "ESK8S_STATIC_PEERS", "esdb-1=10.0.0.1:99999")),
                 "port that is not 1-65535"));
  // Kubernetes mode leaves the size to the StatefulSet.
  auto r = parse(with(without(base(), "ESK8S_STATIC_PEERS"), "ESK8S_DISCOVERY", "kubernetes"));
  REQUIRE(r.is_ok());
  CHECK_FALSE(r->config.cluster_size.has_value());
}

TEST_CASE("config: a static peer list without any entry is refused naming the key and format") {
  for (const char* peers : {",", " , ", ",,,"}) {
    CAPTURE(peers);
    std::string msg = error_of(with(base(), "ESK8S_STATIC_PEERS", peers));
    CHECK(contains(msg, "ESK8S_STATIC_PEERS=\""));
    CHECK(contains(msg, "lists no peer"));
    CHECK(contains(msg, "identity=address[:port]"));
  }
}

TEST_CASE("config: echoed values are escaped and cut so an error cannot forge log lines") {
  const std::string forged = "esdb\n2030-01-01T00:00:00.000Z info runtime: ready\x1b[2J\xff";
  for (const char* key : {"ESK8S_SERVICE", "ESK8S_POD_NAME", "ESK8S_NAMESPACE",
                          "ESK8S_CLUSTER_DOMAIN", "ESK8S_CLUSTER_NAME", "ESK8S_TLS_MODE",
                          "ESK8S_PEER_NAMESPACES", "ESK8S_CLIENT_SERVICES", "ESK8S_ALLOWED_PEERS"}) {
    CAPTURE(key);
    std::string msg = error_of(with(base(), key, forged));
    CHECK(contains(msg, std::string(key) + "=\"esdb\\n2030-01-01T00:00:00.000Z info runtime: "
                                           "ready\\x1b[2J\\xff\""));
    // The only newlines are the ones between problems, each followed by the list indent.
    for (size_t nl = msg.find('\n'); nl != std::string::npos; nl = msg.find('\n', nl + 1)) {
      CHECK(msg.compare(nl, 5, "\n  - ") == 0);
    }
    CHECK(msg.find('\x1b') == std::string::npos);
    CHECK(msg.find('\xff') == std::string::npos);
  }
  std::string huge(100000, 'a');
  std::string msg = error_of(with(base(), "ESK8S_TLS_MODE", huge));
  CHECK(msg.size() < 1000);
  CHECK(contains(msg, "more bytes)"));
  // Keys and a repeated key's values are echoed the same way.
  auto twice = base();
  twice.emplace_back("ESK8S_SERVICE", "a\rb");
  CHECK(contains(error_of(twice), "(\"esdb\" and \"a\\rb\")"));
  CHECK(contains(error_of(with(base(), "ESK8S_BOGUS\nKEY", "x")), "\"ESK8S_BOGUS\\nKEY\""));
}

TEST_CASE("config: identity-forming keys must be lower-case DNS names") {
  for (const char* key : {"ESK8S_SERVICE", "ESK8S_POD_NAME", "ESK8S_NAMESPACE"}) {
    CAPTURE(key);
    for (const char* bad : {"Esdb", "es db", "esdb.x", "esdb/", "-esdb", "esdb\xc3\xa9"}) {
      CAPTURE(bad);
      CHECK(contains(error_of(with(base(), key, bad)), std::string(key) + "=\""));
    }
  }
  for (const char* key : {"ESK8S_CLUSTER_DOMAIN", "ESK8S_CLUSTER_NAME"}) {
    CAPTURE(key);
    for (const char* bad : {"Cluster.Local", "cluster..local", "cluster local", "a_b.local"}) {
      CAPTURE(bad);
      CHECK(contains(error_of(with(base(), key, bad)), std::string(key) + "=\""));
    }
  }
}

TEST_CASE("config: the cluster size is 1-10000 and an even size is a warning") {
  for (std::string bad : {"0", "10001", "3x", "three"}) {
    CAPTURE(bad);
    CHECK(contains(error_of(with(base(), "ESK8S_CLUSTER_SIZE", bad)),
                   "ESK8S_CLUSTER_SIZE=\"" + bad + "\""));
  }
  auto r = parse(with(base(), "ESK8S_CLUSTER_SIZE", "5"));
  REQUIRE(r.is_ok());
  CHECK(r->config.cluster_size == 5u);
  CHECK(r->warnings.empty());
  r = parse(with(base(), "ESK8S_CLUSTER_SIZE", "4"));
  REQUIRE(r.is_ok());
  REQUIRE(r->warnings.size() == 1);
  CHECK(contains(r->warnings[0], "ESK8S_CLUSTER_SIZE=4 is even"));
}

TEST_CASE("config: unknown keys are errors from the host and warnings from the environment") {
  auto e = with(base(), "ESK8S_SERVCE", "esdb");
  CHECK(contains(error_of(e), "unknown configuration key \"ESK8S_SERVCE\""));
  auto r = parse(with(e, "ESK8S_PORT_2113_TCP", "tcp://10.0.0.1:2113"), ConfigOrigin::kEnvironment);
  REQUIRE(r.is_ok());
  REQUIRE(r->warnings.size() == 2);
  CHECK(contains(r->warnings[0], "ESK8S_SERVCE"));
  CHECK(contains(r->warnings[1], "ESK8S_PORT_2113_TCP"));
}

TEST_CASE("config: a key given twice is an error naming both values") {
  auto e = base();
  e.emplace_back("ESK8S_SERVICE", "other");
  CHECK(contains(error_of(e), "ESK8S_SERVICE is given twice (\"esdb\" and \"other\")"));
}

TEST_CASE("config: an empty value means unset") {
  auto r = parse(with(base(), "ESK8S_PEER_NAMESPACES", ""));
  REQUIRE(r.is_ok());
  CHECK(r->config.peer_namespaces.empty());
  CHECK(contains(error_of(with(base(), "ESK8S_SERVICE", "")), "ESK8S_SERVICE is not set"));
}

TEST_CASE("config: every problem is reported at once") {
  auto e = with(with(base(), "ESK8S_HTTP_PORT", "x"), "ESK8S_PRESET", "y");
  e = with(e, "ESK8S_SERVICE", "Z");
  std::string msg = error_of(e);
  CHECK(contains(msg, "(3 problems)"));
  CHECK(contains(msg, "ESK8S_HTTP_PORT"));
  CHECK(contains(msg, "ESK8S_PRESET"));
  CHECK(contains(msg, "ESK8S_SERVICE"));
}

TEST_CASE("config: every documented key is accepted by the parser") {
  for (const auto& k : config_keys()) {
    CAPTURE(k.key);
    auto r = parse(with(base(), std::string(k.key), ""));  // empty = unset: never "unknown key"
    if (!r.is_ok()) CHECK_FALSE(contains(r.status().message(), "unknown configuration key"));
  }
}

TEST_CASE("config: TLS keys are parsed and each bad value is named with what is accepted") {
  auto ok = parse(with(
      with(with(with(base(), "ESK8S_TLS_KEY_TYPE", "ed25519"), "ESK8S_TLS_VALIDITY_HOURS", "48"),
           "ESK8S_CLIENT_SERVICES", "esdb-client, esdb-admin"),
      "ESK8S_ALLOWED_PEERS", "*.esdb.prod.svc.cluster.local,*.esdb.dr.svc.cluster.local"));
  REQUIRE(ok.is_ok());
  CHECK(ok->config.tls_key_type == "ed25519");
  CHECK(ok->config.tls_validity_hours == 48);
  CHECK(ok->config.client_services == std::vector<std::string>{"esdb-client", "esdb-admin"});
  CHECK(ok->config.allowed_peers.size() == 2);
  CHECK(ok->config.tls_csr_signer == "esk8s.io/node");

  std::string m = error_of(
      with(with(with(with(base(), "ESK8S_TLS_KEY_TYPE", "dsa"), "ESK8S_TLS_VALIDITY_HOURS", "0"),
                "ESK8S_TLS_LOCALHOST", "yes"),
           "ESK8S_ALLOWED_PEERS", "esdb_prod.svc"));
  CHECK(m.find("ESK8S_TLS_KEY_TYPE=\"dsa\" is invalid; accepted: ecdsa-p256 | rsa-2048") !=
        std::string::npos);
  CHECK(m.find("ESK8S_TLS_VALIDITY_HOURS=\"0\"") != std::string::npos);
  CHECK(m.find("ESK8S_TLS_LOCALHOST=\"yes\"") != std::string::npos);
  CHECK(m.find("ESK8S_ALLOWED_PEERS=\"esdb_prod.svc\"") != std::string::npos);
}

TEST_CASE("config: built-in Kubernetes CSR signers are refused with the reason") {
  for (const char* signer : {"kubernetes.io/kube-apiserver-client", "kubernetes.io/kubelet-serving",
                             "kubernetes.io/legacy-unknown"}) {
    std::string m = error_of(with(base(), "ESK8S_TLS_CSR_SIGNER", signer));
    CHECK(m.find(std::string("ESK8S_TLS_CSR_SIGNER=\"") + signer + "\" is invalid") !=
          std::string::npos);
    CHECK(m.find("esk8s.io/node") != std::string::npos);
  }
  CHECK(error_of(with(base(), "ESK8S_TLS_CSR_SIGNER", "nodomain")).find("domain/path") !=
        std::string::npos);
  CHECK(parse(with(base(), "ESK8S_TLS_CSR_SIGNER", "example.com/esdb")).is_ok());
}

TEST_CASE(
    "config: the advertised gossip address defaults to a specific bind address, else the "
    "identity") {
  auto specific = parse(with(base(), "ESK8S_BIND_ADDRESS", "10.1.2.3"));
  REQUIRE(specific.is_ok());
  CHECK(specific->config.advertise_address == "10.1.2.3");
  auto wildcard = parse(base());
  REQUIRE(wildcard.is_ok());
  CHECK(wildcard->config.advertise_address == "esdb-0.esdb.prod.svc.cluster.local");
  auto given = parse(with(base(), "ESK8S_ADVERTISE_ADDRESS", "10.9.9.9"));
  REQUIRE(given.is_ok());
  CHECK(given->config.advertise_address == "10.9.9.9");
  CHECK(error_of(with(base(), "ESK8S_ADVERTISE_ADDRESS", "not an address!"))
            .find("ESK8S_ADVERTISE_ADDRESS") != std::string::npos);
}

TEST_CASE("config: ESK8S_MAX_MEMBERS caps the gossip table and may not be below the cluster size") {
  auto r = parse(base());
  REQUIRE(r.is_ok());
  CHECK_FALSE(r->config.max_members.has_value());  // derived from the cluster size at runtime
  r = parse(with(base(), "ESK8S_MAX_MEMBERS", "40"));
  REQUIRE(r.is_ok());
  CHECK(r->config.max_members == 40u);
  std::string msg = error_of(with(base(), "ESK8S_MAX_MEMBERS", "2"));
  CHECK(contains(msg, "ESK8S_MAX_MEMBERS=2 is below ESK8S_CLUSTER_SIZE=3"));
  CHECK(contains(msg, "at least 22"));
  for (const char* bad : {"1", "0", "-5", "many", "100001"}) {
    CAPTURE(bad);
    CHECK(contains(error_of(with(base(), "ESK8S_MAX_MEMBERS", bad)), "ESK8S_MAX_MEMBERS"));
  }
}

TEST_CASE("config: ESK8S_DISRUPTION_LEASE names the guard's Lease as namespace/name, off by default") {
  auto r = parse(base());
  REQUIRE(r.is_ok());
  CHECK(r->config.disruption_lease_name.empty());
  CHECK(r->config.disruption_lease_seconds == 120u);
  r = parse(with(with(base(), "ESK8S_DISRUPTION_LEASE", "esdb-a/esk8s-disruption-esdb"),
                 "ESK8S_DISRUPTION_LEASE_SECONDS", "30"));
  REQUIRE(r.is_ok());
  CHECK(r->config.disruption_lease_namespace == "esdb-a");
  CHECK(r->config.disruption_lease_name == "esk8s-disruption-esdb");
  CHECK(r->config.disruption_lease_seconds == 30u);
  r = parse(with(base(), "ESK8S_DISRUPTION_LEASE", "off"));
  REQUIRE(r.is_ok());
  CHECK(r->config.disruption_lease_name.empty());
  for (const char* bad : {"esk8s-disruption", "/name", "ns/", "Bad_NS/name", "ns/name/extra"}) {
    CAPTURE(bad);
    std::string msg = error_of(with(base(), "ESK8S_DISRUPTION_LEASE", bad));
    CHECK(contains(msg, "ESK8S_DISRUPTION_LEASE="));
    CHECK(contains(msg, "NAMESPACE/NAME"));
  }
  for (const char* bad : {"9", "3601", "soon"}) {
    CAPTURE(bad);
    CHECK(contains(error_of(with(base(), "ESK8S_DISRUPTION_LEASE_SECONDS", bad)),
                   "ESK8S_DISRUPTION_LEASE_SECONDS"));
  }
}

TEST_CASE("config: every documented key has a parser that sets its field, and no other key is "
          "accepted") {
  // One valid value per key and what it must set, over a kubernetes-mode base (static mode for
  // ESK8S_STATIC_PEERS); the cases must cover config_keys() exactly, so a key added to the
  // table without a case here fails.
  using Check = std::function<bool(const Config&)>;
  const std::vector<std::tuple<std::string, std::string, Check>> cases = {
      {"ESK8S_SERVICE", "db", [](const Config& c) { return c.service == "db"; }},
      {"ESK8S_NAMESPACE", "ops", [](const Config& c) { return c.namespace_name == "ops"; }},
      {"ESK8S_PEER_NAMESPACES", "dr, prod, dr",
       [](const Config& c) { return c.peer_namespaces == std::vector<std::string>{"dr"}; }},
      {"ESK8S_POD_NAME", "esdb-7", [](const Config& c) { return c.pod_name == "esdb-7"; }},
      {"ESK8S_CLUSTER_DOMAIN", "k8s.internal.",
       [](const Config& c) {
         return c.cluster_domain == "k8s.internal" &&
                c.cluster_domain_source == "ESK8S_CLUSTER_DOMAIN";
       }},
      {"ESK8S_CLUSTER_SIZE", "5", [](const Config& c) { return c.cluster_size == 5u; }},
      {"ESK8S_MAX_MEMBERS", "64", [](const Config& c) { return c.max_members == 64u; }},
      {"ESK8S_CLUSTER_NAME", "blue.prod",
       [](const Config& c) { return c.cluster_name == "blue.prod"; }},
      {"ESK8S_DISCOVERY", "dns", [](const Config& c) { return c.discovery == DiscoveryMode::kDns; }},
      {"ESK8S_STATIC_PEERS", "esdb-1.esdb.prod.svc.cluster.local=10.0.0.9:7000",
       [](const Config& c) {
         return c.static_peers.size() == 1 && c.static_peers[0].address == "10.0.0.9" &&
                c.static_peers[0].gossip_port == 7000;
       }},
      {"ESK8S_KUBE_API", "https://10.0.0.1:6443",
       [](const Config& c) { return c.kube_api == "https://10.0.0.1:6443"; }},
      {"ESK8S_KUBECONFIG", "/k/config", [](const Config& c) { return c.kubeconfig == "/k/config"; }},
      {"ESK8S_SERVICE_ACCOUNT_DIR", "/sa",
       [](const Config& c) { return c.service_account_dir == "/sa"; }},
      {"ESK8S_GOSSIP_PORT", "3114", [](const Config& c) { return c.gossip_port == 3114; }},
      {"ESK8S_HTTP_PORT", "3115", [](const Config& c) { return c.http_port == 3115; }},
      {"ESK8S_HTTPS_PORT", "off", [](const Config& c) { return !c.https_port.has_value(); }},
      {"ESK8S_BIND_ADDRESS", "10.1.2.3",
       [](const Config& c) { return c.bind_address == "10.1.2.3"; }},
      {"ESK8S_ADVERTISE_ADDRESS", "esdb-0.example.com",
       [](const Config& c) { return c.advertise_address == "esdb-0.example.com"; }},
      {"ESK8S_TLS_MODE", "files", [](const Config& c) { return c.tls_mode == TlsMode::kFiles; }},
      {"ESK8S_TLS_CA_DIR", "/ca", [](const Config& c) { return c.tls_ca_dir == "/ca"; }},
      {"ESK8S_TLS_DIR", "/tls", [](const Config& c) { return c.tls_dir == "/tls"; }},
      {"ESK8S_TLS_OUT_DIR", "/out", [](const Config& c) { return c.tls_out_dir == "/out"; }},
      {"ESK8S_TLS_KEY_TYPE", "rsa-3072",
       [](const Config& c) { return c.tls_key_type == "rsa-3072"; }},
      {"ESK8S_TLS_VALIDITY_HOURS", "24",
       [](const Config& c) { return c.tls_validity_hours == 24; }},
      {"ESK8S_TLS_CSR_SIGNER", "example.com/esdb",
       [](const Config& c) { return c.tls_csr_signer == "example.com/esdb"; }},
      {"ESK8S_TLS_CSR_TIMEOUT_SECONDS", "60",
       [](const Config& c) { return c.tls_csr_timeout_seconds == 60; }},
      {"ESK8S_TLS_LOCALHOST", "true", [](const Config& c) { return c.tls_localhost; }},
      {"ESK8S_CLIENT_SERVICES", "esdb-client",
       [](const Config& c) { return c.client_services == std::vector<std::string>{"esdb-client"}; }},
      {"ESK8S_ALLOWED_PEERS", "*.esdb.prod.svc.cluster.local",
       [](const Config& c) { return c.allowed_peers.size() == 1; }},
      {"ESK8S_READY_MODE", "quorum",
       [](const Config& c) { return c.ready_mode == ReadyMode::kQuorum; }},
      {"ESK8S_DISRUPTION_LEASE", "ops/esdb-guard",
       [](const Config& c) {
         return c.disruption_lease_namespace == "ops" && c.disruption_lease_name == "esdb-guard";
       }},
      {"ESK8S_DISRUPTION_LEASE_SECONDS", "60",
       [](const Config& c) { return c.disruption_lease_seconds == 60; }},
      {"ESK8S_EVENTS", "off", [](const Config& c) { return !c.events; }},
      {"ESK8S_PRESET", "wan", [](const Config& c) { return c.preset == Preset::kWan; }},
      {"ESK8S_FAULT_FILE", "/tmp/fault", [](const Config& c) { return c.fault_file == "/tmp/fault"; }},
  };
  std::set<std::string> documented, tested;
  for (const auto& k : config_keys()) {
    CHECK_MESSAGE(static_cast<bool>(k.parse), k.key, " has no parser");
    CHECK_MESSAGE(!k.accepted.empty(), k.key, " does not say what it accepts");
    CHECK_MESSAGE(!k.default_value.empty(), k.key, " does not name its default");
    CHECK_MESSAGE(!k.description.empty(), k.key, " has no description");
    CHECK_MESSAGE(documented.insert(std::string(k.key)).second, k.key, " is documented twice");
  }
  const Entries kube = with(without(base(), "ESK8S_STATIC_PEERS"), "ESK8S_DISCOVERY", "kubernetes");
  for (const auto& [key, value, check] : cases) {
    CAPTURE(key);
    tested.insert(key);
    const Entries start = key == "ESK8S_STATIC_PEERS" ? base() : kube;
    const auto before = parse(start);
    REQUIRE(before.is_ok());
    CHECK_FALSE(check(before->config));  // the value differs from the default
    auto r = parse(with(start, key, value));
    REQUIRE_MESSAGE(r.is_ok(), r.status().message());
    CHECK(check(r->config));
  }
  CHECK(documented == tested);
  // Anything else is refused by name (host origin).
  CHECK(contains(error_of(with(base(), "ESK8S_NOT_A_KEY", "1")),
                 "unknown configuration key \"ESK8S_NOT_A_KEY\""));
}
