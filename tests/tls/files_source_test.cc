#include "tls/files_source.h"

#include <doctest/doctest.h>

#include <string>

#include "tests/tls/tls_test_util.h"

using namespace esk8s;
using test::Clock;
using test::contains;

namespace {

// Writes tls.crt, tls.key and ca.crt as a Kubernetes TLS Secret volume would hold them.
void write_set(const std::string& dir, const tls::CertAndKey& leaf, const std::string& ca_pem) {
  REQUIRE(tls::write_certificate_file(dir + "/tls.crt", leaf.cert_pem));
  REQUIRE(tls::write_private_key_file(dir + "/tls.key", leaf.key_pem));
  REQUIRE(tls::write_certificate_file(dir + "/ca.crt", ca_pem));
}

tls::CertSpec policy_spec(const tls::SanInput& in) {
  auto spec = tls::to_cert_spec(in, std::chrono::hours(24 * 30));
  REQUIRE(spec.is_ok());
  return spec.value();
}

}  // namespace

TEST_CASE("files: a good set loads without warnings") {
  test::TempDir dir;
  auto ca = test::make_ca();
  auto leaf = test::member_leaf(test::member(), ca);
  write_set(dir.path(), leaf, ca.cert_pem);
  tls::FilesSource source(dir.path());
  CHECK(std::string(source.mode()) == "files");
  auto loaded = source.load(test::member(), Clock::now());
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().to_string());
  CHECK(loaded->warnings.empty());
  CHECK(loaded->material.cert_pem == leaf.cert_pem);
  CHECK(loaded->material.key_pem == leaf.key_pem);
  CHECK(loaded->material.trust_bundle_pem == ca.cert_pem);
  CHECK(loaded->leaf.subject_cn == "esdb-0.esdb.prod.svc.cluster.local");

  tls::IssueRequest req;
  req.names = test::member();
  auto issued = source.issue(req);
  REQUIRE(issued.is_ok());
  CHECK(issued->cert_pem == leaf.cert_pem);
}

TEST_CASE("files: a certificate with IP SANs loads with an ip_san warning") {
  test::TempDir dir;
  auto ca = test::make_ca();
  tls::CertSpec spec = policy_spec(test::member());
  spec.ip_addresses = {"10.244.1.7"};
  write_set(dir.path(), test::leaf(spec, ca), ca.cert_pem);
  tls::FilesSource source(dir.path());
  auto loaded = source.load(test::member(), Clock::now());
  REQUIRE(loaded.is_ok());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(loaded->warnings[0].code == "ip_san");
  CHECK(contains(loaded->warnings[0].sentence, "10.244.1.7"));
  CHECK(source.last_warnings().size() == 1);
}

TEST_CASE("files: loopback IP SANs are no warning when localhost is configured") {
  test::TempDir dir;
  auto ca = test::make_ca();
  tls::SanInput in = test::member();
  in.include_localhost = true;
  write_set(dir.path(), test::member_leaf(in, ca), ca.cert_pem);
  auto loaded = tls::FilesSource(dir.path()).load(in, Clock::now());
  REQUIRE(loaded.is_ok());
  CHECK(loaded->warnings.empty());
}

TEST_CASE(
    "files: a certificate lacking the names peer namespaces use gets a missing_peer_name warning") {
  test::TempDir dir;
  auto ca = test::make_ca();
  tls::CertSpec spec;
  spec.common_name = "esdb-0.esdb.prod.svc.cluster.local";
  spec.dns_names = {"esdb-0.esdb.prod.svc.cluster.local"};
  write_set(dir.path(), test::leaf(spec, ca), ca.cert_pem);
  tls::SanInput in = test::member();
  CHECK(tls::FilesSource(dir.path()).load(in, Clock::now())->warnings.empty());
  in.peer_namespaces = {"west"};
  auto loaded = tls::FilesSource(dir.path()).load(in, Clock::now());
  REQUIRE(loaded.is_ok());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(loaded->warnings[0].code == "missing_peer_name");
  CHECK(contains(loaded->warnings[0].sentence, "esdb-0.esdb.prod.svc, esdb-0.esdb.prod"));
}

TEST_CASE("files: a certificate without the pod identity is an error naming the identity") {
  test::TempDir dir;
  auto ca = test::make_ca();
  write_set(dir.path(), test::member_leaf(test::member("esdb-1"), ca), ca.cert_pem);
  auto loaded = tls::FilesSource(dir.path()).load(test::member("esdb-0"), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(), "does not name this pod"));
  CHECK(contains(loaded.status().message(), "esdb-0.esdb.prod.svc.cluster.local"));
}

TEST_CASE("files: a key that does not belong to the certificate is an error") {
  test::TempDir dir;
  auto ca = test::make_ca();
  auto leaf = test::member_leaf(test::member(), ca);
  auto other = test::member_leaf(test::member(), ca);
  leaf.key_pem = other.key_pem;
  write_set(dir.path(), leaf, ca.cert_pem);
  auto loaded = tls::FilesSource(dir.path()).load(test::member(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(), "does not belong to certificate"));
  CHECK_FALSE(contains(loaded.status().message(), "PRIVATE KEY"));
}

