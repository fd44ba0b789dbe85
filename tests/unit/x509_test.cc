#include "tls/x509.h"

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tls = esk8s::tls;
using Clock = std::chrono::system_clock;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

// ---- OpenSSL-level helpers: the tests look beneath the PEM interface where it matters ----

template <auto FreeFn>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Free<X509_NAME_free>>;

BioPtr read_bio(const std::string& s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

X509Ptr parse_cert(const std::string& pem) {
  return X509Ptr(PEM_read_bio_X509(read_bio(pem).get(), nullptr, nullptr, nullptr));
}

PkeyPtr parse_key(const std::string& pem) {
  return PkeyPtr(PEM_read_bio_PrivateKey(read_bio(pem).get(), nullptr, nullptr, nullptr));
}

// Flips the last byte of the DER inside the first PEM block. For certificates and CSRs that
// byte lies in the signature value, so the structure still parses but the signature is wrong.
std::string flip_signature_byte(const std::string& pem) {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long len = 0;
  REQUIRE(PEM_read_bio(read_bio(pem).get(), &name, &header, &der, &len) == 1);
  der[len - 1] ^= 0x01;
  BioPtr out(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio(out.get(), name, header, der, len) > 0);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(der);
  return bio_text(out.get());
}

// -1 when `cert_pem` lacks extension `nid`, else its critical flag.
int extension_criticality(const std::string& cert_pem, int nid) {
  X509Ptr cert = parse_cert(cert_pem);
  REQUIRE(cert);
  int idx = X509_get_ext_by_NID(cert.get(), nid, -1);
  return idx < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(cert.get(), idx));
}

// A CSR built directly with OpenSSL, to ask for things make_csr never would: extra subject
// attributes and arbitrary extension requests (config strings like "critical,CA:TRUE").
std::string raw_csr(EVP_PKEY* key, const std::vector<std::pair<std::string, std::string>>& subject,
                    const std::vector<std::pair<int, std::string>>& extensions) {
  ReqPtr req(X509_REQ_new());
  REQUIRE(req);
  REQUIRE(X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) == 1);
  NamePtr name(X509_NAME_new());
  for (const auto& [field, value] : subject) {
    REQUIRE(X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                       -1, 0) == 1);
  }
  REQUIRE(X509_REQ_set_subject_name(req.get(), name.get()) == 1);
  REQUIRE(X509_REQ_set_pubkey(req.get(), key) == 1);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, nullptr, nid, value.c_str());
    REQUIRE(ext != nullptr);
    sk_X509_EXTENSION_push(exts, ext);
  }
  if (!extensions.empty()) REQUIRE(X509_REQ_add_extensions(req.get(), exts) == 1);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  REQUIRE(X509_REQ_sign(req.get(), key, EVP_sha256()) > 0);
  BioPtr out(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_X509_REQ(out.get(), req.get()) == 1);
  return bio_text(out.get());
}

// ---- Fixtures ----

struct KeyCase {
  tls::KeyType type;
  const char* name;  // the key_type the inspectors report
};
const KeyCase kKeyCases[] = {{tls::KeyType::kEcdsaP256, "ECDSA P-256"},
                             {tls::KeyType::kRsa2048, "RSA 2048"},
                             {tls::KeyType::kRsa3072, "RSA 3072"},
                             {tls::KeyType::kEd25519, "Ed25519"}};

// CAs are shared by the tests (key generation, RSA above all, is slow under sanitizers).
const tls::CertAndKey& ca_one() {
  static const tls::CertAndKey ca =
      tls::make_self_signed_ca("esk8s CA one", tls::KeyType::kEcdsaP256, hours(24 * 365)).value();
  return ca;
}
const tls::CertAndKey& ca_two() {
  static const tls::CertAndKey ca =
      tls::make_self_signed_ca("esk8s CA two", tls::KeyType::kEd25519, hours(24 * 365)).value();
  return ca;
}

tls::CertSpec node_spec() {
  tls::CertSpec spec;
  spec.common_name = "node-0.esk8s.default.svc.cluster.local";
  spec.dns_names = {"node-0.esk8s.default.svc.cluster.local", "*.esk8s.default.svc", "localhost"};
  spec.ip_addresses = {"10.0.0.7", "2001:db8::1", "::1"};
  return spec;
}

tls::LeafFlaws ca_flaw() {
  tls::LeafFlaws f;
  f.is_ca = true;
  return f;
}
tls::LeafFlaws rsa_flaw(int bits) {
  tls::LeafFlaws f;
  f.rsa_bits = bits;
  return f;
}

