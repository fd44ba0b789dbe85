// kubeconfig parsing, in-cluster configuration and API server URL parsing.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/base64.h"
#include "kube/kube_config.h"
#include "kube/kube_config_yaml.h"
#include "tests/unit/test_util.h"

using esk8s::kube::in_cluster_config;
using esk8s::kube::KubeConfig;
using esk8s::kube::load_kubeconfig;
using esk8s::kube::parse_kubeconfig;
using esk8s::kube::parse_server_url;

namespace {

// base64 of "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n"
const std::string kCaB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJjYQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";
const std::string kCaPem = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n";
// base64 of "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n"
const std::string kCertB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJjbGllbnQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";
const std::string kCertPem = "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n";
// base64 of "-----BEGIN EC PRIVATE KEY-----\nMHckey\n-----END EC PRIVATE KEY-----\n"
const std::string kKeyB64 =
    "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY2tleQotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg==";
const std::string kKeyPem =
    "-----BEGIN EC PRIVATE KEY-----\nMHckey\n-----END EC PRIVATE KEY-----\n";

KubeConfig parse_ok(const std::string& text, const std::string& context = "") {
  auto r = parse_kubeconfig(text, "/etc/kube", "/etc/kube/config", context);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return r.value();
}

std::string error_of(const std::string& text, const std::string& context = "") {
  esk8s::Result<KubeConfig> r = KubeConfig{};
  CHECK_NOTHROW(r = parse_kubeconfig(text, "/etc/kube", "/x", context));
  REQUIRE_FALSE(r.is_ok());
  return r.status().message();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A two-context kubeconfig in kubectl's layout; `user_body` is spliced in as user "kind-kind".
std::string kubectl_config(const std::string& user_body) {
  return "apiVersion: v1\n"
         "clusters:\n"
         "- cluster:\n"
         "    certificate-authority-data: " +
         kCaB64 +
         "\n"
         "    server: https://127.0.0.1:43615\n"
         "  name: kind-kind\n"
         "- cluster:\n"
         "    server: https://prod.example.com\n"
         "    certificate-authority: certs/prod-ca.crt\n"
         "  name: prod\n"
         "contexts:\n"
         "- context:\n"
         "    cluster: kind-kind\n"
         "    user: kind-kind\n"
         "  name: kind-kind\n"
         "- context:\n"
         "    cluster: prod\n"
         "    namespace: esdb\n"
         "    user: prod-admin\n"
         "  name: prod\n"
         "current-context: kind-kind\n"
         "kind: Config\n"
         "preferences: {}\n"
         "users:\n"
         "- name: kind-kind\n"
         "  user:\n" +
         user_body +
         "- name: prod-admin\n"
         "  user:\n"
         "    token: prod-token\n";
}

const std::string kCertUser = "    client-certificate-data: " + kCertB64 +
                              "\n"
                              "    client-key-data: " +
                              kKeyB64 + "\n";

}  // namespace

TEST_CASE("kubeconfig: kubectl layout with inline CA and client certificate") {
  KubeConfig c = parse_ok(kubectl_config(kCertUser));
  CHECK(c.server == "https://127.0.0.1:43615");
  CHECK(c.ca_pem == kCaPem);
  CHECK(c.ca_file.empty());
  CHECK(c.client_cert_pem == kCertPem);
  CHECK(c.client_key_pem == kKeyPem);
  CHECK(c.client_cert_file.empty());
  CHECK(c.token.empty());
  CHECK(c.token_file.empty());
  CHECK(c.namespace_name.empty());
  CHECK_FALSE(c.insecure_skip_tls_verify);
  CHECK(c.source == "kubeconfig /etc/kube/config (context kind-kind)");
}

TEST_CASE("kubeconfig: context override picks another cluster, user and namespace") {
  KubeConfig c = parse_ok(kubectl_config(kCertUser), "prod");
  CHECK(c.server == "https://prod.example.com");
  CHECK(c.ca_file == "/etc/kube/certs/prod-ca.crt");
  CHECK(c.ca_pem.empty());
  CHECK(c.token == "prod-token");
  CHECK(c.client_cert_pem.empty());
  CHECK(c.namespace_name == "esdb");
  CHECK(c.source == "kubeconfig /etc/kube/config (context prod)");
}

TEST_CASE("kubeconfig: the file esk8s-cluster writes (client-go's clientcmd layout)") {
  // Keys sorted, the CA inline, the context named after the user (tests/cluster/pki.go).
  const std::string text =
      "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: " +
      esk8s::base64_encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n") +
      "\n    server: https://127.0.0.1:38123\n  name: esk8s-cluster\ncontexts:\n- context:\n"
      "    cluster: esk8s-cluster\n    namespace: default\n    user: admin\n  name: admin\n"
      "current-context: admin\nkind: Config\nusers:\n- name: admin\n  user:\n"
      "    token: 0123456789abcdef0123456789abcdef\n";
  KubeConfig c = parse_ok(text);
  CHECK(c.server == "https://127.0.0.1:38123");
  CHECK(c.ca_pem.find("BEGIN CERTIFICATE") != std::string::npos);
  CHECK(c.token == "0123456789abcdef0123456789abcdef");
  CHECK(c.namespace_name == "default");
  CHECK(c.source == "kubeconfig /etc/kube/config (context admin)");
}

TEST_CASE("kubeconfig: minikube layout with extensions and file paths") {
  const std::string text = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority: /home/me/.minikube/ca.crt
    extensions:
    - extension:
        last-update: Mon, 01 Jan 2024 10:00:00 UTC
        provider: minikube.sigs.k8s.io
        version: v1.32.0
      name: cluster_info
    server: https://192.168.49.2:8443
  name: minikube
contexts:
- context:
    cluster: minikube
    extensions:
    - extension:
        provider: minikube.sigs.k8s.io
      name: context_info
    namespace: default
    user: minikube
  name: minikube
current-context: minikube
kind: Config
preferences: {}
users:
- name: minikube
  user:
    client-certificate: /home/me/.minikube/profiles/minikube/client.crt
    client-key: /home/me/.minikube/profiles/minikube/client.key
)";
  KubeConfig c = parse_ok(text);
  CHECK(c.server == "https://192.168.49.2:8443");
  CHECK(c.ca_file == "/home/me/.minikube/ca.crt");
  CHECK(c.client_cert_file == "/home/me/.minikube/profiles/minikube/client.crt");
  CHECK(c.client_key_file == "/home/me/.minikube/profiles/minikube/client.key");
  CHECK(c.namespace_name == "default");
}

