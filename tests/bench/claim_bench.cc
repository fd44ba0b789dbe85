// The cost of signed self-claims (gossip/claim.h, gossip/tls_claims.h), per key type:
//   - signatures per second (what a member pays each time its own record changes),
//   - verifications per second with the certificate already checked (what a receiver pays per
//     new record) and with a cold cache (chain check + signature: once per certificate a minute),
//   - bytes a proof adds to one member record on the wire (wire::encode of an envelope with one
//     update, with and without the proof).
// Prints a markdown section.
//
//   build/tests/bench/claim_bench [--seconds S]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gossip/claim.h"
#include "gossip/tls_claims.h"
#include "gossip/wire.h"
#include "tests/process/test_tls.h"

namespace g = esk8s::gossip;
namespace t = esk8s::test;
using Clock = std::chrono::steady_clock;

namespace {

struct KeyCase {
  const char* name;
  esk8s::tls::KeyType type;
};

// A CA and a member certificate of `type` (the CA is P-256: only the member's key signs claims).
struct Member {
  std::string bundle;
  std::shared_ptr<const g::TlsSnapshot> tls;
};

Member make_member(esk8s::tls::KeyType type) {
  auto ca = t::make_ca("bench CA");
  esk8s::tls::CertSpec spec;
  spec.common_name = t::member_identity(0);
  spec.dns_names = {t::member_identity(0)};
  auto leaf = esk8s::tls::issue(spec, ca, type).value();
  return {ca.cert_pem, t::snapshot(leaf, ca.cert_pem)};
}

g::MemberRecord sample_record() {
  g::MemberRecord r;
  r.identity = t::member_identity(0);
  r.instance = g::InstanceId::make(1'700'000'000'000ULL, 0x1234, 0x5678);
  r.incarnation = 42;
  r.address = "10.1.2.3";
  r.port = 2114;
  r.meta = std::string(120, 'm');  // about what a host status takes
  return r;
}

size_t envelope_bytes(const g::MemberRecord& r) {
  g::Envelope e;
  e.cluster = "esdb.prod";
  e.from = t::member_identity(1);
  e.from_instance = g::InstanceId{1, 1};
  e.body = g::Ack{0};
  e.updates = {r};
  return g::encode(e).size();
}

// Runs `op` repeatedly for `seconds`; returns operations per second.
template <typename Op>
double rate(double seconds, Op op) {
  const auto start = Clock::now();
  uint64_t n = 0;
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    for (int i = 0; i < 16; ++i) op(n++);
  }
  return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  const std::vector<KeyCase> keys = {{"ECDSA P-256", esk8s::tls::KeyType::kEcdsaP256},
                                     {"Ed25519", esk8s::tls::KeyType::kEd25519},
                                     {"RSA 2048", esk8s::tls::KeyType::kRsa2048}};
  std::printf("### Signed self-claims: cost per key type\n\n");
  std::printf("One core of this machine, %.0f s per figure. Sign = a member re-signs its own record "
              "(start, meta change, refutation, leave, rotation). Verify (warm) = a receiver "
              "applies a new record from a certificate it checked in the last minute. Verify "
              "(cold) = the certificate is checked too (chain, validity, EKU, SAN, allow-list).\n\n",
              seconds);
  std::printf("| key | sign/s | verify/s (warm) | verify/s (cold) | record bytes unsigned | "
              "signed | proof adds |\n|---|---|---|---|---|---|---|\n");
  for (const KeyCase& k : keys) {
    Member m = make_member(k.type);
    auto bundle = std::make_shared<std::string>(m.bundle);
    g::TlsClaimAuthority signer(m.tls, t::verifier(bundle));
    g::MemberRecord r = sample_record();
    const std::string bytes = g::signed_claim_bytes("esdb.prod", r);
    const double signs = rate(seconds, [&](uint64_t) { (void)signer.sign(bytes); });
    g::ClaimAuthority::Proof proof = signer.sign(bytes);

    g::TlsClaimAuthority warm(nullptr, t::verifier(bundle));
    bool all_ok = true;
    const double warm_rate = rate(seconds, [&](uint64_t) {
      all_ok &= warm.verify(r.identity, bytes, proof.credential, proof.signature).ok;
    });
    const double cold_rate = rate(seconds, [&](uint64_t) {
      g::TlsClaimAuthority cold(nullptr, t::verifier(bundle));  // empty cache every time
      all_ok &= cold.verify(r.identity, bytes, proof.credential, proof.signature).ok;
    });
    if (!all_ok) {
      std::fprintf(stderr, "claim_bench: a valid proof did not verify (%s)\n", k.name);
      return 1;
    }
    const size_t unsigned_bytes = envelope_bytes(r);
    r.credential = proof.credential;
    r.signature = proof.signature;
    const size_t signed_bytes = envelope_bytes(r);
    std::printf("| %s | %.0f | %.0f | %.0f | %zu | %zu | %zu (certificate %zu + signature %zu) |\n",
                k.name, signs, warm_rate, cold_rate, unsigned_bytes, signed_bytes,
                signed_bytes - unsigned_bytes, proof.credential.size(), proof.signature.size());
  }
  std::printf("\nRecord bytes: an Ack carrier with one update (meta of 120 bytes, a host status).\n");
  return 0;
}
