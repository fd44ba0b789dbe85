// TlsManager: the first certificate per mode, renewal through both steps of a CA rotation
// (trust both, then sign with the new key), files reloaded when they change, peer verification.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "plugin/tls_manager.h"
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

using esk8s::test::eventually;

std::string read(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("tls manager: local-ca re-issues through both steps of a CA rotation") {
  auto old_ca = tls::make_self_signed_ca("old CA", tls::KeyType::kEcdsaP256, 24h).value();
  auto new_ca = tls::make_self_signed_ca("new CA", tls::KeyType::kEcdsaP256, 24h).value();
  test::TempDir ca_dir, out;
  write_ca(ca_dir, old_ca.cert_pem, old_ca.key_pem);
  Config c = base_config();
  c.tls_ca_dir = ca_dir.path();
  c.tls_out_dir = out.path() + "/tls";
  plugin::TlsManager m(c, Logger(nullptr, "t"), nullptr, 50ms);
  Captured got;
  REQUIRE(m.start([&](std::shared_ptr<const gossip::TlsSnapshot>) { got.add(); }).is_ok());
  CHECK(got.get() == 1);
  auto issuer = [&] {
    return tls::inspect_cert(read(c.tls_out_dir + "/tls.crt")).value().issuer_cn;
  };
  CHECK(issuer() == "old CA");
  CHECK((std::filesystem::status(c.tls_out_dir + "/tls.key").permissions() &
         std::filesystem::perms::others_read) == std::filesystem::perms::none);

  // Step 1: trust both, still sign with the old key -> re-issued, bundle holds both CAs.
  write_ca(ca_dir, old_ca.cert_pem + new_ca.cert_pem, old_ca.key_pem);
  REQUIRE(eventually([&] { return got.get() == 2; }));
  CHECK(issuer() == "old CA");
  CHECK(tls::inspect_bundle(read(c.tls_out_dir + "/ca.crt")).value().size() == 2);
  // Step 2: sign with the new key -> re-issued by the new CA.
  write_ca(ca_dir, old_ca.cert_pem + new_ca.cert_pem, new_ca.key_pem);
  REQUIRE(eventually([&] { return got.get() == 3; }));
  CHECK(issuer() == "new CA");
  CHECK(m.state().renewals == 2);
  // Nothing changes -> no further renewal.
  std::this_thread::sleep_for(300ms);
  CHECK(got.get() == 3);
  m.stop();
}

TEST_CASE("tls manager: files mode reloads changed files and warns about IP SANs") {
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
  plugin::TlsManager m(c, Logger(nullptr, "t"), nullptr, 50ms);
  Captured got;
  REQUIRE(m.start([&](std::shared_ptr<const gossip::TlsSnapshot>) { got.add(); }).is_ok());
  CHECK(m.state().warnings.empty());
  write_leaf(true);
  REQUIRE(eventually([&] { return got.get() == 2; }));
  auto st = m.state();
  REQUIRE(st.warnings.size() == 1);
  CHECK(st.warnings[0].find("10.1.2.3") != std::string::npos);
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