TEST_CASE("kubeconfig: hand-written with quotes, comments, flow mappings and a literal block") {
  const std::string text = R"(# my cluster
apiVersion: "v1"
kind: 'Config'
preferences: {}
clusters:
  - name: "lab"   # indented sequence
    cluster:
      server: "https://[fd00::10]:6443/"
      certificate-authority-data: |
        LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJjYQot
        LS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==
contexts:
  - {name: lab, context: {cluster: lab, user: "me", namespace: 'team-a'}}
users:
  - name: me
    user:
      tokenFile: ./secrets/token   # relative to the kubeconfig
current-context: lab
)";
  KubeConfig c = parse_ok(text);
  CHECK(c.server == "https://[fd00::10]:6443");  // trailing '/' dropped
  CHECK(c.ca_pem == kCaPem);
  CHECK(c.token_file == "/etc/kube/secrets/token");
  CHECK(c.token.empty());
  CHECK(c.namespace_name == "team-a");
}

TEST_CASE("kubeconfig: relative and absolute file paths") {
  const std::string text = R"(
clusters:
- name: c
  cluster:
    server: https://k8s:6443
    certificate-authority: ../pki/ca.crt
users:
- name: u
  user:
    client-certificate: client.crt
    client-key: /abs/client.key
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
)";
  auto r = parse_kubeconfig(text, "/home/me/.kube", "/home/me/.kube/config");
  REQUIRE(r.is_ok());
  CHECK(r->ca_file == "/home/me/pki/ca.crt");
  CHECK(r->client_cert_file == "/home/me/.kube/client.crt");
  CHECK(r->client_key_file == "/abs/client.key");

  // A relative base directory is made absolute against the working directory.
  auto rel = parse_kubeconfig(text, "conf", "conf/config");
  REQUIRE(rel.is_ok());
  CHECK(std::filesystem::path(rel->client_cert_file).is_absolute());
  CHECK(contains(rel->client_cert_file, "/conf/client.crt"));
}

TEST_CASE("kubeconfig: token and tokenFile together: the file wins") {
  KubeConfig c = parse_ok(kubectl_config("    token: static\n    tokenFile: /var/token\n"));
  CHECK(c.token_file == "/var/token");
  CHECK(c.token.empty());
}

TEST_CASE("kubeconfig: missing context, cluster and user are named with the alternatives") {
  CHECK(error_of(kubectl_config(kCertUser), "dev") ==
        "kubeconfig /x: context \"dev\" not found (contexts: kind-kind, prod)");

  std::string text = kubectl_config(kCertUser);
  text.replace(text.find("    cluster: prod\n"), 18, "    cluster: staging\n");
  CHECK(error_of(text, "prod") ==
        "kubeconfig /x: cluster \"staging\" (named by context \"prod\") not found (clusters: "
        "kind-kind, prod)");

  text = kubectl_config(kCertUser);
  text.replace(text.find("    user: prod-admin\n"), 21, "    user: ghost\n");
  CHECK(error_of(text, "prod") ==
        "kubeconfig /x: user \"ghost\" (named by context \"prod\") not found (users: kind-kind, "
        "prod-admin)");

  text = kubectl_config(kCertUser);
  text.replace(text.find("current-context: kind-kind\n"), 27, "");
  std::string e = error_of(text);
  CHECK(contains(e, "no current-context is set"));
  CHECK(contains(e, "(contexts: kind-kind, prod)"));

  CHECK(contains(error_of("clusters: []\ncurrent-context: a\n"),
                 "context \"a\" not found (contexts: none)"));
  CHECK(contains(error_of("contexts:\n- name: a\n  context: {user: u}\ncurrent-context: a\n"),
                 "context \"a\" names no cluster"));
  CHECK(contains(error_of("contexts:\n- name: a\n  context: {cluster: c}\ncurrent-context: a\n"),
                 "context \"a\" names no user"));
}

