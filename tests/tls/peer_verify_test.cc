#include "tls/peer_verify.h"

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/tls/tls_test_util.h"

using namespace esk8s;
using test::Clock;
using test::kDay;
using Names = std::vector<std::string>;

namespace {

const char* kIdentity = "esdb-0.esdb.prod.svc.cluster.local";

// The common input: we accept (server role) a peer claiming esdb-0 in a one-namespace cluster.
tls::PeerVerifyInput input(const std::string& chain, const std::string& bundle) {
  tls::PeerVerifyInput in;
  in.chain_pem = chain;
  in.trust_bundle_pem = bundle;
  in.claimed_identity = kIdentity;
  in.cluster_patterns = tls::cluster_allow_list("esdb", "prod", {}, "cluster.local");
  in.our_role = tls::PeerRole::kServer;
  in.now = Clock::now();
  return in;
}

tls::CertSpec spec_with(const Names& dns, const Names& ips = {}) {
  tls::CertSpec spec;
  spec.common_name = kIdentity;  // the CN always claims esdb-0: it must never count
  spec.dns_names = dns;
  spec.ip_addresses = ips;
  return spec;
}

// A certificate for esdb-0 from `ca` with `flaws` (what a hostile member would present).
tls::CertAndKey flawed(const tls::CertAndKey& ca, const tls::LeafFlaws& flaws) {
  auto issued =
      tls::issue_flawed_for_tests(spec_with({kIdentity}), ca, tls::KeyType::kEcdsaP256, flaws);
  REQUIRE_MESSAGE(issued.is_ok(), issued.status().to_string());
  return issued.value();
}

// `pem` with the last byte of its signature flipped.
std::string with_bad_signature(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                               BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr), X509_free);
  REQUIRE(cert);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  REQUIRE(len > 0);
  std::string bytes(reinterpret_cast<char*>(der), size_t(len));
  OPENSSL_free(der);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x01);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::unique_ptr<X509, decltype(&X509_free)> bad(d2i_X509(nullptr, &p, long(bytes.size())),
                                                  X509_free);
  REQUIRE(bad);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  REQUIRE(PEM_write_bio_X509(out.get(), bad.get()) == 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, size_t(n));
}

}  // namespace

TEST_CASE("peer: the member's own certificate verifies for its claimed identity in both roles") {
  auto ca = test::make_ca();
  auto cert = test::member_leaf(test::member(), ca);
  for (auto role : {tls::PeerRole::kServer, tls::PeerRole::kClient}) {
    auto in = input(cert.cert_pem, ca.cert_pem);
    in.our_role = role;
    in.claimed_identity = "ESDB-0.esdb.prod.svc.cluster.local";  // case does not matter
    tls::PeerVerdict v = tls::verify_peer(in);
    CHECK_MESSAGE(v.ok(), v.detail);
    CHECK(v.identities == Names{kIdentity});
    CHECK(tls::metric_label(v.reason) == "ok");
  }
}

TEST_CASE("peer: an empty claim returns the identities the certificate may claim") {
  auto ca = test::make_ca();
  tls::SanInput in = test::member();
  in.client_services = {"esdb-client"};
  in.include_localhost = true;
  auto cert = test::member_leaf(in, ca);
  auto check = input(cert.cert_pem, ca.cert_pem);
  check.claimed_identity = "";
  tls::PeerVerdict v = tls::verify_peer(check);
  REQUIRE(v.ok());
  // Short forms, client service names and localhost do not pass the cluster allow-list.
  CHECK(v.identities == Names{kIdentity});
}

