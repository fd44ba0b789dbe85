// Exec credential plugins: small shell-script plugins written into a temp dir and run for real
// (v1, v1beta1, expiring, failing, missing, garbage, hanging), the cache with an injected clock,
// and the JSON in and out.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/rfc3339.h"
#include "kube/exec_credential.h"
#include "kube/kube_client.h"
#include "tls/x509.h"
#include "tests/unit/test_util.h"

using esk8s::kube::ExecClusterInfo;
using esk8s::kube::ExecConfig;
using esk8s::kube::ExecCredential;
using esk8s::kube::ExecCredentialOptions;
using esk8s::kube::ExecCredentialProvider;
using esk8s::kube::parse_exec_credential;
using esk8s::parse_rfc3339;
using nlohmann::json;
using SysClock = std::chrono::system_clock;

namespace {

constexpr const char* kV1 = "client.authentication.k8s.io/v1";
constexpr const char* kV1beta1 = "client.authentication.k8s.io/v1beta1";

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A temp dir holding plugin scripts, and a file their stderr goes to.
struct PluginDir {
  esk8s::test::TempDir dir;
  std::string stderr_path = dir.path() + "/stderr.txt";
  int stderr_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ~PluginDir() { close(stderr_fd); }

  // Writes an executable /bin/sh script; $DIR in it is this directory.
  std::string plugin(const std::string& name, const std::string& body) const {
    const std::string path =
        dir.write(name, "#!/bin/sh\nDIR='" + dir.path() + "'\n" + body + "\n");
    chmod(path.c_str(), 0755);
    return path;
  }

  ExecConfig exec(const std::string& command, const char* api_version = kV1) const {
    ExecConfig e;
    e.api_version = api_version;
    e.command = command;
    e.interactive_mode = "Never";
    e.origin = "kubeconfig " + dir.path() + "/config: user \"dev\"";
    return e;
  }

  ExecCredentialOptions options() const {
    ExecCredentialOptions o;
    o.stderr_fd = stderr_fd;
    o.timeout = std::chrono::seconds(10);
    return o;
  }
};

std::string credential_json(const std::string& api_version, const std::string& status) {
  return "{\"apiVersion\":\"" + api_version + "\",\"kind\":\"ExecCredential\",\"status\":" +
         status + "}";
}

SysClock::time_point at(const char* rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  REQUIRE(t.has_value());
  return *t;
}

}  // namespace

TEST_CASE("exec credential: a v1 plugin gets the request, its env and args, and returns a token") {
  PluginDir p;
  setenv("ESK8S_TEST_INHERITED", "from-parent", 1);
  const std::string cmd = p.plugin(
      "v1-plugin",
      "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$DIR/info.json\"\n"
      "printf '%s|' \"$@\" > \"$DIR/args.txt\"\n"
      "printf '%s %s %s' \"$TEAM\" \"$ESK8S_TEST_INHERITED\" \"$OVERRIDE\" > \"$DIR/env.txt\"\n"
      "echo 'a warning from the plugin' >&2\n"
      "printf '%s\\n' '" + credential_json(kV1, R"({"token":"v1-token"})") + "'");
  ExecConfig e = p.exec(cmd);
  e.args = {"get-token", "--cluster", "a b"};
  e.env = {{"TEAM", "esdb"}, {"OVERRIDE", "mine"}};
  setenv("OVERRIDE", "parent", 1);
  ExecCredentialProvider provider(e, ExecClusterInfo{"https://k8s:6443", "PEM"}, p.options());
  auto c = provider.get();
  INFO(c.status().to_string());
  REQUIRE(c.is_ok());
  CHECK(c->token == "v1-token");
  CHECK(c->client_cert_pem.empty());
  CHECK_FALSE(c->expiry.has_value());
  CHECK(read_all(p.dir.path() + "/args.txt") == "get-token|--cluster|a b|");
  CHECK(read_all(p.dir.path() + "/env.txt") == "esdb from-parent mine");
  CHECK(contains(read_all(p.stderr_path), "a warning from the plugin"));  // passed through

  json info = json::parse(read_all(p.dir.path() + "/info.json"));
  CHECK(info["apiVersion"] == kV1);
  CHECK(info["kind"] == "ExecCredential");
  CHECK(info["spec"]["interactive"] == false);
  CHECK_FALSE(info["spec"].contains("cluster"));  // provideClusterInfo is false

  // Without an expiry the credential is kept until a 401.
  CHECK(provider.get().is_ok());
  CHECK(provider.runs() == 1);
  unsetenv("ESK8S_TEST_INHERITED");
  unsetenv("OVERRIDE");
}