TEST_CASE("kubeconfig: auth-provider, basic auth and impersonation are refused, naming the user") {
  std::string e;
  e = error_of(
      kubectl_config("    auth-provider:\n      name: gcp\n      config: {cmd-path: gcloud}\n"));
  CHECK(contains(e, "kubeconfig /x: user \"kind-kind\""));
  CHECK(contains(e, "\"gcp\" auth-provider"));
  CHECK(contains(e, "esk8s supports token, tokenFile, client certificates and exec plugins"));

  e = error_of(kubectl_config("    username: admin\n    password: secret\n"));
  CHECK(contains(e, "basic authentication"));

  e = error_of(kubectl_config("    token: t\n    as: someone-else\n"));
  CHECK(contains(e, "impersonat"));

  e = error_of(kubectl_config("    {}\n"));
  CHECK(contains(e, "has no credentials"));
}

TEST_CASE("kubeconfig: certificate data must be base64 of PEM") {
  std::string text = kubectl_config(kCertUser);
  text.replace(text.find(kCaB64), kCaB64.size(), "not*base64");
  CHECK(contains(error_of(text),
                 "cluster \"kind-kind\": certificate-authority-data is not valid base64"));

  text = kubectl_config(kCertUser);
  text.replace(text.find(kCaB64), kCaB64.size(), "bm90IHBlbSBhdCBhbGw=");  // "not pem at all"
  CHECK(contains(error_of(text), "does not decode to PEM"));

  text = kubectl_config(kCertUser);
  text.replace(text.find(kCaB64), kCaB64.size(), "aGVsbG8");  // unpadded "hello": base64 ok
  CHECK(contains(error_of(text), "does not decode to PEM"));

  text = kubectl_config(kCertUser);
  text.replace(text.find(kCaB64), kCaB64.size(), "|\n      -----BEGIN CERTIFICATE-----");
  CHECK(contains(error_of(text), "contains PEM text"));

  CHECK(contains(error_of(kubectl_config("    client-certificate-data: " + kCertB64 + "\n")),
                 "has a client certificate but no client key"));
  CHECK(contains(error_of(kubectl_config("    client-key: k.pem\n")),
                 "has a client key but no client certificate"));
  CHECK(contains(error_of(kubectl_config(kCertUser + "    client-certificate: c.pem\n")),
                 "sets both client-certificate and client-certificate-data"));
}

TEST_CASE("kubeconfig: cluster problems") {
  std::string text = kubectl_config(kCertUser);
  text.replace(text.find("https://127.0.0.1:43615"), 23, "http://127.0.0.1:8080");
  std::string e = error_of(text);
  CHECK(contains(e, "kubeconfig /x: cluster \"kind-kind\": server URL \"http://127.0.0.1:8080\""));
  CHECK(contains(e, "verified TLS"));

  text = kubectl_config(kCertUser);
  text.replace(text.find("    server: https://127.0.0.1:43615\n"), 36, "");
  CHECK(contains(error_of(text), "cluster \"kind-kind\" has no server"));

  text = kubectl_config(kCertUser);
  text.replace(text.find("    server: https://127.0.0.1"), 0,
               "    certificate-authority: ca.crt\n");
  CHECK(contains(error_of(text), "sets both certificate-authority and certificate-authority-data"));

  text = kubectl_config(kCertUser);
  text.replace(text.find("    server: https://127.0.0.1"), 0,
               "    insecure-skip-tls-verify: true\n");
  CHECK(contains(error_of(text), "insecure-skip-tls-verify together with a certificate authority"));

  text = kubectl_config(kCertUser);
  text.replace(text.find("    server: https://prod"), 0, "    insecure-skip-tls-verify: true\n");
  text.replace(text.find("    certificate-authority: certs/prod-ca.crt\n"), 45, "");
  KubeConfig c = parse_ok(text, "prod");
  CHECK(c.insecure_skip_tls_verify);

  text = kubectl_config(kCertUser);
  text.replace(text.find("    server: https://prod"), 0, "    insecure-skip-tls-verify: yes\n");
  CHECK(contains(error_of(text, "prod"), "insecure-skip-tls-verify must be true or false"));

  text = kubectl_config(kCertUser);
  text.replace(text.find("    server: https://prod"), 0, "    proxy-url: http://proxy:3128\n");
  CHECK(contains(error_of(text, "prod"), "proxy-url is not supported"));
}

