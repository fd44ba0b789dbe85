// libFuzzer target for signed-record verification: whatever a member sends, checking the proofs
// of its records must not crash, leak, throw or trip a sanitizer, and a record is applied only
// when its proof holds.
//
// The input is one frame as the transport hands it to decode(). Every decoded record goes
// through the production TlsClaimAuthority (gossip/tls_claims.h): DER parsing of a hostile
// certificate, extraction of a hostile public key (any algorithm OpenSSL knows, any size),
// signature verification over signed_claim_bytes(). The certificate check itself is the
// transport's PeerVerifier, covered by its own tests; here it accepts every certificate that
// parses, so that the fuzzer reaches the signature code with keys it made up. Then the whole
// envelope is stepped through a Core using that authority, and every member the core lists must
// carry a proof that verifies.
//
// Build and run (seeds in tests/fuzz/corpus/signed_claim):
//   tests/fuzz/run_fuzz.sh . build/fuzz signed_claim 600
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "gossip/claim.h"
#include "gossip/core.h"
#include "gossip/tls_claims.h"
#include "gossip/wire.h"

using namespace esk8s::gossip;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

PeerVerifier accept_parsable() {
  return [](const std::string& pem, const std::string& identity, bool) {
    PeerCheck c;
    c.ok = !pem.empty();
    c.reason = c.ok ? "" : "bad_certificate";
    c.identities = {identity};
    return c;
  };
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto decoded = decode(std::span<const uint8_t>(data, size));
  if (!decoded.is_ok()) return 0;
  const Envelope& e = decoded.value();

  // No local certificate: sign() returns an empty proof, which is all this target needs.
  auto authority = std::make_shared<TlsClaimAuthority>(nullptr, accept_parsable());
  for (const MemberRecord& r : e.updates) {
    const std::string bytes = signed_claim_bytes(e.cluster, r);
    ClaimAuthority::Verdict v = authority->verify(r.identity, bytes, r.credential, r.signature);
    check(v.ok || !v.detail.empty());
    // A verdict is a pure function of its inputs (the cache must not change the answer).
    check(authority->verify(r.identity, bytes, r.credential, r.signature).ok == v.ok);
  }

  Config config = Config::local();
  config.cluster_name = e.cluster.empty() ? "esk8s" : e.cluster.substr(0, kMaxClusterNameBytes);
  LocalMember local{"self.fuzz", InstanceId{1, 1}, "127.0.0.1", 7946, ""};
  Core core(config, local, authority, 1, Time(std::chrono::hours(1)));
  core.step(e, e.from, Time(std::chrono::hours(1)));
  for (const MemberView& m : core.members()) {
    if (m.is_self) continue;
    ClaimAuthority::Verdict v = authority->verify(
        m.record.identity, signed_claim_bytes(config.cluster_name, m.record), m.record.credential,
        m.record.signature);
    check(v.ok);
    check(valid_identity_name(m.record.identity));
  }
  return 0;
}
