// KubeClient's credential reloads in virtual time: the token file and the CA file live in a
// FakeEnv (tests/unit/fake_env.h), the token's re-read period runs on its clock, and a local
// HTTPS server (real TLS on loopback) shows which token each request carried.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "fake_env.h"
#include "log_lines.h"
#include "kube/kube_client.h"
#include "test_util.h"
#include "tls/x509.h"

using namespace std::chrono_literals;
using esk8s::test::FakeEnv;

namespace {

constexpr const char* kTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token";
constexpr const char* kCaPath = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";


// An HTTPS "API server" on 127.0.0.1 that answers GET /api with the Authorization header it got,
// and 401 to the token named `revoked`.
struct Api {
  esk8s::test::TempDir dir;
  esk8s::tls::CertAndKey ca;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread serving;
  int port = 0;
  std::mutex mu;
  std::string revoked;  // guarded by mu
  std::atomic<int> unauthorized{0};

  Api() {
    ca = esk8s::tls::make_self_signed_ca("api CA", esk8s::tls::KeyType::kEcdsaP256, 24h).value();
    esk8s::tls::CertSpec spec;
    spec.common_name = "apiserver";
    spec.ip_addresses = {"127.0.0.1"};
    auto cert = esk8s::tls::issue(spec, ca).value();
    const std::string crt = dir.write("server.crt", cert.cert_pem);
    const std::string key = dir.write("server.key", cert.key_pem);
    server = std::make_unique<httplib::SSLServer>(crt.c_str(), key.c_str());
    server->Get("/api", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string auth = req.get_header_value("Authorization");
      {
        std::lock_guard lock(mu);
        if (auth == "Bearer " + revoked) {
          ++unauthorized;
          res.status = 401;
          return;
        }
      }
      res.set_content(auth, "text/plain");
    });
    port = server->bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    serving = std::thread([this] { server->listen_after_bind(); });
  }
  ~Api() {
    server->stop();
    serving.join();
  }
  void revoke(const std::string& token) {
    std::lock_guard lock(mu);
    revoked = token;
  }
};

// A client of `api` as a pod sees it: token and CA files at the service-account paths, in `env`
// (re-read every 60 s of its clock).
std::unique_ptr<esk8s::kube::KubeClient> in_cluster_client(
    const Api& api, FakeEnv& env, std::shared_ptr<esk8s::test::LogLines> sink) {
  esk8s::kube::KubeConfig kc;
  kc.server = "https://127.0.0.1:" + std::to_string(api.port);
  kc.ca_file = kCaPath;
  kc.token_file = kTokenPath;
  kc.source = "in-cluster test";
  esk8s::kube::KubeClientOptions o;
  o.env = &env;
  o.token_reload = 60s;
  auto created = esk8s::kube::KubeClient::create(kc, o, esk8s::Logger(std::move(sink), "kube"));
  REQUIRE_MESSAGE(created.is_ok(), created.status().to_string());
  return std::move(created).value();
}

}  // namespace

TEST_CASE("kube client: the token file is re-read after token_reload of the Env's clock and at "
          "once after a 401") {
  Api api;
  FakeEnv env;
  env.set_file(kTokenPath, "tok-a\n");
  env.set_file(kCaPath, api.ca.cert_pem);
  auto sink = std::make_shared<esk8s::test::LogLines>();
  auto owned = in_cluster_client(api, env, sink);
  auto& client = *owned;
  auto auth = [&] {
    auto r = client.get("/api");
    REQUIRE_MESSAGE(r.status == 200, esk8s::kube::describe_failure(r));
    return r.body;
  };

  CHECK(auth() == "Bearer tok-a");
  const size_t reads = env.reads(kTokenPath);
  CHECK(reads == 1);
  // The kubelet writes a new token. Within the period the client keeps the one it read.
  env.set_file(kTokenPath, "tok-b\n");
  CHECK(auth() == "Bearer tok-a");
  env.advance(59s);
  CHECK(auth() == "Bearer tok-a");
  CHECK(env.reads(kTokenPath) == reads);
  // At the period: re-read once, the new token used, the change logged once.
  env.advance(1s);
  CHECK(auth() == "Bearer tok-b");
  CHECK(auth() == "Bearer tok-b");
  CHECK(env.reads(kTokenPath) == reads + 1);
  CHECK(sink->count("service-account token changed; using the new one") == 1);

  // The API server stops accepting tok-b before the period is over: the 401 makes the client
  // re-read the file at once and retry with what it finds; no time passes.
  env.set_file(kTokenPath, "tok-c\n");
  api.revoke("tok-b");
  CHECK(auth() == "Bearer tok-c");
  CHECK(api.unauthorized == 1);
  CHECK(env.reads(kTokenPath) == reads + 2);
  CHECK(sink->count("service-account token changed; using the new one") == 2);

  // An unreadable token file keeps the token in use, says so, and is tried again next period.
  env.remove_file(kTokenPath);
  env.advance(60s);
  CHECK(auth() == "Bearer tok-c");
  CHECK(sink->count("cannot read the token file; keeping the previous token") == 1);
  CHECK(auth() == "Bearer tok-c");
  CHECK(sink->count("cannot read the token file; keeping the previous token") == 1);
}

TEST_CASE("kube client: the CA file is reloaded when its stat changes, not before") {
  Api api;
  FakeEnv env;
  env.set_file(kTokenPath, "tok\n");
  env.set_file(kCaPath, api.ca.cert_pem);
  auto sink = std::make_shared<esk8s::test::LogLines>();
  auto owned = in_cluster_client(api, env, sink);
  auto& client = *owned;
  const size_t after_create = env.reads(kCaPath);
  CHECK(client.get("/api").status == 200);
  CHECK(client.get("/api").status == 200);
  CHECK(env.reads(kCaPath) == after_create);  // unchanged: read once, kept
  CHECK(sink->count("API server CA bundle changed; reloaded") == 0);

  // A ConfigMap update swaps the file (new inode): read again before the next connection.
  env.set_file(kCaPath, api.ca.cert_pem);
  CHECK(client.get("/api").status == 200);
  CHECK(env.reads(kCaPath) == after_create + 1);
  CHECK(sink->count("API server CA bundle changed; reloaded") == 1);

  // A bundle without the API server's CA: the next connection fails verification.
  auto other = esk8s::tls::make_self_signed_ca("other CA", esk8s::tls::KeyType::kEcdsaP256, 24h);
  env.set_file(kCaPath, other.value().cert_pem);
  auto refused = client.get("/api");
  CHECK(refused.status == 0);
  CHECK(sink->count("API server CA bundle changed; reloaded") == 2);
}