TEST_CASE("peer: every refusal has its own reason and metric label") {
  auto ca = test::make_ca("ours");
  auto other_ca = test::make_ca("theirs");
  auto good = test::member_leaf(test::member(), ca).cert_pem;

  struct Row {
    const char* what;
    tls::PeerVerifyInput in;
    tls::PeerReason reason;
    const char* label;
  };
  auto no_client_auth = spec_with({kIdentity});
  no_client_auth.client_auth = false;
  auto no_server_auth = spec_with({kIdentity});
  no_server_auth.server_auth = false;

  std::vector<Row> rows;
  rows.push_back({"no certificate", input("", ca.cert_pem), tls::PeerReason::kNoCertificate,
                  "no_certificate"});
  rows.push_back({"garbage", input("-----BEGIN CERTIFICATE-----\nAAAA\n", ca.cert_pem),
                  tls::PeerReason::kMalformed, "malformed"});
  rows.push_back({"cert from another CA",
                  input(test::member_leaf(test::member(), other_ca).cert_pem, ca.cert_pem),
                  tls::PeerReason::kUntrustedIssuer, "untrusted_issuer"});
  {
    auto in = input(good, ca.cert_pem);
    in.now = Clock::now() + 31 * kDay;
    rows.push_back({"expired", in, tls::PeerReason::kExpired, "expired"});
  }
  {
    auto in = input(good, ca.cert_pem);
    in.now = Clock::now() - kDay;
    rows.push_back({"not yet valid", in, tls::PeerReason::kNotYetValid, "not_yet_valid"});
  }
  rows.push_back({"bad signature", input(with_bad_signature(good), ca.cert_pem),
                  tls::PeerReason::kBadSignature, "bad_signature"});
  rows.push_back({"SAN is a different identity",
                  input(test::member_leaf(test::member("esdb-1"), ca).cert_pem, ca.cert_pem),
                  tls::PeerReason::kIdentityMismatch, "identity_mismatch"});
  rows.push_back({"only an IP SAN, CN is the identity",
                  input(test::leaf(spec_with({}, {"10.244.0.5"}), ca).cert_pem, ca.cert_pem),
                  tls::PeerReason::kIpSanOnly, "ip_san_only"});
  rows.push_back({"right identity without clientAuth, we are server",
                  input(test::leaf(no_client_auth, ca).cert_pem, ca.cert_pem),
                  tls::PeerReason::kMissingClientAuth, "missing_client_auth"});
  {
    auto in = input(test::leaf(no_server_auth, ca).cert_pem, ca.cert_pem);
    in.our_role = tls::PeerRole::kClient;
    rows.push_back({"right identity without serverAuth, we are client", in,
                    tls::PeerReason::kMissingServerAuth, "missing_server_auth"});
  }
  rows.push_back(
      {"shared wildcard certificate",
       input(test::leaf(spec_with({"*.esdb.prod.svc.cluster.local"}), ca).cert_pem, ca.cert_pem),
       tls::PeerReason::kWildcardSan, "wildcard_san"});
  {
    auto staging = test::member_leaf(test::member("esdb-0", "staging"), ca).cert_pem;
    auto in = input(staging, ca.cert_pem);
    in.claimed_identity = "esdb-0.esdb.staging.svc.cluster.local";
    rows.push_back({"allow-list miss (default cluster list)", in, tls::PeerReason::kNotAllowed,
                    "not_allowed"});
    in.allow_list = {"*.esdb.prod.svc.cluster.local", "*.other.staging.svc.cluster.local"};
    rows.push_back(
        {"allow-list miss (explicit list)", in, tls::PeerReason::kNotAllowed, "not_allowed"});
  }
  rows.push_back({"RSA-1024 key from the cluster CA",
                  input(flawed(ca, test::flaws(1024, false)).cert_pem, ca.cert_pem),
                  tls::PeerReason::kWeakKey, "weak_key"});
  rows.push_back({"CA:TRUE leaf from the cluster CA",
                  input(flawed(ca, test::flaws(0, true)).cert_pem, ca.cert_pem),
                  tls::PeerReason::kLeafIsCa, "leaf_is_ca"});
  rows.push_back({"claim is no DNS name",
                  [&] {
                    auto in = input(good, ca.cert_pem);
                    in.claimed_identity = "*.esdb.prod.svc.cluster.local";
                    return in;
                  }(),
                  tls::PeerReason::kMalformed, "malformed"});

  std::set<std::string> labels;
  for (const Row& row : rows) {
    CAPTURE(row.what);
    tls::PeerVerdict v = tls::verify_peer(row.in);
    CHECK_MESSAGE(v.reason == row.reason, v.detail);
    CHECK(tls::metric_label(v.reason) == row.label);
    CHECK(v.identities.empty());
    CHECK_FALSE(v.detail.empty());
    labels.insert(row.label);
  }
  CHECK(labels.size() == 14);
}

TEST_CASE("peer: a leaf with an RSA key under 2048 bits is refused as weak_key on both sides") {
  auto ca = test::make_ca();
  auto weak = flawed(ca, test::flaws(1024, false));
  for (auto role : {tls::PeerRole::kServer, tls::PeerRole::kClient}) {
    auto in = input(weak.cert_pem, ca.cert_pem);
    in.our_role = role;
    tls::PeerVerdict v = tls::verify_peer(in);
    CHECK(v.reason == tls::PeerReason::kWeakKey);
    CHECK(test::contains(v.detail, "is RSA 1024: RSA keys need at least 2048 bits"));
    in.claimed_identity.clear();  // the accepting side before the claim: no identity either
    CHECK(tls::verify_peer(in).reason == tls::PeerReason::kWeakKey);
  }
  // RSA 2048 from the same CA passes: the refusal is about the size, not RSA.
  auto rsa2048 = tls::issue(spec_with({kIdentity}), ca, tls::KeyType::kRsa2048);
  REQUIRE(rsa2048.is_ok());
  CHECK(tls::verify_peer(input(rsa2048->cert_pem, ca.cert_pem)).ok());
}

TEST_CASE("peer: a leaf marked CA:TRUE is refused as leaf_is_ca even with the right identity") {
  auto ca = test::make_ca();
  auto rogue = flawed(ca, test::flaws(0, true));
  tls::PeerVerdict v = tls::verify_peer(input(rogue.cert_pem, ca.cert_pem));
  CHECK(v.reason == tls::PeerReason::kLeafIsCa);
  CHECK(test::contains(v.detail, "basicConstraints CA:TRUE"));
  CHECK(v.identities.empty());
}

