// Signed self-claims: a member speaks only for itself.
//
// Every member record that travels (piggybacked updates, push-pull) carries its member's own
// signature over the fields that member controls: cluster, identity, instance, incarnation,
// address, port, meta and whether it is alive or has left. Relays forward records unchanged. A
// receiver applies a record only when a ClaimAuthority confirms that the credential belongs to
// the record's identity (in production: a certificate from the trust bundle whose SAN is the
// identity and which the allow-list accepts) and that the signature over signed_claim_bytes() was
// made with its key. So:
//   * address, instance and meta change only through that identity's signature;
//   * "superseded" needs a signed record of the newer instance;
//   * an accusation (Suspect/Dead) carries the proof of the Alive record it accuses, so it can
//     name only an incarnation the member signed, which the member can always out-bid;
//   * incarnations never wrap: nobody else can name one the member has not reached.
// What an authenticated but malicious member can still do is documented in docs/ARCHITECTURE.md
// ("Threat model"): accuse (refutably), delay, drop.
//
// The core stays sans-IO: signing and verifying go through the ClaimAuthority interface (OpenSSL
// in gossip/tls_claims.h, a deterministic stand-in in the simulator).
//
// Thread-safety: the free functions are pure; a ClaimAuthority is used from one thread.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "gossip/message.h"

namespace esk8s::gossip {

// The state a member signs: kLeft for Left records, kAlive for every other (an accusation is
// about the Alive record it names).
MemberState signed_state(MemberState s);

// The exact bytes a member signs for `r` in cluster `cluster` (a versioned, length-prefixed
// encoding; state replaced by signed_state; accuser, credential and signature excluded).
std::string signed_claim_bytes(std::string_view cluster, const MemberRecord& r);

// True when `a` and `b` carry the same signed content and the same proof (so the proof of one
// is the proof of the other, and it need not be verified again).
bool same_signed_content(const MemberRecord& a, const MemberRecord& b);

// A lower-case DNS name: 1..253 bytes, labels of 1..63 [a-z0-9-] not starting or ending with
// '-', no empty label, no trailing dot. Identities that are not are dropped before anything else.
bool valid_identity_name(std::string_view s);

// Why a claim was not applied (a stable metric label: esk8s_gossip_claims_rejected_total).
enum class ClaimRejection : uint8_t {
  kInvalidIdentity,  // not a lower-case DNS name
  kNotAllowed,       // the authority refuses the identity or its credential
  kBadSignature,     // the signature does not verify with the credential's key
  kTableFull,        // a new identity while the table is at its cap (Config::max_members)
  kForgedSelf,       // a claim about us that we never signed (incarnation above ours, ...)
};
inline constexpr std::array<ClaimRejection, 5> kAllClaimRejections = {
    ClaimRejection::kInvalidIdentity, ClaimRejection::kNotAllowed, ClaimRejection::kBadSignature,
    ClaimRejection::kTableFull, ClaimRejection::kForgedSelf};
// "invalid_identity", "not_allowed", "bad_signature", "table_full", "forged_self".
const char* to_string(ClaimRejection r);

// Signs this member's own records and verifies everyone's.
class ClaimAuthority {
 public:
  struct Proof {
    std::string credential;
    std::string signature;
  };
  // Either ok, or the reason the proof is refused and a sentence for the log.
  struct Verdict {
    bool ok = false;
    ClaimRejection reason = ClaimRejection::kNotAllowed;
    std::string detail;
  };

  virtual ~ClaimAuthority() = default;
  // The local member's proof of `bytes` (empty signature when it cannot sign, e.g. no key yet:
  // peers then refuse the record, which is the safe failure).
  virtual Proof sign(std::string_view bytes) = 0;
  // Whether `credential` belongs to `identity` now and `signature` over `bytes` verifies with it.
  virtual Verdict verify(std::string_view identity, std::string_view bytes,
                         std::string_view credential, std::string_view signature) = 0;
};

}  // namespace esk8s::gossip