bool mentions(const esk8s::Status& status, const std::string& word) {
  return status.message().find(word) != std::string::npos;
}

}  // namespace

TEST_CASE("x509: every key type generates an unencrypted PKCS#8 key of that type") {
  for (const KeyCase& c : kKeyCases) {
    CAPTURE(c.name);
    auto key = tls::generate_key(c.type);
    REQUIRE(key.is_ok());
    CHECK(key->private_key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
    PkeyPtr parsed = parse_key(key->private_key_pem);
    REQUIRE(parsed);
    auto csr = tls::make_csr(node_spec(), key->private_key_pem);
    REQUIRE(csr.is_ok());
    auto info = tls::inspect_csr(csr.value());
    REQUIRE(info.is_ok());
    CHECK(info->key_type == c.name);
  }
  auto other = tls::generate_key(tls::KeyType::kEcdsaP256);
  auto again = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE((other.is_ok() && again.is_ok()));
  CHECK(other->private_key_pem != again->private_key_pem);
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("x509: a CA is self-signed, marked CA (critical), may sign certs, and verifies itself") {
  for (tls::KeyType type :
       {tls::KeyType::kEcdsaP256, tls::KeyType::kRsa2048, tls::KeyType::kEd25519}) {
    auto before = Clock::now();
    auto ca = tls::make_self_signed_ca("esk8s cluster CA", type, hours(48));
    REQUIRE(ca.is_ok());
    auto info = tls::inspect_cert(ca->cert_pem);
    REQUIRE(info.is_ok());
    CHECK(info->subject_cn == "esk8s cluster CA");
    CHECK(info->issuer_cn == "esk8s cluster CA");
    CHECK(info->is_ca);
    CHECK(info->key_usage_cert_sign);
    CHECK_FALSE(info->key_usage_digital_signature);
    CHECK_FALSE(info->eku_server_auth);
    CHECK(info->not_after - info->not_before == hours(48) + seconds(300));
    CHECK(info->not_before <= before - seconds(299));
    CHECK(extension_criticality(ca->cert_pem, NID_basic_constraints) == 1);
    CHECK(extension_criticality(ca->cert_pem, NID_key_usage) == 1);
    CHECK(extension_criticality(ca->cert_pem, NID_subject_key_identifier) == 0);
    X509Ptr cert = parse_cert(ca->cert_pem);
    PkeyPtr key = parse_key(ca->key_pem);
    REQUIRE((cert && key));
    CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
    CHECK(X509_check_issued(cert.get(), cert.get()) == X509_V_OK);
    CHECK(tls::verify_chain(ca->cert_pem, ca->cert_pem, Clock::now()).is_ok());
  }
  CHECK_FALSE(tls::make_self_signed_ca("", tls::KeyType::kEcdsaP256, hours(1)).is_ok());
  CHECK_FALSE(tls::make_self_signed_ca("ca", tls::KeyType::kEcdsaP256, seconds(0)).is_ok());
  CHECK_FALSE(tls::make_self_signed_ca("ca", static_cast<tls::KeyType>(42), hours(1)).is_ok());
}

TEST_CASE("x509: a CA has pathLenConstraint 0, DER-encoded as Go and kubectl parse it") {
  auto ca = tls::make_self_signed_ca("esk8s cluster CA", tls::KeyType::kEcdsaP256, hours(1));
  REQUIRE(ca.is_ok());
  auto info = tls::inspect_cert(ca->cert_pem);
  REQUIRE(info.is_ok());
  REQUIRE(info->path_length.has_value());
  CHECK(*info->path_length == 0);
  X509Ptr cert = parse_cert(ca->cert_pem);
  REQUIRE(cert);
  CHECK(X509_get_pathlen(cert.get()) == 0);
  // SEQUENCE { BOOLEAN TRUE (0xFF: DER; Go refuses 0x01), INTEGER 0 }.
  int at = X509_get_ext_by_NID(cert.get(), NID_basic_constraints, -1);
  REQUIRE(at >= 0);
  const ASN1_OCTET_STRING* der = X509_EXTENSION_get_data(X509_get_ext(cert.get(), at));
  const std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(der)),
                          size_t(ASN1_STRING_length(der)));
  CHECK(bytes == std::string("\x30\x06\x01\x01\xff\x02\x01\x00", 8));

  // A leaf has no path length, and what the CA signs cannot sign in turn: a (test-only) CA:TRUE
  // leaf's own leaf does not verify against the CA.
  auto leaf_info = tls::inspect_cert(tls::issue(node_spec(), ca.value())->cert_pem);
  REQUIRE(leaf_info.is_ok());
  CHECK_FALSE(leaf_info->path_length.has_value());
  auto rogue = tls::issue_flawed_for_tests(node_spec(), ca.value(), tls::KeyType::kEcdsaP256,
                                           ca_flaw());
  REQUIRE(rogue.is_ok());
  tls::CertSpec forged;
  forged.common_name = "esdb-9.esdb.prod.svc.cluster.local";
  forged.dns_names = {forged.common_name};
  auto below = tls::issue(forged, rogue.value());
  REQUIRE_MESSAGE(below.is_ok(), below.status().to_string());
  tls::ChainCheck chain = tls::verify_chain_classified(below->cert_pem + rogue->cert_pem,
                                                       ca->cert_pem, Clock::now());
  CHECK(chain.failure == tls::ChainFailure::kOther);
  CHECK(mentions(chain.status, "path length"));
}