TEST_CASE("kubeconfig: malformed documents") {
  CHECK(error_of("") == "kubeconfig /x: the file is empty");
  CHECK(contains(error_of("- a\n- b\n"), "this is not a kubeconfig"));
  CHECK(contains(error_of("kind: Pod\n"), "kind is \"Pod\""));
  CHECK(contains(error_of("clusters: {}\n"), "clusters must be a list"));
  CHECK(contains(error_of("users:\n- user: {token: t}\n"), "users entry 1 has no name"));
  CHECK(contains(error_of("clusters:\n- name: a\n- name: a\n"), "defined more than once"));
  CHECK(contains(error_of("current-context: [a]\n"), "current-context must be a string"));
  // YAML syntax errors name the file, the line and the column (yaml-cpp's message).
  std::string e = error_of("apiVersion: v1\nclusters:\n- name: a\n   cluster: {}\n");
  CHECK(e == "kubeconfig /x: line 4, column 11: illegal map value (the file is not valid YAML)");
  // yaml-cpp alone would let an unclosed quote swallow the rest of the file.
  CHECK(error_of("apiVersion: v1\nclusters:\n- name: \"oops\ncurrent-context: x\n") ==
        "kubeconfig /x: line 3, column 9: this quoted string has no closing quote");
  CHECK(contains(error_of("a: 'it''s\n"), "line 1, column 4: this quoted string has no closing"));
  CHECK(error_of("a: \"q\\\"\"\nb: 'it''s'\n") == error_of("a: b\n"));  // closed: parsed
  e = error_of("clusters:\n- name: a\n  cluster: {server: https://a\n");
  CHECK(contains(e, "kubeconfig /x: line "));
  CHECK(contains(error_of("a: b\na: c\n"),
                 "kubeconfig /x: line 2, column 1: the key \"a\" appears twice"));
  CHECK(contains(error_of("a: b\n---\nc: d\n"), "line 2, column 1: a second YAML document"));
  CHECK(contains(error_of("a: *nowhere\n"), "kubeconfig /x: line 1"));
}

TEST_CASE("kubeconfig: load_kubeconfig resolves paths against the file's directory") {
  esk8s::test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/sub");
  const std::string path = dir.write("sub/config", R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.crt
users:
- name: u
  user:
    tokenFile: token
contexts:
- name: x
  context:
    cluster: c
    user: u
current-context: x
)");
  auto r = load_kubeconfig(path);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  CHECK(r->ca_file == dir.path() + "/sub/ca.crt");
  CHECK(r->token_file == dir.path() + "/sub/token");
  CHECK(r->source == "kubeconfig " + path + " (context x)");

  auto missing = load_kubeconfig(dir.path() + "/nope");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == esk8s::Status::Code::kIo);
  CHECK(contains(missing.status().message(), dir.path() + "/nope"));

  auto other = load_kubeconfig(path, "y");
  REQUIRE_FALSE(other.is_ok());
  CHECK(other.status().message() ==
        "kubeconfig " + path + ": context \"y\" not found (contexts: x)");
}

TEST_CASE("in-cluster: IPv4 and IPv6 service hosts, token file, CA file and namespace") {
  esk8s::test::TempDir sa;
  sa.write("token", "eyJhbGciOi.token\n");
  sa.write("ca.crt", kCaPem);
  sa.write("namespace", "esdb-prod\n");

  auto r = in_cluster_config("10.96.0.1", "443", sa.path());
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  CHECK(r->server == "https://10.96.0.1:443");
  CHECK(r->token_file == sa.path() + "/token");
  CHECK(r->token.empty());
  CHECK(r->ca_file == sa.path() + "/ca.crt");
  CHECK(r->ca_pem.empty());
  CHECK(r->namespace_name == "esdb-prod");
  CHECK(r->source == "in-cluster (" + sa.path() + ")");

  auto v6 = in_cluster_config("fd00:10:96::1", "6443", sa.path() + "/");
  REQUIRE(v6.is_ok());
  CHECK(v6->server == "https://[fd00:10:96::1]:6443");
  CHECK(v6->token_file == sa.path() + "/token");
  auto addr = parse_server_url(v6->server);
  REQUIRE(addr.is_ok());
  CHECK(addr->host == "fd00:10:96::1");
  CHECK(addr->port == 6443);

  auto bracketed = in_cluster_config("[::1]", "443", sa.path());
  REQUIRE(bracketed.is_ok());
  CHECK(bracketed->server == "https://[::1]:443");
}

TEST_CASE("in-cluster: missing variables and files are named") {
  esk8s::test::TempDir sa;
  auto e = in_cluster_config("", "443", sa.path());
  REQUIRE_FALSE(e.is_ok());
  CHECK(contains(e.status().message(), "KUBERNETES_SERVICE_HOST is not set"));

  e = in_cluster_config("10.96.0.1", "", sa.path());
  REQUIRE_FALSE(e.is_ok());
  CHECK(contains(e.status().message(), "KUBERNETES_SERVICE_PORT is not set"));

  e = in_cluster_config("10.96.0.1", "https", sa.path());
  REQUIRE_FALSE(e.is_ok());
  CHECK(contains(e.status().message(), "KUBERNETES_SERVICE_PORT \"https\" is not a port number"));

  e = in_cluster_config("fd00::zz", "443", sa.path());
  REQUIRE_FALSE(e.is_ok());
  CHECK(contains(e.status().message(), "not a valid IPv6 address"));

  e = in_cluster_config("10.96.0.1", "443", sa.path());
  REQUIRE_FALSE(e.is_ok());
  CHECK(contains(e.status().message(), sa.path() + "/token"));
  CHECK(contains(e.status().message(), "automountServiceAccountToken"));

  sa.write("token", "  \n");
  e = in_cluster_config("10.96.0.1", "443", sa.path());
  REQUIRE_FALSE(e.is_ok());
  CHECK(contains(e.status().message(), "is empty"));

  sa.write("token", "tok");
  e = in_cluster_config("10.96.0.1", "443", sa.path());
  REQUIRE_FALSE(e.is_ok());
  CHECK(contains(e.status().message(), sa.path() + "/ca.crt"));
  CHECK(contains(e.status().message(), "automountServiceAccountToken"));

  // Without a namespace file the namespace is simply unknown.
  sa.write("ca.crt", kCaPem);
  auto ok = in_cluster_config("10.96.0.1", "443", sa.path());
  REQUIRE(ok.is_ok());
  CHECK(ok->namespace_name.empty());
}

