#include "tls/local_ca_issuer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/tls/tls_test_util.h"

using namespace esk8s;
using test::Clock;
using test::contains;
using test::kDay;

TEST_CASE("local-ca: issue and verify round trip with policy names and 30 day validity") {
  test::TempDir dir;
  auto ca = test::make_ca("cluster CA");
  test::write_ca_dir(dir.path(), ca);
  tls::LocalCaIssuer issuer(dir.path());
  CHECK(std::string(issuer.mode()) == "local-ca");

  tls::IssueRequest req;
  req.names = test::member();
  req.names.client_services = {"esdb-client"};
  const auto before = Clock::now();
  auto issued = issuer.issue(req);
  REQUIRE_MESSAGE(issued.is_ok(), issued.status().to_string());
  CHECK(issued->trust_bundle_pem == ca.cert_pem);
  CHECK(tls::verify_chain(issued->cert_pem, issued->trust_bundle_pem, Clock::now()).is_ok());
  auto match = tls::find_cert_for_key(issued->cert_pem, issued->key_pem);
  REQUIRE(match.is_ok());
  CHECK(match->index == 0);

  auto info = tls::inspect_cert(issued->cert_pem);
  REQUIRE(info.is_ok());
  auto plan = tls::plan_sans(req.names);
  REQUIRE(plan.is_ok());
  CHECK(info->dns_names == plan->dns_names);
  CHECK(info->ip_addresses.empty());
  CHECK(info->subject_cn == "esdb-0.esdb.prod.svc.cluster.local");
  CHECK(info->issuer_cn == "cluster CA");
  CHECK(info->key_type == "ECDSA P-256");
  auto lifetime = info->not_after - before;
  CHECK(lifetime > 30 * kDay - std::chrono::minutes(1));
  CHECK(lifetime < 30 * kDay + std::chrono::minutes(1));
}

TEST_CASE("local-ca: a CA key readable by other users is refused") {
  test::TempDir dir;
  test::write_ca_dir(dir.path(), test::make_ca());
  std::string key = dir.path() + "/ca.key";
  tls::IssueRequest req;
  req.names = test::member();
  for (mode_t mode : {0644, 0604}) {
    REQUIRE(::chmod(key.c_str(), mode) == 0);
    auto issued = tls::LocalCaIssuer(dir.path()).issue(req);
    REQUIRE_FALSE(issued.is_ok());
    CHECK(contains(issued.status().message(), "CA key " + key + " is readable by other users"));
  }
  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  CHECK(tls::LocalCaIssuer(dir.path()).issue(req).is_ok());
}

TEST_CASE("local-ca: during a CA rotation the CA matching ca.key signs and the bundle holds both") {
  test::TempDir dir;
  auto old_ca = test::make_ca("esk8s CA");
  auto new_ca = test::make_ca("esk8s CA");  // same name, as a rotation usually has
  std::string bundle = old_ca.cert_pem + new_ca.cert_pem;
  test::write_ca_dir(dir.path(), new_ca, bundle);
  tls::IssueRequest req;
  req.names = test::member();
  auto issued = tls::LocalCaIssuer(dir.path()).issue(req);
  REQUIRE_MESSAGE(issued.is_ok(), issued.status().to_string());
  CHECK(issued->trust_bundle_pem == bundle);
  CHECK(tls::verify_chain(issued->cert_pem, new_ca.cert_pem, Clock::now()).is_ok());
  CHECK_FALSE(tls::verify_chain(issued->cert_pem, old_ca.cert_pem, Clock::now()).is_ok());
}

TEST_CASE("local-ca: ca.crt and ca.key of different CAs are refused") {
  test::TempDir dir;
  auto a = test::make_ca("A");
  auto b = test::make_ca("B");
  REQUIRE(tls::write_certificate_file(dir.path() + "/ca.crt", a.cert_pem));
  REQUIRE(tls::write_private_key_file(dir.path() + "/ca.key", b.key_pem));
  tls::IssueRequest req;
  req.names = test::member();
  auto issued = tls::LocalCaIssuer(dir.path()).issue(req);
  REQUIRE_FALSE(issued.is_ok());
  CHECK(contains(issued.status().message(), "belongs to the CA key"));
  CHECK_FALSE(contains(issued.status().message(), "PRIVATE KEY"));
}

TEST_CASE("local-ca: a leaf certificate in ca.crt is not accepted as a CA") {
  test::TempDir dir;
  auto ca = test::make_ca();
  auto leaf = test::member_leaf(test::member(), ca);
  REQUIRE(tls::write_certificate_file(dir.path() + "/ca.crt", leaf.cert_pem));
  REQUIRE(tls::write_private_key_file(dir.path() + "/ca.key", leaf.key_pem));
  auto loaded = tls::load_local_ca(dir.path(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(), "is not a CA certificate"));
}