TEST_CASE("x509: check_key_strength accepts RSA 2048+, P-256/384/521, Ed25519, Ed448 only") {
  for (const char* ok : {"RSA 2048", "RSA 3072", "RSA 4096", "ECDSA P-256", "ECDSA P-384",
                         "ECDSA P-521", "Ed25519", "Ed448"}) {
    CAPTURE(ok);
    CHECK(tls::check_key_strength(ok, "the key").is_ok());
  }
  esk8s::Status rsa = tls::check_key_strength("RSA 1024", "peer certificate \"x\"'s key");
  CHECK(rsa.message() == "peer certificate \"x\"'s key is RSA 1024: RSA keys need at least 2048 bits");
  for (const char* weak : {"RSA 2047", "RSA ", "RSA-PSS 2048", "ECDSA secp256k1", "ECDSA P-224",
                           "ECDSA (explicit curve parameters)", "DSA", "unknown"}) {
    CAPTURE(weak);
    esk8s::Status s = tls::check_key_strength(weak, "the key");
    CHECK_FALSE(s.is_ok());
    CHECK(mentions(s, "the key is"));
  }
}

TEST_CASE("x509: issue_flawed_for_tests makes an RSA-1024 leaf and a CA:TRUE leaf") {
  auto weak = tls::issue_flawed_for_tests(node_spec(), ca_one(), tls::KeyType::kEcdsaP256,
                                          rsa_flaw(1024));
  REQUIRE_MESSAGE(weak.is_ok(), weak.status().to_string());
  auto weak_info = tls::inspect_cert(weak->cert_pem);
  REQUIRE(weak_info.is_ok());
  CHECK(weak_info->key_type == "RSA 1024");
  CHECK_FALSE(weak_info->is_ca);
  CHECK(tls::verify_chain(weak->cert_pem, ca_one().cert_pem, Clock::now()).is_ok());

  auto ca_leaf = tls::issue_flawed_for_tests(node_spec(), ca_one(), tls::KeyType::kEcdsaP256,
                                             ca_flaw());
  REQUIRE(ca_leaf.is_ok());
  auto ca_leaf_info = tls::inspect_cert(ca_leaf->cert_pem);
  REQUIRE(ca_leaf_info.is_ok());
  CHECK(ca_leaf_info->is_ca);
  CHECK(ca_leaf_info->key_usage_cert_sign);
  CHECK(ca_leaf_info->dns_names == node_spec().dns_names);
}