TEST_CASE("server URL: hosts, ports, paths") {
  auto a = parse_server_url("https://example.com");
  REQUIRE(a.is_ok());
  CHECK(a->host == "example.com");
  CHECK(a->port == 443);
  CHECK(a->base_path.empty());

  a = parse_server_url("https://10.0.0.1:6443/");
  REQUIRE(a.is_ok());
  CHECK(a->host == "10.0.0.1");
  CHECK(a->port == 6443);
  CHECK(a->base_path.empty());

  a = parse_server_url("https://[::1]:6443");
  REQUIRE(a.is_ok());
  CHECK(a->host == "::1");
  CHECK(a->port == 6443);

  a = parse_server_url("HTTPS://[fd00::1]");
  REQUIRE(a.is_ok());
  CHECK(a->host == "fd00::1");
  CHECK(a->port == 443);

  a = parse_server_url("https://rancher.example.com/k8s/clusters/c-abc12/");
  REQUIRE(a.is_ok());
  CHECK(a->base_path == "/k8s/clusters/c-abc12");
}

TEST_CASE("server URL: http is refused with a sentence, junk is refused") {
  auto r = parse_server_url("http://127.0.0.1:8080");
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message() ==
        "server URL \"http://127.0.0.1:8080\" uses plain http. esk8s only talks to the "
        "Kubernetes API server over verified TLS; use the server's https:// address.");

  auto error_of_url = [](const std::string& url) {
    auto res = parse_server_url(url);
    REQUIRE_FALSE(res.is_ok());
    return res.status().message();
  };
  CHECK(contains(error_of_url(""), "empty"));
  CHECK(contains(error_of_url("example.com:6443"), "has no scheme"));
  CHECK(contains(error_of_url("ftp://example.com"), "scheme \"ftp\""));
  CHECK(contains(error_of_url("https://"), "has no host"));
  CHECK(contains(error_of_url("https://:6443"), "has no host"));
  CHECK(contains(error_of_url("https://::1:6443"), "without brackets"));
  CHECK(contains(error_of_url("https://[::1"), "unterminated IPv6"));
  CHECK(contains(error_of_url("https://[not-v6]:443"), "invalid IPv6"));
  CHECK(contains(error_of_url("https://[::1]6443"), "unexpected text"));
  CHECK(contains(error_of_url("https://host:0"), "invalid port \"0\""));
  CHECK(contains(error_of_url("https://host:65536"), "invalid port"));
  CHECK(contains(error_of_url("https://host:"), "invalid port \"\""));
  CHECK(contains(error_of_url("https://host:64x"), "invalid port"));
  CHECK(contains(error_of_url("https://user:pw@host"), "user credentials"));
  CHECK(contains(error_of_url("https://host/?watch=1"), "query or fragment"));
  CHECK(contains(error_of_url("https://ho st"), "whitespace"));
  CHECK(contains(error_of_url("https://host%41"), "invalid host"));
}

// --- kubeconfigs as the cloud CLIs write them (yaml-cpp) ---

