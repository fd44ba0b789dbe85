// Peer verification: what the gossip transport runs after every mutual-TLS handshake, on both
// sides, before it believes anything the peer says. One pure function from (the peer's chain, our
// trust bundle, the identity the peer claims, the allow-list, our role, now) to a verdict with a
// reason per failure and a stable metric label per reason
// (esk8s_gossip_tls_rejections_total{reason="expired"}).
//
// Rules, in the order they are checked (the first failure is the verdict):
//   1. a certificate is present and parses                      no_certificate, malformed
//   2. it chains to a CA of the trust bundle at `now`; the bundle may hold several CAs (rotation)
//                                             untrusted_issuer, expired, not_yet_valid,
//                                             bad_signature, invalid_chain
//   3. the leaf is no CA (basicConstraints CA:TRUE would let its holder sign further "members";
//      a CA without a path length, as older esk8s versions made them, would accept those) and
//      its key is strong enough: RSA of at least 2048 bits, ECDSA on P-256/P-384/P-521, Ed25519
//      or Ed448 (check_key_strength in x509.h)          leaf_is_ca, weak_key
//   4. extendedKeyUsage fits the peer's role: when we accept (kServer) the peer is a TLS client
//      and needs clientAuth; when we dial (kClient) it is a server and needs serverAuth. A
//      certificate without the extension is refused too (RFC 5280 would read that as "any
//      purpose"; esk8s asks for the purpose to be stated)
//                                             missing_client_auth, missing_server_auth
//   5. the claimed identity equals one of its DNS SANs exactly (ASCII case-insensitive).
//      The CN is never looked at. Wildcard SANs never satisfy an identity: a certificate for
//      "*.esdb.prod.svc.cluster.local" shared by the members would let any holder claim to be any
//      member, which is exactly what identities exist to prevent
//                                             identity_mismatch, ip_san_only, wildcard_san
//   6. the identity matches the allow-list                      not_allowed
// With an empty claimed identity (the accepting side before the peer has said who it is) steps 5
// and 6 instead collect every non-wildcard DNS SAN that passes the allow-list: the identities the
// peer may go on to claim; none is a failure with the reason of the closest miss.
//
// Allow-list patterns are DNS names in which a label may be "*", matching exactly one label
// ("*.esdb.prod.svc.cluster.local" matches "esdb-0.esdb.prod.svc.cluster.local", not
// "a.b.esdb.prod.svc.cluster.local" nor "esdb.prod.svc.cluster.local"). Decision: an empty
// allow-list does not mean "allow everything the CA signed" (a CA shared with other workloads
// would let them join); it means "the configured cluster": cluster_allow_list() — every pod of
// the headless service in our namespace and the peer namespaces. Only if both lists are empty is
// everything refused.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tls/x509.h"

namespace esk8s::tls {

// Our side of the TLS connection.
enum class PeerRole {
  kServer,  // we accepted; the peer is a client (needs clientAuth)
  kClient,  // we dialled; the peer is a server (needs serverAuth)
};

enum class PeerReason {
  kOk,
  kNoCertificate,    // the peer sent no certificate
  kMalformed,        // its certificate (or our bundle) does not parse, or the claim is no name
  kUntrustedIssuer,  // no CA of the trust bundle issued it
  kExpired,          // a certificate of the chain is past notAfter
  kNotYetValid,      // a certificate of the chain is before notBefore
  kBadSignature,     // a signature does not verify
  kInvalidChain,     // any other chain error (e.g. an intermediate that is not a CA)
  kMissingClientAuth,
  kMissingServerAuth,
  kIdentityMismatch,  // its DNS SANs name other identities (or it has none; the CN is ignored)
  kIpSanOnly,         // only IP SANs: no DNS identity at all
  kWildcardSan,       // the claimed identity is covered only by a wildcard SAN
  kNotAllowed,        // the identity fails the allow-list
  kLeafIsCa,          // the leaf has basicConstraints CA:TRUE
  kWeakKey,           // the leaf's key is weaker than esk8s accepts (RSA < 2048, other curves)
};
// Every reason but kOk, in declaration order (the tests check each has its own metric label).
inline constexpr PeerReason kPeerRefusals[] = {
    PeerReason::kNoCertificate,     PeerReason::kMalformed,         PeerReason::kUntrustedIssuer,
    PeerReason::kExpired,           PeerReason::kNotYetValid,       PeerReason::kBadSignature,
    PeerReason::kInvalidChain,      PeerReason::kMissingClientAuth, PeerReason::kMissingServerAuth,
    PeerReason::kIdentityMismatch,  PeerReason::kIpSanOnly,         PeerReason::kWildcardSan,
    PeerReason::kNotAllowed,        PeerReason::kLeafIsCa,          PeerReason::kWeakKey,
};

// "ok", "no_certificate", "malformed", "untrusted_issuer", "expired", "not_yet_valid",
// "bad_signature", "invalid_chain", "missing_client_auth", "missing_server_auth",
// "identity_mismatch", "ip_san_only", "wildcard_san", "not_allowed", "leaf_is_ca", "weak_key".
// Stable: metric labels.
std::string_view metric_label(PeerReason reason);

struct PeerVerifyInput {
  std::string chain_pem;                // the peer's chain, leaf first; empty when it sent none
  std::string trust_bundle_pem;         // our CAs (several during a rotation)
  std::string claimed_identity;         // empty: "which identities could this certificate claim?"
  std::vector<std::string> allow_list;  // operator patterns; empty -> cluster_patterns
  std::vector<std::string> cluster_patterns;  // cluster_allow_list(...) of our configuration
  PeerRole our_role = PeerRole::kServer;
  std::chrono::system_clock::time_point now;
};

struct PeerVerdict {
  PeerReason reason = PeerReason::kMalformed;
  // On success: the claimed identity (lower case) or, for an empty claim, every identity the
  // certificate may claim, in certificate order. Empty on failure.
  std::vector<std::string> identities;
  std::string detail;  // a sentence for the log (names, never key material)
  bool ok() const { return reason == PeerReason::kOk; }
};

PeerVerdict verify_peer(const PeerVerifyInput& in);

// The DNS SANs of `cert` that can be identities: non-wildcard, lower-cased, in certificate order.
std::vector<std::string> dns_identities(const CertInfo& cert);

// ASCII case-insensitive equality of DNS names.
bool dns_name_equal(std::string_view a, std::string_view b);

// Whether `name` matches `pattern` ('*' = exactly one label; ASCII case-insensitive).
bool matches_allow_pattern(std::string_view name, std::string_view pattern);

// Ok when `pattern` is a DNS name whose labels are DNS-1123 labels or "*"; else invalid_argument
// naming it. For configuration validation.
Status validate_allow_pattern(std::string_view pattern);

// "*.<service>.<ns>.svc.<domain>" for our namespace and each peer namespace, deduplicated.
std::vector<std::string> cluster_allow_list(const std::string& service,
                                            const std::string& namespace_name,
                                            const std::vector<std::string>& peer_namespaces,
                                            const std::string& cluster_domain);

}  // namespace esk8s::tls