TEST_CASE("peer: every refusal reason has its own metric label") {
  std::set<std::string> labels;
  for (tls::PeerReason r : tls::kPeerRefusals) {
    std::string label(tls::metric_label(r));
    CAPTURE(label);
    CHECK(label != "unknown");
    CHECK(label != "ok");
    CHECK(labels.insert(label).second);
  }
  CHECK(labels.count("weak_key") == 1);
  CHECK(labels.count("leaf_is_ca") == 1);
}

TEST_CASE("peer: the CN is never used as the identity") {
  auto ca = test::make_ca();
  auto cert = test::leaf(spec_with({"esdb-9.esdb.prod.svc.cluster.local"}), ca);
  tls::PeerVerdict v = tls::verify_peer(input(cert.cert_pem, ca.cert_pem));
  CHECK(v.reason == tls::PeerReason::kIdentityMismatch);
  CHECK(test::contains(v.detail, "common name is never used"));
}

TEST_CASE("peer: a wildcard certificate yields no identity on the accepting side") {
  auto ca = test::make_ca();
  auto cert = test::leaf(spec_with({"*.esdb.prod.svc.cluster.local"}), ca);
  auto in = input(cert.cert_pem, ca.cert_pem);
  in.claimed_identity = "";
  CHECK(tls::verify_peer(in).reason == tls::PeerReason::kWildcardSan);
  auto ip_only = test::leaf(spec_with({}, {"10.0.0.1"}), ca);
  in.chain_pem = ip_only.cert_pem;
  CHECK(tls::verify_peer(in).reason == tls::PeerReason::kIpSanOnly);
}

TEST_CASE("peer: a trust bundle with two CAs accepts certificates of both during a rotation") {
  auto old_ca = test::make_ca("esk8s CA");
  auto new_ca = test::make_ca("esk8s CA");
  std::string bundle = old_ca.cert_pem + new_ca.cert_pem;
  for (const auto* ca : {&old_ca, &new_ca}) {
    auto cert = test::member_leaf(test::member(), *ca);
    tls::PeerVerdict v = tls::verify_peer(input(cert.cert_pem, bundle));
    CHECK_MESSAGE(v.ok(), v.detail);
  }
  auto stranger = test::member_leaf(test::member(), test::make_ca("esk8s CA"));
  CHECK(tls::verify_peer(input(stranger.cert_pem, bundle)).reason ==
        tls::PeerReason::kUntrustedIssuer);
}

TEST_CASE("peer: the default allow-list covers our namespace and the peer namespaces") {
  auto patterns = tls::cluster_allow_list("esdb", "east", {"west", "east"}, "cluster.local");
  CHECK(patterns == Names{"*.esdb.east.svc.cluster.local", "*.esdb.west.svc.cluster.local"});
  auto ca = test::make_ca();
  auto cert = test::member_leaf(test::member("esdb-3", "west"), ca);
  auto in = input(cert.cert_pem, ca.cert_pem);
  in.claimed_identity = "esdb-3.esdb.west.svc.cluster.local";
  in.cluster_patterns = patterns;
  CHECK(tls::verify_peer(in).ok());
  in.cluster_patterns = {};
  CHECK(tls::verify_peer(in).reason == tls::PeerReason::kNotAllowed);
}

TEST_CASE("peer: an allow-list star matches exactly one label") {
  const char* p = "*.esdb.prod.svc.cluster.local";
  CHECK(tls::matches_allow_pattern("esdb-0.esdb.prod.svc.cluster.local", p));
  CHECK(tls::matches_allow_pattern("ESDB-0.ESDB.prod.svc.cluster.local", p));
  CHECK_FALSE(tls::matches_allow_pattern("a.b.esdb.prod.svc.cluster.local", p));
  CHECK_FALSE(tls::matches_allow_pattern("esdb.prod.svc.cluster.local", p));
  CHECK_FALSE(tls::matches_allow_pattern(".esdb.prod.svc.cluster.local", p));
  CHECK(tls::matches_allow_pattern("esdb-0.esdb.west.svc.cluster.local",
                                   "*.esdb.*.svc.cluster.local"));
  CHECK(tls::validate_allow_pattern("*.esdb.*.svc.cluster.local").is_ok());
  CHECK_FALSE(tls::validate_allow_pattern("esdb-*.esdb.prod").is_ok());
  CHECK_FALSE(tls::validate_allow_pattern("a..b").is_ok());
}

TEST_CASE("peer: dns_identities drops wildcards and lower-cases") {
  tls::CertInfo info;
  info.dns_names = {"A.example", "*.example", "b.example", "a.example"};
  CHECK(tls::dns_identities(info) == Names{"a.example", "b.example"});
}
