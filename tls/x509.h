// X.509 building blocks for esk8s TLS: private keys, a self-signed cluster CA, CSRs, signing a CSR
// into a leaf certificate, inspecting certificates and CSRs, and verifying a certificate against a
// trust bundle. Everything crosses this interface as PEM text, so callers need not include
// OpenSSL; the implementation uses OpenSSL 3 (EVP / X509 APIs only).
//
// Errors are Status values naming what failed; private key material never appears in them.
//
// Thread-safety: pure functions of their arguments (plus the clock and OpenSSL's RNG); safe to
// call from several threads at once.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace esk8s::tls {

enum class KeyType { kEcdsaP256, kRsa2048, kRsa3072, kEd25519 };

struct KeyPem {
  std::string private_key_pem;  // unencrypted PKCS#8 ("BEGIN PRIVATE KEY")
};

// A fresh private key of `type`.
Result<KeyPem> generate_key(KeyType type);

// What a certificate should contain.
struct CertSpec {
  std::string common_name;                // may be empty only when there is at least one SAN
  std::vector<std::string> dns_names;     // DNS SANs ("*." allowed as the first label)
  std::vector<std::string> ip_addresses;  // IP SANs (IPv4 or IPv6 literals); invalid -> error
  std::chrono::seconds validity{30 * 24 * 3600};
  std::chrono::seconds backdate{300};  // notBefore = now - backdate (clock skew)
  bool server_auth = true;             // extendedKeyUsage serverAuth
  bool client_auth = true;             // extendedKeyUsage clientAuth
};

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8 PEM of the certificate's private key
};

// A self-signed CA certificate (basicConstraints CA:TRUE with pathLenConstraint 0, critical;
// keyUsage keyCertSign+cRLSign critical; subjectKeyIdentifier) with a fresh key of `type`. The
// path length 0 means certificates it signs can never sign further certificates that chain to
// it, even one marked CA:TRUE by mistake. notBefore is backdated 300 s for
// clock skew; notAfter = now + validity. `common_name` must be non-empty.
Result<CertAndKey> make_self_signed_ca(const std::string& common_name, KeyType type,
                                       std::chrono::seconds validity);

// A PKCS#10 CSR (PEM) for `spec` (CN + SAN extension request) signed by `key_pem`. Only the
// names of `spec` go into the CSR; validity and EKU flags are the signer's business.
Result<std::string> make_csr(const CertSpec& spec, const std::string& key_pem);

// What a CSR asks for (after verifying its self-signature; a bad signature is an error). A CSR
// with a SAN type that cannot be shown here (otherName, directoryName, ...) or a malformed name is
// an error too, so that what is inspected is exactly what sign_csr would sign. IP addresses are
// in canonical text form (inet_ntop).
struct CsrInfo {
  std::string common_name;
  std::vector<std::string> dns_names, ip_addresses, uris, emails;
  std::string key_type;  // "ECDSA P-256", "RSA 2048", "Ed25519", ...
};
Result<CsrInfo> inspect_csr(const std::string& csr_pem);

// Signs a CSR with a CA: copies subject CN and the SANs from the CSR (never trusting any other
// requested extension or subject attribute), sets basicConstraints CA:FALSE, keyUsage
// digitalSignature (+keyEncipherment when the CSR key is RSA), extendedKeyUsage per the flags
// (at least one must be set: a certificate without EKU would be good for every purpose),
// subject/authority key identifiers, a random positive serial of at most 159 bits, and
// notBefore = now - backdate, notAfter = now + validity. Returns the leaf certificate PEM.
// The CSR key must be RSA >= 2048 bits, ECDSA on P-256/P-384/P-521, Ed25519 or Ed448; `ca` must be
// a CA certificate whose key matches it.
Result<std::string> sign_csr(const std::string& csr_pem, const CertAndKey& ca,
                             std::chrono::seconds validity, bool server_auth, bool client_auth,
                             std::chrono::seconds backdate = std::chrono::seconds(300));

// Convenience: key + CSR + sign in one step (used by tests and simulators).
Result<CertAndKey> issue(const CertSpec& spec, const CertAndKey& ca,
                         KeyType type = KeyType::kEcdsaP256);