TEST_CASE("x509: a CSR round-trips its CN and SANs through inspect_csr") {
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  auto csr = tls::make_csr(node_spec(), key->private_key_pem);
  REQUIRE(csr.is_ok());
  CHECK(csr->rfind("-----BEGIN CERTIFICATE REQUEST-----\n", 0) == 0);
  auto info = tls::inspect_csr(csr.value());
  REQUIRE(info.is_ok());
  CHECK(info->common_name == node_spec().common_name);
  CHECK(info->dns_names == node_spec().dns_names);
  CHECK(info->ip_addresses == node_spec().ip_addresses);
  CHECK(info->uris.empty());
  CHECK(info->emails.empty());

  SUBCASE("IPv6 literals come back in canonical form") {
    tls::CertSpec spec;
    spec.common_name = "n";
    spec.ip_addresses = {"2001:DB8:0:0:0:0:0:1", "::ffff:10.1.2.3"};
    auto csr2 = tls::make_csr(spec, key->private_key_pem);
    REQUIRE(csr2.is_ok());
    auto info2 = tls::inspect_csr(csr2.value());
    REQUIRE(info2.is_ok());
    CHECK(info2->ip_addresses == std::vector<std::string>{"2001:db8::1", "::ffff:10.1.2.3"});
  }
  SUBCASE("a CSR without SANs carries only its CN") {
    tls::CertSpec spec;
    spec.common_name = "just-a-name";
    auto csr2 = tls::make_csr(spec, key->private_key_pem);
    REQUIRE(csr2.is_ok());
    auto info2 = tls::inspect_csr(csr2.value());
    REQUIRE(info2.is_ok());
    CHECK(info2->common_name == "just-a-name");
    CHECK(info2->dns_names.empty());
    CHECK(info2->ip_addresses.empty());
  }
  SUBCASE("URI and email SANs of a foreign CSR are reported") {
    PkeyPtr pkey = parse_key(key->private_key_pem);
    std::string foreign =
        raw_csr(pkey.get(), {{"CN", "svc"}},
                {{NID_subject_alt_name,
                  "URI:spiffe://cluster.local/ns/default/sa/esk8s,email:ops@example.com"}});
    auto info2 = tls::inspect_csr(foreign);
    REQUIRE(info2.is_ok());
    CHECK(info2->uris == std::vector<std::string>{"spiffe://cluster.local/ns/default/sa/esk8s"});
    CHECK(info2->emails == std::vector<std::string>{"ops@example.com"});
  }
}

TEST_CASE("x509: a CSR with a flipped signature byte is refused by inspect_csr and sign_csr") {
  for (const KeyCase& c : kKeyCases) {
    if (c.type == tls::KeyType::kRsa3072) continue;  // same code path as RSA 2048
    CAPTURE(c.name);
    auto key = tls::generate_key(c.type);
    REQUIRE(key.is_ok());
    auto csr = tls::make_csr(node_spec(), key->private_key_pem);
    REQUIRE(csr.is_ok());
    std::string tampered = flip_signature_byte(csr.value());
    REQUIRE(tampered != csr.value());
    auto info = tls::inspect_csr(tampered);
    REQUIRE_FALSE(info.is_ok());
    CHECK(mentions(info.status(), "signature does not verify"));
    CHECK_FALSE(tls::sign_csr(tampered, ca_one(), hours(1), true, true).is_ok());
    CHECK(ERR_peek_error() == 0);
  }
}

TEST_CASE("x509: inspect_csr refuses garbage and SAN types it cannot show") {
  for (const std::string& garbage : {std::string(), std::string("hello"), ca_one().cert_pem}) {
    auto info = tls::inspect_csr(garbage);
    REQUIRE_FALSE(info.is_ok());
    CHECK(info.status().code() == esk8s::Status::Code::kInvalidArgument);
  }
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  PkeyPtr pkey = parse_key(key->private_key_pem);
  std::string dirname_csr =
      raw_csr(pkey.get(), {{"CN", "x"}}, {{NID_subject_alt_name, "DNS:ok.example,RID:1.2.3.4"}});
  CHECK_FALSE(tls::inspect_csr(dirname_csr).is_ok());
  CHECK_FALSE(tls::sign_csr(dirname_csr, ca_one(), hours(1), true, true).is_ok());
  std::string bad_dns = raw_csr(pkey.get(), {{"CN", "x"}}, {{NID_subject_alt_name, "DNS:a b"}});
  CHECK_FALSE(tls::inspect_csr(bad_dns).is_ok());
  std::string two_cns = raw_csr(pkey.get(), {{"CN", "a"}, {"CN", "b"}}, {});
  CHECK_FALSE(tls::inspect_csr(two_cns).is_ok());
  std::string nameless = raw_csr(pkey.get(), {{"O", "org"}}, {});
  CHECK_FALSE(tls::inspect_csr(nameless).is_ok());
}

TEST_CASE("x509: an invalid IP literal in a spec is an error") {
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  for (const std::string& ip :
       {std::string("10.0.0.256"), std::string("1.2.3"), std::string("1.2.3.4 "),
        std::string(" 1.2.3.4"), std::string("01.2.3.4"), std::string("fe80::1%eth0"),
        std::string("::g"), std::string(), std::string("example.com"),
        std::string("1.2.3.4\0junk", 12), std::string("10.0.0.0/8")}) {
    CAPTURE(ip);
    tls::CertSpec spec = node_spec();
    spec.ip_addresses.push_back(ip);
    auto csr = tls::make_csr(spec, key->private_key_pem);
    REQUIRE_FALSE(csr.is_ok());
    CHECK(csr.status().code() == esk8s::Status::Code::kInvalidArgument);
    CHECK(mentions(csr.status(), "is not a valid IPv4 or IPv6 literal"));
    CHECK_FALSE(tls::issue(spec, ca_one()).is_ok());
  }
}