TEST_CASE("local-ca: a CA with a weak key is refused naming ca.crt and the fix") {
  test::TempDir dir;
  auto root = test::make_ca();
  // An RSA-1024 signing CA (a CA:TRUE certificate from another CA stands in for an old one).
  auto weak = tls::issue_flawed_for_tests(test::named("old weak CA"), root,
                                          tls::KeyType::kEcdsaP256,
                                          test::flaws(1024, true));
  REQUIRE_MESSAGE(weak.is_ok(), weak.status().to_string());
  test::write_ca_dir(dir.path(), weak.value());
  auto loaded = tls::load_local_ca(dir.path(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  const std::string msg = loaded.status().message();
  CAPTURE(msg);
  CHECK(contains(msg, "CA certificate \"old weak CA\" in " + dir.path() + "/ca.crt is RSA 1024"));
  CHECK(contains(msg, "esk8s cert create-ca"));

  // Trusted but not signing: a weak CA in the bundle next to a good one is refused too.
  test::write_ca_dir(dir.path(), root, root.cert_pem + weak->cert_pem);
  loaded = tls::load_local_ca(dir.path(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(), "is RSA 1024"));
}

TEST_CASE("local-ca: a FIFO ca.crt is refused at once naming the file") {
  test::TempDir dir;
  auto ca = test::make_ca();
  test::write_ca_dir(dir.path(), ca);
  REQUIRE(::unlink((dir.path() + "/ca.crt").c_str()) == 0);
  REQUIRE(::mkfifo((dir.path() + "/ca.crt").c_str(), 0644) == 0);
  auto started = Clock::now();
  auto loaded = tls::load_local_ca(dir.path(), Clock::now());
  CHECK(Clock::now() - started < std::chrono::seconds(1));
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(),
                 "CA certificate " + dir.path() + "/ca.crt is a FIFO, not a regular file"));
}

TEST_CASE("local-ca: leaf validity is cut to the CA's remaining lifetime") {
  test::TempDir dir;
  auto ca = tls::make_self_signed_ca("short CA", tls::KeyType::kEcdsaP256, 2 * kDay);
  REQUIRE(ca.is_ok());
  test::write_ca_dir(dir.path(), ca.value());
  tls::IssueRequest req;
  req.names = test::member();
  auto issued = tls::LocalCaIssuer(dir.path()).issue(req);
  REQUIRE(issued.is_ok());
  auto leaf = tls::inspect_cert(issued->cert_pem);
  auto ca_info = tls::inspect_cert(ca->cert_pem);
  REQUIRE(leaf.is_ok());
  REQUIRE(ca_info.is_ok());
  CHECK(leaf->not_after <= ca_info->not_after);
}

TEST_CASE("local-ca: invalid names and key types reach the caller as errors") {
  test::TempDir dir;
  test::write_ca_dir(dir.path(), test::make_ca());
  tls::IssueRequest req;
  req.names = test::member();
  req.names.pod = "Bad_Pod";
  auto issued = tls::LocalCaIssuer(dir.path()).issue(req);
  REQUIRE_FALSE(issued.is_ok());
  CHECK(contains(issued.status().message(), "pod name \"Bad_Pod\""));

  req.names = test::member();
  req.key_type = tls::KeyType::kEd25519;
  auto ed = tls::LocalCaIssuer(dir.path()).issue(req);
  REQUIRE(ed.is_ok());
  CHECK(tls::inspect_cert(ed->cert_pem)->key_type == "Ed25519");
}

TEST_CASE("issuer: prepare_csr gives a CSR with the policy names and a matching fresh key") {
  tls::IssueRequest req;
  req.names = test::member();
  req.names.include_localhost = true;
  auto prepared = tls::prepare_csr(req);
  REQUIRE(prepared.is_ok());
  auto csr = tls::inspect_csr(prepared->csr_pem);
  REQUIRE(csr.is_ok());
  CHECK(csr->dns_names == prepared->names.dns_names);
  CHECK(csr->ip_addresses == std::vector<std::string>{"127.0.0.1", "::1"});
  CHECK(csr->common_name == "esdb-0.esdb.prod.svc.cluster.local");
  auto ca = test::make_ca();
  auto cert = tls::sign_csr(prepared->csr_pem, ca, std::chrono::hours(1), true, true);
  REQUIRE(cert.is_ok());
  CHECK(tls::find_cert_for_key(cert.value(), prepared->key_pem).is_ok());
}