TEST_CASE("kubeconfig: as `aws eks update-kubeconfig` writes it (ARN names, aws eks get-token)") {
  const std::string text = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: )" + kCaB64 + R"(
    server: https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com
  name: arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod
- cluster:
    certificate-authority-data: )" + kCaB64 + R"(
    server: https://FEDCBA9876543210FEDCBA9876543210.yl4.us-east-1.eks.amazonaws.com
  name: arn:aws:eks:us-east-1:111122223333:cluster/esdb-staging
contexts:
- context:
    cluster: arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod
    user: arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod
  name: arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod
- context:
    cluster: arn:aws:eks:us-east-1:111122223333:cluster/esdb-staging
    namespace: esdb
    user: arn:aws:eks:us-east-1:111122223333:cluster/esdb-staging
  name: staging
current-context: arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod
kind: Config
preferences: {}
users:
- name: arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - eu-west-1
      - eks
      - get-token
      - --cluster-name
      - esdb-prod
      - --output
      - json
      command: aws
      env:
      - name: AWS_PROFILE
        value: prod-admin
- name: arn:aws:eks:us-east-1:111122223333:cluster/esdb-staging
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      args: [--region, us-east-1, eks, get-token, --cluster-name, esdb-staging]
      command: aws
      interactiveMode: Never
      provideClusterInfo: false
)";
  KubeConfig c = parse_ok(text);
  CHECK(c.server == "https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com");
  CHECK(c.ca_pem == kCaPem);
  CHECK(c.token.empty());
  CHECK(c.token_file.empty());
  REQUIRE(c.exec.has_value());
  CHECK(c.exec->api_version == "client.authentication.k8s.io/v1beta1");
  CHECK(c.exec->command == "aws");
  CHECK(c.exec->args == std::vector<std::string>{"--region", "eu-west-1", "eks", "get-token",
                                                 "--cluster-name", "esdb-prod", "--output",
                                                 "json"});
  REQUIRE(c.exec->env.size() == 1);
  CHECK(c.exec->env[0] == std::pair<std::string, std::string>{"AWS_PROFILE", "prod-admin"});
  CHECK_FALSE(c.exec->provide_cluster_info);
  CHECK(c.exec->interactive_mode == "IfAvailable");  // v1beta1's default
  CHECK(c.exec->origin ==
        "kubeconfig /etc/kube/config: user "
        "\"arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod\" (named by context "
        "\"arn:aws:eks:eu-west-1:111122223333:cluster/esdb-prod\")");

  KubeConfig s = parse_ok(text, "staging");
  CHECK(s.namespace_name == "esdb");
  REQUIRE(s.exec.has_value());
  CHECK(s.exec->api_version == "client.authentication.k8s.io/v1");
  CHECK(s.exec->interactive_mode == "Never");
  CHECK(s.exec->args.size() == 6);
}

TEST_CASE("kubeconfig: as `gcloud container clusters get-credentials` writes it") {
  // installHint is a plain scalar folded over two lines, as gcloud writes it.
  const std::string text = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: )" + kCaB64 + R"(
    server: https://34.79.10.20
  name: gke_my-project_europe-west1_esdb
- cluster:
    certificate-authority-data: )" + kCaB64 + R"(
    server: https://127.0.0.1:43615
  name: kind-kind
contexts:
- context:
    cluster: gke_my-project_europe-west1_esdb
    user: gke_my-project_europe-west1_esdb
  name: gke_my-project_europe-west1_esdb
- context:
    cluster: kind-kind
    user: kind-kind
  name: kind-kind
current-context: gke_my-project_europe-west1_esdb
kind: Config
preferences: {}
users:
- name: gke_my-project_europe-west1_esdb
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following
        https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
      provideClusterInfo: true
- name: kind-kind
  user:
    client-certificate-data: )" + kCertB64 + R"(
    client-key-data: )" + kKeyB64 + R"(
)";
  KubeConfig c = parse_ok(text);
  CHECK(c.server == "https://34.79.10.20");
  REQUIRE(c.exec.has_value());
  CHECK(c.exec->command == "gke-gcloud-auth-plugin");
  CHECK(c.exec->args.empty());
  CHECK(c.exec->provide_cluster_info);
  CHECK(c.exec->install_hint ==
        "Install gke-gcloud-auth-plugin for use with kubectl by following "
        "https://cloud.google.com/kubernetes-engine/docs/how-to/"
        "cluster-access-for-kubectl#install_plugin");

  KubeConfig kind = parse_ok(text, "kind-kind");
  CHECK_FALSE(kind.exec.has_value());
  CHECK(kind.client_cert_pem == kCertPem);
  CHECK(kind.client_key_pem == kKeyPem);
}

TEST_CASE("kubeconfig: as `az aks get-credentials` writes it (admin certificate and kubelogin)") {
  // The literal installHint with an indentation indicator and env: null are what az writes.
  const std::string text = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: )" + kCaB64 + R"(
    server: https://esdb-dns-1a2b3c4d.hcp.westeurope.azmk8s.io:443
  name: esdb-aks
contexts:
- context:
    cluster: esdb-aks
    user: clusterAdmin_esdb-rg_esdb-aks
  name: esdb-aks-admin
- context:
    cluster: esdb-aks
    user: clusterUser_esdb-rg_esdb-aks
  name: esdb-aks
current-context: esdb-aks
kind: Config
preferences: {}
users:
- name: clusterAdmin_esdb-rg_esdb-aks
  user:
    client-certificate-data: )" + kCertB64 + R"(
    client-key-data: )" + kKeyB64 + R"(
    token: 0123456789abcdef0123456789abcdef
- name: clusterUser_esdb-rg_esdb-aks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - get-token
      - --environment
      - AzurePublicCloud
      - --server-id
      - 6dae42f8-4368-4678-94ff-3960e28e3630
      - --client-id
      - 80faf920-1908-4b52-b5ef-a8e7bedfc67a
      - --tenant-id
      - 72f988bf-86f1-41af-91ab-2d7cd011db47
      - --login
      - devicecode
      command: kubelogin
      env: null
      installHint: |2

        kubelogin is not installed which is required to connect to AAD enabled cluster.

        To learn more, please go to https://aka.ms/aks/kubelogin
      provideClusterInfo: false
)";
  KubeConfig c = parse_ok(text);
  REQUIRE(c.exec.has_value());
  CHECK(c.exec->command == "kubelogin");
  CHECK(c.exec->args.size() == 11);
  CHECK(c.exec->args.back() == "devicecode");
  CHECK(c.exec->env.empty());
  CHECK(c.exec->install_hint ==  // `|2`: the content is indented 2 more than `installHint`
        "\nkubelogin is not installed which is required to connect to AAD enabled cluster.\n"
        "\nTo learn more, please go to https://aka.ms/aks/kubelogin\n");
  CHECK(c.server == "https://esdb-dns-1a2b3c4d.hcp.westeurope.azmk8s.io:443");

  KubeConfig admin = parse_ok(text, "esdb-aks-admin");
  CHECK_FALSE(admin.exec.has_value());
  CHECK(admin.client_cert_pem == kCertPem);
  CHECK(admin.token == "0123456789abcdef0123456789abcdef");
}

