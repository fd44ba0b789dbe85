// TlsManager: the first certificate per mode, renewal through both steps of a CA rotation
// (trust both, then sign with the new key), files reloaded when they change, peer verification
// by the injected clock. The worker runs in virtual time (tests/unit/fake_env.h).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "plugin/tls_manager.h"
#include "fake_env.h"
#include "test_util.h"
#include "tls/x509.h"

using namespace esk8s;
using plugin::Config;
using namespace std::chrono_literals;

namespace {

Config base_config() {
  Config c;
  c.service = "esdb";
  c.namespace_name = "prod";
  c.pod_name = "esdb-0";
  c.cluster_domain = "cluster.local";
  return c;
}

void write_ca(const test::TempDir& dir, const std::string& crt, const std::string& key) {
  dir.write("ca.crt.tmp", crt);
  std::filesystem::rename(dir.path() + "/ca.crt.tmp", dir.path() + "/ca.crt");
  std::string k = dir.write("ca.key.tmp", key);
  std::filesystem::permissions(k, std::filesystem::perms(0600));
  std::filesystem::rename(k, dir.path() + "/ca.key");
}

struct Captured {
  std::mutex mu;
  int count = 0;
  void add() {
    std::lock_guard lock(mu);
    ++count;
  }
  int get() {
    std::lock_guard lock(mu);
    return count;
  }
};

std::string read(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("tls manager: local-ca re-issues through both steps of a CA rotation") {
  // Virtual time: the worker looks at the CA directory only when the test advances the Env by
  // the check interval, and settle(1) returns once that look is over, so each step checks
  // exactly one round. The Env's calendar starts at the real time: the issuer signs with it.
  test::FakeEnv env(std::chrono::system_clock::now());
  auto old_ca = tls::make_self_signed_ca("old CA", tls::KeyType::kEcdsaP256, 24h).value();
  auto new_ca = tls::make_self_signed_ca("new CA", tls::KeyType::kEcdsaP256, 24h).value();
  test::TempDir ca_dir, out;
  write_ca(ca_dir, old_ca.cert_pem, old_ca.key_pem);
  Config c = base_config();
  c.tls_ca_dir = ca_dir.path();
  c.tls_out_dir = out.path() + "/tls";
  plugin::TlsManager m(c, Logger(nullptr, "t"), nullptr, 10s, env);
  Captured got;
  REQUIRE(m.start([&](std::shared_ptr<const gossip::TlsSnapshot>) { got.add(); }).is_ok());
  CHECK(got.get() == 1);
  REQUIRE(env.settle(1));
  auto issuer = [&] {
    return tls::inspect_cert(read(c.tls_out_dir + "/tls.crt")).value().issuer_cn;
  };
  CHECK(issuer() == "old CA");
  CHECK((std::filesystem::status(c.tls_out_dir + "/tls.key").permissions() &
         std::filesystem::perms::others_read) == std::filesystem::perms::none);

  // Step 1: trust both, still sign with the old key. Nothing happens before the next check ...
  write_ca(ca_dir, old_ca.cert_pem + new_ca.cert_pem, old_ca.key_pem);
  env.advance(9s);
  REQUIRE(env.settle(1));
  CHECK(got.get() == 1);
  // ... which re-issues once; the bundle holds both CAs.
  env.advance(1s);
  REQUIRE(env.settle(1));
  CHECK(got.get() == 2);
  CHECK(issuer() == "old CA");
  CHECK(tls::inspect_bundle(read(c.tls_out_dir + "/ca.crt")).value().size() == 2);
  // Step 2: sign with the new key -> re-issued by the new CA at the next check.
  write_ca(ca_dir, old_ca.cert_pem + new_ca.cert_pem, new_ca.key_pem);
  env.advance(10s);
  REQUIRE(env.settle(1));
  CHECK(got.get() == 3);
  CHECK(issuer() == "new CA");
  CHECK(m.state().renewals == 2);
  // Nothing changes: ten more checks re-issue nothing.
  for (int check = 0; check < 10; ++check) {
    env.advance(10s);
    REQUIRE(env.settle(1));
  }
  CHECK(got.get() == 3);
  CHECK(m.state().renewals == 2);
  m.stop();
  CHECK(env.settle(0));
}

TEST_CASE("tls manager: peers' certificates are judged by the Env's clock") {
  test::FakeEnv env(std::chrono::system_clock::now());
  auto ca = tls::make_self_signed_ca("CA", tls::KeyType::kEcdsaP256, 24h * 30).value();
  test::TempDir ca_dir;
  write_ca(ca_dir, ca.cert_pem, ca.key_pem);
  Config c = base_config();
  c.tls_ca_dir = ca_dir.path();
  plugin::TlsManager m(c, Logger(nullptr, "t"), nullptr, 10s, env);
  REQUIRE(m.start([](std::shared_ptr<const gossip::TlsSnapshot>) {}).is_ok());
  tls::CertSpec spec;
  spec.common_name = "esdb-1.esdb.prod.svc.cluster.local";
  spec.dns_names = {spec.common_name};
  spec.validity = 1h;
  auto peer = tls::issue(spec, ca).value();
  auto verify = m.verifier();
  gossip::PeerCheck valid = verify(peer.cert_pem, spec.common_name, /*peer_is_client=*/true);
  CHECK_MESSAGE(valid.ok, valid.detail);
  // Two virtual hours later the same certificate has expired; no wall time passed.
  env.advance(2h);
  gossip::PeerCheck expired = verify(peer.cert_pem, spec.common_name, /*peer_is_client=*/true);
  CHECK_FALSE(expired.ok);
  CHECK(expired.reason == "expired");
  m.stop();
}

TEST_CASE("tls manager: files mode reloads changed files and warns about IP SANs") {
  test::FakeEnv env(std::chrono::system_clock::now());
  auto ca = tls::make_self_signed_ca("CA", tls::KeyType::kEcdsaP256, 24h).value();
  test::TempDir dir;
  auto write_leaf = [&](bool with_ip) {
    tls::CertSpec spec;
    spec.common_name = "esdb-0.esdb.prod.svc.cluster.local";
    spec.dns_names = {spec.common_name};
    if (with_ip) spec.ip_addresses = {"10.1.2.3"};
    auto leaf = tls::issue(spec, ca).value();
    dir.write("tls.crt", leaf.cert_pem);
    std::string k = dir.write("tls.key", leaf.key_pem);
    std::filesystem::permissions(k, std::filesystem::perms(0600));
    dir.write("ca.crt", ca.cert_pem);
  };
  write_leaf(false);
  Config c = base_config();
  c.tls_mode = plugin::TlsMode::kFiles;
  c.tls_dir = dir.path();
  plugin::TlsManager m(c, Logger(nullptr, "t"), nullptr, 10s, env);
  Captured got;
  REQUIRE(m.start([&](std::shared_ptr<const gossip::TlsSnapshot>) { got.add(); }).is_ok());
  CHECK(m.state().warnings.empty());
  REQUIRE(env.settle(1));
  write_leaf(true);
  env.advance(10s);
  REQUIRE(env.settle(1));
  CHECK(got.get() == 2);
  auto st = m.state();
  REQUIRE(st.warnings.size() == 1);
  CHECK(st.warnings[0].find("10.1.2.3") != std::string::npos);
  // Unchanged files are not reloaded.
  env.advance(10s);
  REQUIRE(env.settle(1));
  CHECK(got.get() == 2);
  m.stop();
}

TEST_CASE("tls manager: files mode without the identity SAN fails start naming the problem") {
  auto ca = tls::make_self_signed_ca("CA", tls::KeyType::kEcdsaP256, 24h).value();
  test::TempDir dir;
  tls::CertSpec spec;
  spec.common_name = "esdb-5.esdb.prod.svc.cluster.local";
  spec.dns_names = {spec.common_name};
  auto leaf = tls::issue(spec, ca).value();
  dir.write("tls.crt", leaf.cert_pem);
  std::filesystem::permissions(dir.write("tls.key", leaf.key_pem), std::filesystem::perms(0600));
  dir.write("ca.crt", ca.cert_pem);
  Config c = base_config();
  c.tls_mode = plugin::TlsMode::kFiles;
  c.tls_dir = dir.path();
  plugin::TlsManager m(c, Logger(nullptr, "t"), nullptr, 50ms);
  Status s = m.start([](std::shared_ptr<const gossip::TlsSnapshot>) {});
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.message().find("esdb-0.esdb.prod.svc.cluster.local") != std::string::npos);
}

TEST_CASE("tls manager: kubernetes-csr mode without an API is refused at start") {
  Config c = base_config();
  c.tls_mode = plugin::TlsMode::kKubernetesCsr;
  plugin::TlsManager m(c, Logger(nullptr, "t"), nullptr, 50ms);
  Status s = m.start([](std::shared_ptr<const gossip::TlsSnapshot>) {});
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.message().find("kubernetes-csr needs the Kubernetes API") != std::string::npos);
}