TEST_CASE("x509: invalid DNS names and common names in a spec are errors") {
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  for (const std::string& dns :
       {std::string(), std::string("-a.example"), std::string("a..b"), std::string("*"),
        std::string("a b"), std::string("foo.*.bar"), std::string(64, 'a') + ".example",
        std::string("ex\xc3\xa4mple.com"), std::string("trailing.dot.")}) {
    CAPTURE(dns);
    tls::CertSpec spec = node_spec();
    spec.dns_names = {dns};
    auto csr = tls::make_csr(spec, key->private_key_pem);
    REQUIRE_FALSE(csr.is_ok());
    CHECK(mentions(csr.status(), "is not a valid DNS name"));
  }
  tls::CertSpec spec = node_spec();
  spec.common_name = std::string(65, 'c');
  CHECK_FALSE(tls::make_csr(spec, key->private_key_pem).is_ok());
  spec.common_name = "line\nbreak";
  CHECK_FALSE(tls::make_csr(spec, key->private_key_pem).is_ok());
  spec = tls::CertSpec{};
  CHECK_FALSE(tls::make_csr(spec, key->private_key_pem).is_ok());  // names nothing
  CHECK_FALSE(tls::make_csr(node_spec(), "not a key").is_ok());
}

TEST_CASE("x509: sign_csr copies exactly the CSR's CN and SANs into a non-CA leaf") {
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  auto csr = tls::make_csr(node_spec(), key->private_key_pem);
  REQUIRE(csr.is_ok());
  auto leaf = tls::sign_csr(csr.value(), ca_one(), hours(24), true, true);
  REQUIRE(leaf.is_ok());
  auto info = tls::inspect_cert(leaf.value());
  REQUIRE(info.is_ok());
  CHECK(info->subject_cn == node_spec().common_name);
  CHECK(info->issuer_cn == "esk8s CA one");
  CHECK(info->dns_names == node_spec().dns_names);
  CHECK(info->ip_addresses == node_spec().ip_addresses);
  CHECK_FALSE(info->is_ca);
  CHECK_FALSE(info->key_usage_cert_sign);
  CHECK(info->key_type == "ECDSA P-256");
  CHECK(extension_criticality(leaf.value(), NID_basic_constraints) == 1);
  CHECK(extension_criticality(leaf.value(), NID_key_usage) == 1);
  CHECK(extension_criticality(leaf.value(), NID_subject_alt_name) == 0);
  CHECK(extension_criticality(leaf.value(), NID_subject_key_identifier) == 0);

  X509Ptr leaf_cert = parse_cert(leaf.value());
  X509Ptr ca_cert = parse_cert(ca_one().cert_pem);
  REQUIRE((leaf_cert && ca_cert));
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(leaf_cert.get());
  const ASN1_OCTET_STRING* ca_skid = X509_get0_subject_key_id(ca_cert.get());
  REQUIRE((akid && ca_skid));
  CHECK(ASN1_OCTET_STRING_cmp(akid, ca_skid) == 0);
  CHECK(X509_get_ext_count(leaf_cert.get()) == 6);  // BC, KU, EKU, SKI, AKI, SAN
  PkeyPtr leaf_key = parse_key(key->private_key_pem);
  CHECK(X509_check_private_key(leaf_cert.get(), leaf_key.get()) == 1);
  CHECK(tls::verify_chain(leaf.value(), ca_one().cert_pem, Clock::now()).is_ok());
}