TEST_CASE("exec credential: a v1beta1 plugin with provideClusterInfo returns a certificate") {
  PluginDir p;
  const std::string cmd = p.plugin(
      "v1beta1-plugin",
      "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$DIR/info.json\"\n"
      "printf '%s\\n' '" +
          credential_json(kV1beta1,
                          R"({"clientCertificateData":)"
                          R"("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",)"
                          R"("clientKeyData":)"
                          R"("-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n",)"
                          R"("expirationTimestamp":"2030-01-01T00:00:00Z"})") +
          "'");
  ExecConfig e = p.exec(cmd, kV1beta1);
  e.provide_cluster_info = true;
  const std::string ca = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
  ExecCredentialProvider provider(e, ExecClusterInfo{"https://k8s:6443", ca}, p.options());
  auto c = provider.get();
  INFO(c.status().to_string());
  REQUIRE(c.is_ok());
  CHECK(c->token.empty());
  CHECK(c->client_cert_pem == "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  CHECK(contains(c->client_key_pem, "BEGIN EC PRIVATE KEY"));
  REQUIRE(c->expiry.has_value());
  CHECK(*c->expiry == at("2030-01-01T00:00:00Z"));

  json info = json::parse(read_all(p.dir.path() + "/info.json"));
  CHECK(info["apiVersion"] == kV1beta1);
  CHECK(info["spec"]["interactive"] == false);
  CHECK(info["spec"]["cluster"]["server"] == "https://k8s:6443");
  CHECK(info["spec"]["cluster"]["certificate-authority-data"] == esk8s::base64_encode(ca));
}

TEST_CASE("exec credential: cached until expirationTimestamp, run again after it and after a 401") {
  PluginDir p;
  const std::string cmd = p.plugin(
      "expiring-plugin",
      "n=$(cat \"$DIR/count\" 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > \"$DIR/count\"\n"
      "printf '{\"apiVersion\":\"" + std::string(kV1) +
          "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-%s\","
          "\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"}}' $n");
  SysClock::time_point now = at("2029-12-31T23:59:00Z");
  ExecCredentialOptions o = p.options();
  o.now = [&now] { return now; };
  ExecCredentialProvider provider(p.exec(cmd), ExecClusterInfo{}, o);

  auto first = provider.get();
  INFO(first.status().to_string());
  REQUIRE(first.is_ok());
  CHECK(first->token == "tok-1");
  now = at("2029-12-31T23:59:59.999Z");
  CHECK(provider.get()->token == "tok-1");
  CHECK(provider.runs() == 1);

  now = at("2030-01-01T00:00:00Z");  // expired
  auto second = provider.get();
  REQUIRE(second.is_ok());
  CHECK(second->token == "tok-2");
  CHECK(provider.runs() == 2);

  // A 401 with the cached credential drops it; a 401 with an older one does not.
  now = at("2029-01-01T00:00:00Z");
  provider.invalidate(first.value());
  CHECK(provider.get()->token == "tok-2");
  provider.invalidate(second.value());
  CHECK(provider.get()->token == "tok-3");
  CHECK(provider.runs() == 3);
}

TEST_CASE("exec credential: a failing plugin's stderr is passed through and its status named") {
  PluginDir p;
  const std::string cmd =
      p.plugin("failing-plugin",
               "echo 'error: SSO session has expired; run aws sso login' >&2\nexit 3");
  ExecCredentialProvider provider(p.exec(cmd), ExecClusterInfo{}, p.options());
  auto c = provider.get();
  REQUIRE_FALSE(c.is_ok());
  const std::string m = c.status().message();
  CHECK(contains(m, "kubeconfig " + p.dir.path() + "/config: user \"dev\": exec plugin \"" + cmd));
  CHECK(contains(m, "failed with exit status 3"));
  CHECK(contains(read_all(p.stderr_path), "error: SSO session has expired; run aws sso login"));
  // A failure is not cached: the next get() tries again.
  CHECK_FALSE(provider.get().is_ok());
  CHECK(provider.runs() == 2);
}

