// TlsClaimAuthority: the production ClaimAuthority (claim.h). A member signs its own records with
// the private key of its current TLS certificate and attaches that certificate (DER) as the
// credential; a receiver accepts a record when the same PeerVerifier that guards the transport
// accepts the certificate for the record's identity (trust bundle, validity, EKU, identity SAN,
// allow-list, key strength) and the signature verifies with the certificate's public key.
//
// Signatures: ECDSA P-256/P-384 and RSA keys sign SHA-256 (ECDSA DER, RSA PKCS#1 v1.5); Ed25519
// and Ed448 sign the bytes themselves.
//
// Verified certificates are cached (key: identity + certificate bytes, at most 1024 entries, each
// trusted for 60 s before the chain is checked again so that an expired certificate or a CA
// removed from the bundle stops counting); a record therefore costs one signature verification,
// and a record whose proof the core has already verified costs none (core.cc).
//
// Thread-safety: none; used from the gossip driver's thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "gossip/claim.h"
#include "gossip/tls_snapshot.h"
#include "gossip/transport.h"

namespace esk8s::gossip {

class TlsClaimAuthority final : public ClaimAuthority {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `verifier` decides whether a certificate may speak for an identity (the transport's).
  TlsClaimAuthority(std::shared_ptr<const TlsSnapshot> tls, PeerVerifier verifier,
                    Clock clock = [] { return std::chrono::steady_clock::now(); });
  ~TlsClaimAuthority() override;

  // Signs with this certificate and key from now on (rotation).
  void set_tls(std::shared_ptr<const TlsSnapshot> tls);

  Proof sign(std::string_view bytes) override;
  Verdict verify(std::string_view identity, std::string_view bytes, std::string_view credential,
                 std::string_view signature) override;

  // For tests and metrics: certificates verified (cache misses) and verdicts served from cache.
  uint64_t certificate_checks() const { return certificate_checks_; }
  uint64_t cache_hits() const { return cache_hits_; }

 private:
  struct Verified;

  std::shared_ptr<const TlsSnapshot> tls_;
  PeerVerifier verifier_;
  Clock clock_;
  std::unordered_map<std::string, std::shared_ptr<Verified>> cache_;
  uint64_t certificate_checks_ = 0, cache_hits_ = 0;
};

}  // namespace esk8s::gossip