TEST_CASE("files: a certificate from another CA or an expired one is an error") {
  test::TempDir dir;
  auto ca = test::make_ca("ours");
  auto other = test::make_ca("theirs");
  write_set(dir.path(), test::member_leaf(test::member(), other), ca.cert_pem);
  auto foreign = tls::FilesSource(dir.path()).load(test::member(), Clock::now());
  REQUIRE_FALSE(foreign.is_ok());
  CHECK(contains(foreign.status().message(), "does not chain to"));

  write_set(dir.path(), test::member_leaf(test::member(), ca), ca.cert_pem);
  auto later = tls::FilesSource(dir.path()).load(test::member(), Clock::now() + 31 * test::kDay);
  REQUIRE_FALSE(later.is_ok());
  CHECK(contains(later.status().message(), "has expired"));
}

TEST_CASE("files: a certificate without clientAuth is an error") {
  test::TempDir dir;
  auto ca = test::make_ca();
  tls::CertSpec spec = policy_spec(test::member());
  spec.client_auth = false;
  write_set(dir.path(), test::leaf(spec, ca), ca.cert_pem);
  auto loaded = tls::FilesSource(dir.path()).load(test::member(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(), "lacks extendedKeyUsage clientAuth"));
}

TEST_CASE("files: a weak key, a CA:TRUE certificate or a weak CA is an error naming the file") {
  test::TempDir dir;
  auto ca = test::make_ca();
  auto flawed = [&](tls::LeafFlaws flaws) {
    auto issued = tls::issue_flawed_for_tests(policy_spec(test::member()), ca,
                                              tls::KeyType::kEcdsaP256, flaws);
    REQUIRE_MESSAGE(issued.is_ok(), issued.status().to_string());
    return issued.value();
  };
  const std::string cert_path = dir.path() + "/tls.crt";

  write_set(dir.path(), flawed(test::flaws(1024, false)), ca.cert_pem);
  auto loaded = tls::FilesSource(dir.path()).load(test::member(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(),
                 "the key of certificate " + cert_path + " is RSA 1024: RSA keys need at least"));
  CHECK(contains(loaded.status().message(), "ECDSA P-256"));

  write_set(dir.path(), flawed(test::flaws(0, true)), ca.cert_pem);
  loaded = tls::FilesSource(dir.path()).load(test::member(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(), "certificate " + cert_path + " is a CA certificate"));
  CHECK(contains(loaded.status().message(), "isCA: false"));

  auto weak_ca = tls::issue_flawed_for_tests(test::named("weak CA"), ca,
                                             tls::KeyType::kEcdsaP256,
                                             test::flaws(1024, true));
  REQUIRE(weak_ca.is_ok());
  write_set(dir.path(), test::member_leaf(test::member(), ca), ca.cert_pem + weak_ca->cert_pem);
  loaded = tls::FilesSource(dir.path()).load(test::member(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(),
                 "CA certificate \"weak CA\" in " + dir.path() + "/ca.crt is RSA 1024"));
}

TEST_CASE("files: a missing file is an error naming it") {
  test::TempDir dir;
  auto ca = test::make_ca();
  write_set(dir.path(), test::member_leaf(test::member(), ca), ca.cert_pem);
  std::filesystem::remove(dir.path() + "/ca.crt");
  auto loaded = tls::FilesSource(dir.path()).load(test::member(), Clock::now());
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(contains(loaded.status().message(), dir.path() + "/ca.crt"));
}

TEST_CASE("files: changed() follows the content of the three files") {
  test::TempDir dir;
  auto ca = test::make_ca();
  write_set(dir.path(), test::member_leaf(test::member(), ca), ca.cert_pem);
  tls::FilesSource source(dir.path());
  CHECK(source.changed());  // never loaded
  REQUIRE(source.load(test::member(), Clock::now()).is_ok());
  CHECK_FALSE(source.changed());
  CHECK_FALSE(source.changed());

  // A rewrite with the same bytes is no change; a renewed certificate is.
  REQUIRE(tls::write_certificate_file(dir.path() + "/ca.crt", ca.cert_pem));
  CHECK_FALSE(source.changed());
  write_set(dir.path(), test::member_leaf(test::member(), ca), ca.cert_pem);
  CHECK(source.changed());
  REQUIRE(source.load(test::member(), Clock::now()).is_ok());
  CHECK_FALSE(source.changed());

  // A broken set is a change once; after the failed load it is reported as unchanged.
  std::filesystem::remove(dir.path() + "/tls.key");
  CHECK(source.changed());
  CHECK_FALSE(source.load(test::member(), Clock::now()).is_ok());
  CHECK_FALSE(source.changed());
}