// What a certificate contains (for `esk8s cert inspect`, peer checks, tests). Key usage and EKU
// flags are false when the certificate has no such extension.
struct CertInfo {
  std::string subject_cn, issuer_cn;  // empty when the name has no CN
  std::vector<std::string> dns_names, ip_addresses;
  std::chrono::system_clock::time_point not_before, not_after;
  bool is_ca = false;  // basicConstraints CA:TRUE
  // A CA's pathLenConstraint (0: it signs leaves only); nullopt when it sets none (any depth)
  // or is no CA.
  std::optional<long> path_length;
  bool key_usage_digital_signature = false, key_usage_key_encipherment = false,
       key_usage_cert_sign = false;
  bool eku_server_auth = false, eku_client_auth = false;
  std::string key_type;    // as in CsrInfo
  std::string serial_hex;  // upper-case hex, no separators
};
// The first certificate of `cert_pem`.
Result<CertInfo> inspect_cert(const std::string& cert_pem);
// All certificates of a PEM bundle (for trust bundles holding several CAs); at least one.
Result<std::vector<CertInfo>> inspect_bundle(const std::string& pem);

// Verifies `cert_pem` chains to one of the CAs in `trust_bundle_pem` (which may hold several) at
// time `at`. The first certificate of `cert_pem` is the one verified; any further ones are
// untrusted intermediates. The chain must end at a self-signed CA of the bundle. Returns ok or an
// error whose message says why (expired, not yet valid, unknown issuer, bad signature).
Status verify_chain(const std::string& cert_pem, const std::string& trust_bundle_pem,
                    std::chrono::system_clock::time_point at);

// ---- Helpers for the issuers, the `files` source and peer verification ----

// The first certificate of `bundle_pem` (which may hold several, e.g. old and new CA during a
// rotation) whose public key belongs to the private key `key_pem`, as its position in the bundle
// and its PEM. not_found when no certificate matches; invalid_argument when either input cannot be
// parsed. Messages never contain key material.
struct MatchedCert {
  size_t index = 0;
  std::string cert_pem;
};
Result<MatchedCert> find_cert_for_key(const std::string& bundle_pem, const std::string& key_pem);

// Why verify_chain refused, as a value callers can switch on (peer verification turns it into a
// metric label).
enum class ChainFailure {
  kNone,           // the chain verified
  kExpired,        // some certificate of the chain is past its notAfter at `at`
  kNotYetValid,    // some certificate of the chain is before its notBefore at `at`
  kUnknownIssuer,  // no CA of the trust bundle issued it
  kBadSignature,   // a signature does not verify (altered certificate or wrong issuer key)
  kUnparsable,     // the certificate or the bundle is not PEM certificates
  kOther,          // any other chain error (an intermediate that is not a CA, ...)
};
struct ChainCheck {
  ChainFailure failure = ChainFailure::kNone;
  Status status;  // ok, or the same sentence verify_chain returns
};
// verify_chain with the failure classified. Same inputs and semantics as verify_chain.
ChainCheck verify_chain_classified(const std::string& cert_pem, const std::string& trust_bundle_pem,
                                   std::chrono::system_clock::time_point at);

// Ok when a key described as `key_type` (the vocabulary of CertInfo/CsrInfo::key_type) is one
// esk8s accepts: RSA of at least 2048 bits, ECDSA on P-256, P-384 or P-521, Ed25519, Ed448.
// Otherwise invalid_argument "<what> is RSA 1024: RSA keys need at least 2048 bits" (or the list
// of accepted types). The one rule behind signing (CSR keys), peer verification (the peer's
// leaf) and the issuers' checks of our own certificate and CA.
Status check_key_strength(std::string_view key_type, const std::string& what);

// ---- For tests only: certificates esk8s never issues ----

// What a hostile member's certificate may get wrong although the cluster CA signed it.
struct LeafFlaws {
  int rsa_bits = 0;    // > 0: an RSA key of this many bits (e.g. 1024), no strength check
  bool is_ca = false;  // basicConstraints CA:TRUE and keyUsage keyCertSign instead of CA:FALSE
};

// issue() with `flaws` applied (`type` is ignored when flaws.rsa_bits is set). Tests and the
// adversarial harness use it to build what a hostile member would present; product code never
// calls it.
Result<CertAndKey> issue_flawed_for_tests(const CertSpec& spec, const CertAndKey& ca,
                                          KeyType type, const LeafFlaws& flaws);

}  // namespace esk8s::tls