TEST_CASE("exec credential: a missing command is named with its installHint") {
  PluginDir p;
  ExecConfig e = p.exec("esk8s-test-no-such-auth-plugin");
  e.install_hint =
      "\nInstall esk8s-test-no-such-auth-plugin for use with kubectl by following\n"
      "https://example.com/install\n";
  ExecCredentialProvider provider(e, ExecClusterInfo{}, p.options());
  auto c = provider.get();
  REQUIRE_FALSE(c.is_ok());
  const std::string m = c.status().message();
  CHECK(contains(m, "exec plugin \"esk8s-test-no-such-auth-plugin\" was not found in PATH"));
  CHECK(contains(m, "installHint: Install esk8s-test-no-such-auth-plugin for use with kubectl by "
                    "following\nhttps://example.com/install"));

  ExecConfig missing_path = p.exec(p.dir.path() + "/bin/nothing-here");
  auto d = ExecCredentialProvider(missing_path, ExecClusterInfo{}, p.options()).get();
  REQUIRE_FALSE(d.is_ok());
  CHECK(contains(d.status().message(), "was not found; install it, or fix exec.command"));

  const std::string not_executable = p.dir.write("not-executable", "#!/bin/sh\n");
  auto n = ExecCredentialProvider(p.exec(not_executable), ExecClusterInfo{}, p.options()).get();
  REQUIRE_FALSE(n.is_ok());
  CHECK(contains(n.status().message(), "cannot be executed"));
}

TEST_CASE("exec credential: a plugin that prints garbage or the wrong credential is refused") {
  PluginDir p;
  auto error_of = [&p](const std::string& name, const std::string& body, const char* api = kV1) {
    ExecCredentialProvider provider(p.exec(p.plugin(name, body), api), ExecClusterInfo{},
                                    p.options());
    auto c = provider.get();
    REQUIRE_FALSE(c.is_ok());
    return c.status().message();
  };
  std::string m = error_of("garbage", "echo '<html>Sign in to continue</html>'");
  CHECK(contains(m, "printed something that is not JSON: \"<html>Sign in to continue</html>"));
  CHECK(contains(m, "run the command by hand"));
  CHECK(contains(error_of("silent", "true"), "printed nothing"));
  CHECK(contains(error_of("beta-answer",
                          "printf '%s\\n' '" + credential_json(kV1beta1, R"({"token":"t"})") + "'"),
                 "answered with apiVersion \"client.authentication.k8s.io/v1beta1\" but the "
                 "kubeconfig asks for \"client.authentication.k8s.io/v1\""));
  CHECK(contains(error_of("empty-status", "printf '%s\\n' '" + credential_json(kV1, "{}") + "'"),
                 "neither a token nor a client certificate"));
  CHECK(contains(error_of("bad-expiry",
                          "printf '%s\\n' '" +
                              credential_json(
                                  kV1, R"({"token":"t","expirationTimestamp":"tomorrow"})") +
                              "'"),
                 "expirationTimestamp \"tomorrow\", which is not an RFC 3339 time"));
  CHECK(contains(error_of("cert-no-key",
                          "printf '%s\\n' '" +
                              credential_json(kV1, R"({"clientCertificateData":"-----BEGIN X"})") +
                              "'"),
                 "without a key"));
}

TEST_CASE("exec credential: a plugin that hangs is killed after the timeout, with its children") {
  PluginDir p;
  const std::string cmd = p.plugin("hanging-plugin", "sleep 30 &\necho $! > \"$DIR/child\"\nwait");
  ExecCredentialOptions o = p.options();
  o.timeout = std::chrono::milliseconds(300);
  ExecCredentialProvider provider(p.exec(cmd), ExecClusterInfo{}, o);
  const auto start = std::chrono::steady_clock::now();
  auto c = provider.get();
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(c.is_ok());
  CHECK(contains(c.status().message(), "did not finish within 300 ms and was killed"));
  CHECK(took < std::chrono::seconds(5));
  // The background sleep was in the plugin's process group: it is gone too (or a zombie being
  // reaped by init, which kill(0) still sees; so check its state).
  const std::string child = read_all(p.dir.path() + "/child");
  REQUIRE_FALSE(child.empty());
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::string stat = read_all("/proc/" + std::to_string(std::atoi(child.c_str())) + "/stat");
    gone = stat.empty() || contains(stat, ") Z ");
    if (!gone) usleep(20000);
  }
  CHECK(gone);
}

TEST_CASE("exec credential: output beyond the bound kills the plugin") {
  PluginDir p;
  ExecCredentialOptions o = p.options();
  o.max_output = 4096;
  ExecCredentialProvider provider(p.exec(p.plugin("chatty", "yes")), ExecClusterInfo{}, o);
  auto c = provider.get();
  REQUIRE_FALSE(c.is_ok());
  CHECK(contains(c.status().message(), "printed more than 4096 bytes and was killed"));
}