TEST_CASE("kubeconfig: folded and literal scalars, anchors, aliases, merge keys, comments, flow") {
  const std::string text = R"(# written by hand
apiVersion: v1
kind: Config
clusters:
- name: lab   # a comment after a value
  cluster: &lab
    server: >-
      https://lab.example.com:6443
    certificate-authority-data: &ca |
      LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJjYQot
      LS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==
- name: lab-again
  cluster: *lab
- name: lab-merged
  cluster:
    <<: *lab
    server: "https://lab.example.com:7443"
contexts: [{name: a, context: {cluster: lab, user: ops}},
           {name: b, context: {cluster: lab-again, user: ops, namespace: "b"}},
           {name: c, context: {cluster: lab-merged, user: plugin}}]
users:
- name: ops
  user:
    token: >
      folded-token
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token   # relative to the kubeconfig's directory
      args: ["--audience", 'esk8s', --verbose=false]
      env: [{name: A, value: "1"}, {name: B, value: ''}]
      interactiveMode: IfAvailable
      provideClusterInfo: True
current-context: a
)";
  KubeConfig a = parse_ok(text);
  CHECK(a.server == "https://lab.example.com:6443");
  CHECK(a.ca_pem == kCaPem);
  CHECK(a.token == "folded-token\n");  // '>' keeps the final line break, as YAML says

  KubeConfig b = parse_ok(text, "b");
  CHECK(b.server == "https://lab.example.com:6443");
  CHECK(b.ca_pem == kCaPem);
  CHECK(b.namespace_name == "b");

  KubeConfig c = parse_ok(text, "c");
  CHECK(c.server == "https://lab.example.com:7443");  // the key written wins over the merge
  CHECK(c.ca_pem == kCaPem);
  REQUIRE(c.exec.has_value());
  CHECK(c.exec->command == "/etc/kube/bin/get-token");
  CHECK(c.exec->args == std::vector<std::string>{"--audience", "esk8s", "--verbose=false"});
  REQUIRE(c.exec->env.size() == 2);
  CHECK(c.exec->env[1] == std::pair<std::string, std::string>{"B", ""});
  CHECK(c.exec->provide_cluster_info);
}