TEST_CASE("x509: sign_csr ignores requested extensions and subject attributes other than CN/SAN") {
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  PkeyPtr pkey = parse_key(key->private_key_pem);
  std::string greedy = raw_csr(pkey.get(), {{"O", "system:masters"}, {"CN", "greedy"}},
                               {{NID_basic_constraints, "critical,CA:TRUE"},
                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                {NID_ext_key_usage, "codeSigning"},
                                {NID_subject_alt_name, "DNS:greedy.example"}});
  auto leaf = tls::sign_csr(greedy, ca_one(), hours(1), /*server_auth=*/true,
                            /*client_auth=*/false);
  REQUIRE(leaf.is_ok());
  auto info = tls::inspect_cert(leaf.value());
  REQUIRE(info.is_ok());
  CHECK_FALSE(info->is_ca);
  CHECK_FALSE(info->key_usage_cert_sign);
  CHECK(info->eku_server_auth);
  CHECK_FALSE(info->eku_client_auth);
  CHECK(info->dns_names == std::vector<std::string>{"greedy.example"});
  X509Ptr cert = parse_cert(leaf.value());
  REQUIRE(cert);
  CHECK(X509_NAME_entry_count(X509_get_subject_name(cert.get())) == 1);  // no O=system:masters
  CHECK((X509_get_extended_key_usage(cert.get()) & XKU_CODE_SIGN) == 0);
}

TEST_CASE("x509: a CSR without a CN yields a leaf with an empty subject and a critical SAN") {
  tls::CertSpec spec;
  spec.dns_names = {"anonymous.example"};
  auto issued = tls::issue(spec, ca_one());
  REQUIRE(issued.is_ok());
  auto info = tls::inspect_cert(issued->cert_pem);
  REQUIRE(info.is_ok());
  CHECK(info->subject_cn.empty());
  CHECK(info->dns_names == spec.dns_names);
  CHECK(extension_criticality(issued->cert_pem, NID_subject_alt_name) == 1);
}

TEST_CASE("x509: RSA leaves get keyEncipherment, ECDSA and Ed25519 leaves do not") {
  for (const KeyCase& c : kKeyCases) {
    CAPTURE(c.name);
    auto issued = tls::issue(node_spec(), ca_one(), c.type);
    REQUIRE(issued.is_ok());
    auto info = tls::inspect_cert(issued->cert_pem);
    REQUIRE(info.is_ok());
    bool rsa = c.type == tls::KeyType::kRsa2048 || c.type == tls::KeyType::kRsa3072;
    CHECK(info->key_type == c.name);
    CHECK(info->key_usage_digital_signature);
    CHECK(info->key_usage_key_encipherment == rsa);
    CHECK_FALSE(info->key_usage_cert_sign);
    CHECK(tls::verify_chain(issued->cert_pem, ca_one().cert_pem, Clock::now()).is_ok());
  }
}

TEST_CASE("x509: extendedKeyUsage follows the server/client flags, neither is refused") {
  auto key = tls::generate_key(tls::KeyType::kEd25519);
  REQUIRE(key.is_ok());
  auto csr = tls::make_csr(node_spec(), key->private_key_pem);
  REQUIRE(csr.is_ok());
  struct Flags {
    bool server, client;
  };
  for (Flags f : {Flags{true, false}, Flags{false, true}, Flags{true, true}}) {
    bool server = f.server, client = f.client;
    CAPTURE(server);
    CAPTURE(client);
    auto leaf = tls::sign_csr(csr.value(), ca_two(), hours(1), server, client);
    REQUIRE(leaf.is_ok());
    auto info = tls::inspect_cert(leaf.value());
    REQUIRE(info.is_ok());
    CHECK(info->eku_server_auth == server);
    CHECK(info->eku_client_auth == client);
  }
  auto neither = tls::sign_csr(csr.value(), ca_two(), hours(1), false, false);
  REQUIRE_FALSE(neither.is_ok());
  CHECK(mentions(neither.status(), "serverAuth, clientAuth or both"));
}

TEST_CASE("x509: the leaf is valid from now - backdate to now + validity") {
  tls::CertSpec spec = node_spec();
  spec.validity = hours(2);
  spec.backdate = minutes(10);
  auto before = Clock::now();
  auto issued = tls::issue(spec, ca_one());
  auto after = Clock::now();
  REQUIRE(issued.is_ok());
  auto info = tls::inspect_cert(issued->cert_pem);
  REQUIRE(info.is_ok());
  CHECK(info->not_after - info->not_before == hours(2) + minutes(10));
  // Certificate times have whole seconds, so allow the truncation of `before`.
  CHECK(info->not_before >= before - minutes(10) - seconds(1));
  CHECK(info->not_before <= after - minutes(10));
  CHECK(info->not_after >= before + hours(2) - seconds(1));
  CHECK(info->not_after <= after + hours(2));

  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  auto csr = tls::make_csr(node_spec(), key->private_key_pem);
  REQUIRE(csr.is_ok());
  CHECK_FALSE(tls::sign_csr(csr.value(), ca_one(), seconds(0), true, true).is_ok());
  CHECK_FALSE(tls::sign_csr(csr.value(), ca_one(), hours(1), true, true, seconds(-1)).is_ok());
  CHECK_FALSE(tls::sign_csr(csr.value(), ca_one(), hours(24 * 366 * 101), true, true).is_ok());
}