TEST_CASE("exec credential: the runner is injectable and a cancelled provider runs nothing") {
  int calls = 0;
  ExecCredentialOptions o;
  o.runner = [&calls](const esk8s::kube::ProcessSpec& spec) {
    ++calls;
    esk8s::kube::ProcessOutcome r;
    r.kind = esk8s::kube::ProcessOutcome::Kind::kExited;
    r.exit_code = 0;
    bool has_info = false;
    for (const auto& [k, v] : spec.env) has_info = has_info || k == "KUBERNETES_EXEC_INFO";
    r.out = has_info ? credential_json(kV1, R"({"token":"fake"})") : "";
    return r;
  };
  ExecConfig e;
  e.api_version = kV1;
  e.command = "fake";
  ExecCredentialProvider provider(e, ExecClusterInfo{}, o);
  CHECK(provider.get()->token == "fake");
  provider.invalidate(ExecCredential{"fake", "", "", std::nullopt});
  provider.cancel();
  auto c = provider.get();
  REQUIRE_FALSE(c.is_ok());
  CHECK(contains(c.status().message(), "client is stopping"));
  CHECK(calls == 1);
  provider.reset_cancel();
  CHECK(provider.get().is_ok());
  CHECK(calls == 2);
}

TEST_CASE("exec credential: KubeClient::create runs the plugin and reports its failure") {
  PluginDir p;
  esk8s::kube::KubeConfig kc;
  kc.server = "https://127.0.0.1:6443";
  kc.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  kc.source = "kubeconfig test";
  kc.exec = p.exec("esk8s-test-no-such-auth-plugin");
  kc.exec->install_hint = "get it from example.com";
  esk8s::kube::KubeClientOptions o;
  o.exec = p.options();
  auto client = esk8s::kube::KubeClient::create(kc, o, esk8s::Logger(nullptr, "test"));
  REQUIRE_FALSE(client.is_ok());
  CHECK(contains(client.status().message(), "was not found in PATH; installHint: get it from "
                                            "example.com"));
}

TEST_CASE("exec credential: KubeClient runs the plugin again after a 401 and retries once") {
  using namespace std::chrono_literals;
  PluginDir p;
  auto ca = esk8s::tls::make_self_signed_ca("exec test CA", esk8s::tls::KeyType::kEcdsaP256, 24h);
  REQUIRE(ca.is_ok());
  esk8s::tls::CertSpec spec;
  spec.common_name = "apiserver";
  spec.ip_addresses = {"127.0.0.1"};
  auto server_cert = esk8s::tls::issue(spec, ca.value());
  REQUIRE(server_cert.is_ok());
  const std::string cert_path = p.dir.write("server.crt", server_cert->cert_pem);
  const std::string key_path = p.dir.write("server.key", server_cert->key_pem);

  // The API server accepts every token but the plugin's first, which is "revoked".
  httplib::SSLServer server(cert_path.c_str(), key_path.c_str());
  std::atomic<int> unauthorized{0};
  server.Get("/api", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") == "Bearer tok-1") {
      ++unauthorized;
      res.status = 401;
      return;
    }
    res.set_content("{\"auth\":\"" + req.get_header_value("Authorization") + "\"}",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread serve([&server] { server.listen_after_bind(); });

  const std::string cmd = p.plugin(
      "counting-plugin",
      "n=$(cat \"$DIR/count\" 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > \"$DIR/count\"\n"
      "printf '{\"apiVersion\":\"" + std::string(kV1) +
          "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-%s\"}}' $n");
  esk8s::kube::KubeConfig kc;
  kc.server = "https://127.0.0.1:" + std::to_string(port);
  kc.ca_pem = ca->cert_pem;
  kc.source = "kubeconfig test";
  kc.exec = p.exec(cmd);
  esk8s::kube::KubeClientOptions o;
  o.exec = p.options();
  auto client = esk8s::kube::KubeClient::create(kc, o, esk8s::Logger(nullptr, "test"));
  INFO(client.status().to_string());
  REQUIRE(client.is_ok());
  auto r = client.value()->get("/api");
  CHECK(r.status == 200);
  CHECK(r.body == "{\"auth\":\"Bearer tok-2\"}");
  CHECK(unauthorized == 1);
  // The fresh credential is cached: no third run.
  CHECK(client.value()->get("/api").status == 200);
  CHECK(read_all(p.dir.path() + "/count") == "2\n");
  server.stop();
  serve.join();
}