TEST_CASE("kubeconfig: exec settings kubectl refuses, and interactiveMode Always, are errors") {
  auto exec_user = [](const std::string& body) {
    return kubectl_config("    exec:\n" + body);
  };
  std::string e = error_of(exec_user(
      "      apiVersion: client.authentication.k8s.io/v1\n      command: kubelogin\n"
      "      interactiveMode: Always\n"));
  CHECK(contains(e, "kubeconfig /x: user \"kind-kind\""));
  CHECK(contains(e, "interactiveMode Always"));
  CHECK(contains(e, "without one"));
  CHECK(contains(e, "IfAvailable or Never"));

  // {exec body, part of the error}
  const std::pair<std::string, std::string> cases[] = {
      {"      apiVersion: client.authentication.k8s.io/v1\n      command: x\n",
       "has no interactiveMode"},
      {"      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: x\n",
       "apiVersion \"client.authentication.k8s.io/v1alpha1\"; esk8s (like kubectl) supports "
       "client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1"},
      {"      command: x\n", "exec has no apiVersion"},
      {"      apiVersion: client.authentication.k8s.io/v1beta1\n", "exec has no command"},
      {"      apiVersion: client.authentication.k8s.io/v1beta1\n      command: x\n"
       "      args: [a, [b]]\n",
       "args must be strings"},
      {"      apiVersion: client.authentication.k8s.io/v1beta1\n      command: x\n"
       "      env: [{value: v}]\n",
       "env entry 1 needs a name"},
      {"      apiVersion: client.authentication.k8s.io/v1beta1\n      command: x\n"
       "      interactiveMode: Sometimes\n",
       "interactiveMode \"Sometimes\" is not one of"},
      {"      - not a mapping\n", "exec must be a mapping"},
  };
  for (const auto& [body, part] : cases) {
    e = error_of(exec_user(body));
    INFO(body);
    CHECK(contains(e, "kubeconfig /x: user \"kind-kind\""));
    CHECK(contains(e, part));
  }

  e = error_of(kubectl_config("    token: t\n    exec:\n"
                              "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                              "      command: x\n"));
  CHECK(contains(e, "sets exec together with a token"));
}

TEST_CASE("kubeconfig: proxy-url is refused naming the cluster") {
  std::string text = kubectl_config(kCertUser);
  text.replace(text.find("    server: https://prod"), 0, "    proxy-url: http://proxy:3128\n");
  CHECK(error_of(text, "prod") ==
        "kubeconfig /x: cluster \"prod\": proxy-url is not supported by esk8s; the API server "
        "must be reachable directly");
}

TEST_CASE("kubeconfig yaml: scalar types, document markers, line endings") {
  using esk8s::kube::parse_kubeconfig_yaml;
  auto ok = [](const std::string& text) {
    auto r = parse_kubeconfig_yaml(text);
    INFO(r.status().to_string());
    REQUIRE(r.is_ok());
    return r.value();
  };
  nlohmann::json j = ok(
      "port: 6443\noctal: 0755\nt: true\nF: False\nn: null\ntilde: ~\nempty:\n"
      "quoted_true: \"true\"\nquoted_null: 'null'\nyes: yes\nhash: a#b\n");
  CHECK(j["port"] == "6443");
  CHECK(j["octal"] == "0755");
  CHECK(j["t"] == true);
  CHECK(j["F"] == false);
  CHECK(j["n"].is_null());
  CHECK(j["tilde"].is_null());
  CHECK(j["empty"].is_null());
  CHECK(j["quoted_true"] == "true");
  CHECK(j["quoted_null"] == "null");
  CHECK(j["yes"] == "yes");  // YAML 1.2: not a boolean
  CHECK(j["hash"] == "a#b");
  CHECK(ok("---\na: b\n...\n") == nlohmann::json({{"a", "b"}}));
  CHECK(ok("a: b\r\nc:\r\n- d\r\n") == nlohmann::json::parse(R"({"a": "b", "c": ["d"]})"));
  CHECK(ok("\xEF\xBB\xBF"
           "a: b\n") == nlohmann::json({{"a", "b"}}));
  CHECK(ok("").is_null());
  CHECK(ok("# only a comment\n\n").is_null());
}

TEST_CASE("kubeconfig yaml: size, depth and alias expansion are bounded") {
  using esk8s::kube::parse_kubeconfig_yaml;
  auto error = [](const std::string& text) {
    esk8s::Result<nlohmann::json> r = nlohmann::json();
    CHECK_NOTHROW(r = parse_kubeconfig_yaml(text));
    REQUIRE_FALSE(r.is_ok());
    return r.status().message();
  };
  CHECK(contains(error(std::string(esk8s::kube::kKubeconfigMaxBytes + 1, '#')),
                 "larger than 1048576 bytes"));
  CHECK(contains(error("a: " + std::string(5000, '[') + std::string(5000, ']') + "\n"),
                 "nested deeper than 64 levels"));
  std::string deep_block;
  for (int i = 0; i < 100; ++i) deep_block += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  CHECK(contains(error(deep_block), "nested deeper than 64 levels"));
  CHECK(parse_kubeconfig_yaml("a: " + std::string(63, '[') + std::string(63, ']')).is_ok());

  // "Billion laughs": each level doubles ten times; the expansion stops at the node bound.
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    const char p = static_cast<char>(c - 1);
    laughs += std::string(1, c) + ": &" + c + " [*" + p + ", *" + p + ", *" + p + ", *" + p +
              ", *" + p + ", *" + p + ", *" + p + ", *" + p + ", *" + p + ", *" + p + "]\n";
  }
  CHECK(contains(error(laughs), "expands to more than"));
}

TEST_CASE("kubeconfig yaml: mangled kubeconfigs never throw and errors carry a position") {
  const std::string base = kubectl_config(kCertUser) +
                           "extra: {list: [1, 2, {x: &y y}], alias: *y}\nblock: |-\n  one\n";
  uint32_t state = 4242;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return (state >> 8) & 0xFFFF;
  };
  const std::string alphabet = " \t\n:-#'\"[]{},|>&*!?\\%@`";
  int parsed = 0, failed = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = next() % s.size();
      switch (next() % 3) {
        case 0:
          s[pos] = alphabet[next() % alphabet.size()];
          break;
        case 1:
          s.insert(pos, 1, alphabet[next() % alphabet.size()]);
          break;
        default:
          s.erase(pos, 1 + next() % 3);
          break;
      }
      if (s.empty()) s = "x";
    }
    esk8s::Result<KubeConfig> r = KubeConfig{};
    REQUIRE_NOTHROW(r = parse_kubeconfig(s, "/etc/kube", "/x"));
    if (r.is_ok()) {
      ++parsed;
    } else {
      ++failed;
      CHECK(r.status().message().rfind("kubeconfig /x: ", 0) == 0);
    }
  }
  CHECK(parsed > 0);
  CHECK(failed > 0);
}