TEST_CASE("x509: serials are random, positive and at most 159 bits") {
  std::vector<std::string> serials;
  for (int i = 0; i < 3; ++i) {
    auto issued = tls::issue(node_spec(), ca_one());
    REQUIRE(issued.is_ok());
    auto info = tls::inspect_cert(issued->cert_pem);
    REQUIRE(info.is_ok());
    const std::string& hex = info->serial_hex;
    CAPTURE(hex);
    REQUIRE_FALSE(hex.empty());
    CHECK(hex[0] != '-');
    CHECK(hex != "0");
    CHECK(hex.size() <= 40);
    if (hex.size() == 40) CHECK(hex[0] <= '7');  // top bit clear
    serials.push_back(hex);
  }
  CHECK(serials[0] != serials[1]);
  CHECK(serials[1] != serials[2]);
}

TEST_CASE("x509: sign_csr refuses a mismatched CA key, a non-CA issuer and weak CSR keys") {
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  auto csr = tls::make_csr(node_spec(), key->private_key_pem);
  REQUIRE(csr.is_ok());

  tls::CertAndKey mismatched{ca_one().cert_pem, ca_two().key_pem};
  auto r = tls::sign_csr(csr.value(), mismatched, hours(1), true, true);
  REQUIRE_FALSE(r.is_ok());
  CHECK(mentions(r.status(), "does not belong to the CA certificate"));

  auto leaf = tls::issue(node_spec(), ca_one());
  REQUIRE(leaf.is_ok());
  r = tls::sign_csr(csr.value(), leaf.value(), hours(1), true, true);
  REQUIRE_FALSE(r.is_ok());
  CHECK(mentions(r.status(), "is not a CA"));

  CHECK_FALSE(tls::sign_csr(csr.value(), tls::CertAndKey{}, hours(1), true, true).is_ok());

  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  REQUIRE(ctx);
  REQUIRE(EVP_PKEY_keygen_init(ctx.get()) == 1);
  REQUIRE(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 1024) == 1);
  EVP_PKEY* raw = nullptr;
  REQUIRE(EVP_PKEY_generate(ctx.get(), &raw) == 1);
  PkeyPtr weak(raw);
  std::string weak_csr = raw_csr(weak.get(), {{"CN", "weak"}}, {});
  auto info = tls::inspect_csr(weak_csr);
  REQUIRE(info.is_ok());
  CHECK(info->key_type == "RSA 1024");
  r = tls::sign_csr(weak_csr, ca_one(), hours(1), true, true);
  REQUIRE_FALSE(r.is_ok());
  CHECK(mentions(r.status(), "at least 2048 bits"));
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("x509: verify_chain accepts a leaf issued by the second CA of a two-CA bundle") {
  std::string bundle = ca_one().cert_pem + ca_two().cert_pem;
  auto leaf = tls::issue(node_spec(), ca_two(), tls::KeyType::kRsa2048);
  REQUIRE(leaf.is_ok());
  CHECK(tls::verify_chain(leaf->cert_pem, bundle, Clock::now()).is_ok());
  auto other = tls::issue(node_spec(), ca_one());
  REQUIRE(other.is_ok());
  CHECK(tls::verify_chain(other->cert_pem, bundle, Clock::now()).is_ok());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("x509: verify_chain refuses a leaf from a CA outside the bundle as unknown issuer") {
  auto stranger = tls::make_self_signed_ca("stranger CA", tls::KeyType::kEcdsaP256, hours(24));
  REQUIRE(stranger.is_ok());
  auto leaf = tls::issue(node_spec(), stranger.value());
  REQUIRE(leaf.is_ok());
  esk8s::Status s =
      tls::verify_chain(leaf->cert_pem, ca_one().cert_pem + ca_two().cert_pem, Clock::now());
  REQUIRE_FALSE(s.is_ok());
  CHECK(mentions(s, "unknown issuer"));

  // An impostor CA with the same name as a trusted one is still a stranger.
  auto impostor = tls::make_self_signed_ca("esk8s CA one", tls::KeyType::kEcdsaP256, hours(24));
  REQUIRE(impostor.is_ok());
  auto forged = tls::issue(node_spec(), impostor.value());
  REQUIRE(forged.is_ok());
  CHECK_FALSE(tls::verify_chain(forged->cert_pem, ca_one().cert_pem, Clock::now()).is_ok());
}

TEST_CASE("x509: verify_chain refuses a leaf after its notAfter as expired") {
  tls::CertSpec spec = node_spec();
  spec.validity = hours(1);
  auto leaf = tls::issue(spec, ca_one());
  REQUIRE(leaf.is_ok());
  auto info = tls::inspect_cert(leaf->cert_pem);
  REQUIRE(info.is_ok());
  CHECK(tls::verify_chain(leaf->cert_pem, ca_one().cert_pem, info->not_after - seconds(1)).is_ok());
  esk8s::Status s =
      tls::verify_chain(leaf->cert_pem, ca_one().cert_pem, info->not_after + seconds(1));
  REQUIRE_FALSE(s.is_ok());
  CHECK(mentions(s, "has expired"));
}

TEST_CASE("x509: verify_chain refuses a leaf before its notBefore as not yet valid") {
  tls::CertSpec spec = node_spec();
  spec.backdate = seconds(0);  // the CA is backdated 300 s, so only the leaf is in the future
  auto leaf = tls::issue(spec, ca_one());
  REQUIRE(leaf.is_ok());
  auto info = tls::inspect_cert(leaf->cert_pem);
  REQUIRE(info.is_ok());
  esk8s::Status s =
      tls::verify_chain(leaf->cert_pem, ca_one().cert_pem, info->not_before - seconds(100));
  REQUIRE_FALSE(s.is_ok());
  CHECK(mentions(s, "is not yet valid"));
}

TEST_CASE("x509: verify_chain refuses a leaf whose signature was altered") {
  auto leaf = tls::issue(node_spec(), ca_one());
  REQUIRE(leaf.is_ok());
  std::string tampered = flip_signature_byte(leaf->cert_pem);
  esk8s::Status s = tls::verify_chain(tampered, ca_one().cert_pem, Clock::now());
  REQUIRE_FALSE(s.is_ok());
  CHECK(mentions(s, "bad signature"));
  CHECK_FALSE(tls::verify_chain("garbage", ca_one().cert_pem, Clock::now()).is_ok());
  CHECK_FALSE(tls::verify_chain(leaf->cert_pem, "", Clock::now()).is_ok());
}

TEST_CASE("x509: inspect_cert refuses garbage, inspect_bundle returns every certificate") {
  for (const std::string& garbage :
       {std::string(), std::string("garbage"), std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"),
        std::string("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")}) {
    CAPTURE(garbage);
    auto info = tls::inspect_cert(garbage);
    REQUIRE_FALSE(info.is_ok());
    CHECK(info.status().code() == esk8s::Status::Code::kInvalidArgument);
    CHECK_FALSE(tls::inspect_bundle(garbage).is_ok());
  }
  CHECK(ERR_peek_error() == 0);
  auto bundle = tls::inspect_bundle(ca_one().cert_pem + "\n" + ca_two().cert_pem);
  REQUIRE(bundle.is_ok());
  REQUIRE(bundle->size() == 2);
  CHECK(bundle.value()[0].subject_cn == "esk8s CA one");
  CHECK(bundle.value()[1].subject_cn == "esk8s CA two");
  CHECK(bundle.value()[1].key_type == "Ed25519");
  // A broken certificate after a good one spoils the bundle.
  CHECK_FALSE(tls::inspect_bundle(ca_one().cert_pem +
                                  "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
                  .is_ok());
}

TEST_CASE("x509: private keys never appear in error messages") {
  const std::string& key_pem = ca_one().key_pem;
  // The first base64 line of the key.
  size_t start = key_pem.find('\n') + 1;
  std::string secret = key_pem.substr(start, key_pem.find('\n', start) - start);
  REQUIRE(secret.size() > 16);
  std::vector<esk8s::Status> failures = {
      tls::inspect_cert(key_pem).status(),
      tls::inspect_csr(key_pem).status(),
      tls::verify_chain(key_pem, key_pem, Clock::now()),
      tls::sign_csr(key_pem, ca_one(), hours(1), true, true).status(),
      tls::sign_csr("x", tls::CertAndKey{key_pem, key_pem}, hours(1), true, true).status(),
      tls::make_csr(node_spec(), key_pem.substr(0, key_pem.size() / 2)).status(),
  };
  for (const esk8s::Status& s : failures) {
    CAPTURE(s.to_string());
    CHECK_FALSE(s.is_ok());
    CHECK(s.message().find(secret) == std::string::npos);
  }
}
