// kubeconfig parsing, in-cluster configuration and API server URL parsing.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "discovery/kube_config.h"
#include "tests/unit/test_util.h"

using esk8s::discovery::in_cluster_config;
using esk8s::discovery::KubeConfig;
using esk8s::discovery::load_kubeconfig;
using esk8s::discovery::parse_kubeconfig;
using esk8s::discovery::parse_server_url;

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

TEST_CASE("kubeconfig: the file kubesim writes") {
  const std::string dir = "/tmp/kubesim-1234";
  const std::string text =
      "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: "
      "https://127.0.0.1:38123\n    certificate-authority: " +
      dir +
      "/ca.crt\nusers:\n- name: kubesim-admin\n  user:\n    token: admin-0123456789abcdef\n"
      "contexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim-admin\n"
      "    namespace: default\ncurrent-context: kubesim\n";
  KubeConfig c = parse_ok(text);
  CHECK(c.server == "https://127.0.0.1:38123");
  CHECK(c.ca_file == dir + "/ca.crt");
  CHECK(c.token == "admin-0123456789abcdef");
  CHECK(c.namespace_name == "default");
  CHECK(c.source == "kubeconfig /etc/kube/config (context kubesim)");
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

TEST_CASE("kubeconfig: exec and auth-provider credentials are refused with what is supported") {
  std::string e = error_of(kubectl_config(
      "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
      "      args:\n      - eks\n      - get-token\n"));
  CHECK(contains(e, "kubeconfig /x: user \"kind-kind\""));
  CHECK(contains(e, "exec plugin (command \"aws\")"));
  CHECK(contains(e, "esk8s supports token, tokenFile and client certificates only"));

  e = error_of(
      kubectl_config("    auth-provider:\n      name: gcp\n      config: {cmd-path: gcloud}\n"));
  CHECK(contains(e, "\"gcp\" auth-provider"));
  CHECK(contains(e, "esk8s supports token, tokenFile and client certificates only"));

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
  std::string e = error_of("apiVersion: v1\nclusters:\n- name: \"oops\n");
  CHECK(e ==
        "kubeconfig /x: line 3: unterminated double-quoted string (quoted strings must end "
        "on the same line)");
  CHECK(contains(error_of("a:\n\tb: c\n"), "kubeconfig /x: line 2: tab"));
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
