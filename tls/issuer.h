// Issuer: where a member's certificate comes from (ESK8S_TLS_MODE). Three implementations share
// this interface so the driver that installs and rotates TLS contexts does not care which runs:
//   local-ca        LocalCaIssuer: signs in-process with a CA mounted as files (local_ca_issuer.h)
//   files           FilesSource: takes what cert-manager or a CSI driver wrote (files_source.h)
//   kubernetes-csr  submits prepare_csr()'s CSR to the certificates.k8s.io API and waits for it
//                   to be approved and signed (its own file)
//
// Contract: issue() blocks until it has a certificate, failed, or `deadline` passed (only an
// issuer that waits for someone else, kubernetes-csr, gets near it). Call it from a worker thread,
// never from the event loop. Errors are Status sentences for the operator; key material never
// appears in them.
//
// Thread-safety: an Issuer is used by one thread at a time (the TLS driver's); implementations
// say if they allow more.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"
#include "tls/key_type.h"
#include "tls/san_policy.h"
#include "tls/x509.h"

namespace esk8s::tls {

// Default lifetime of an issued leaf certificate; rotation renews at 2/3 of it (20 days).
constexpr std::chrono::seconds kDefaultLeafValidity{30 * 24 * 3600};

struct IssueRequest {
  SanInput names;                      // who the certificate is for (see san_policy.h)
  KeyType key_type = kDefaultKeyType;  // ignored by `files` (the key is what was mounted)
  std::chrono::seconds validity = kDefaultLeafValidity;  // a request; a signer may shorten it
  // Latest time issue() may return by (kubernetes-csr polls for approval until then).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct Issued {
  std::string cert_pem;          // the leaf first, then any intermediates (never the root)
  std::string key_pem;           // PKCS#8 PEM of the leaf's private key
  std::string trust_bundle_pem;  // every CA peers may be signed by (several during a rotation)
};

class Issuer {
 public:
  virtual ~Issuer();
  virtual Result<Issued> issue(const IssueRequest& request) = 0;
  // "local-ca", "files", "kubernetes-csr": the ESK8S_TLS_MODE value, also a metric label.
  virtual const char* mode() const = 0;
};

// What a CSR-based issuer sends and keeps: a fresh key of request.key_type, the names of the SAN
// policy, and the CSR over them. kubernetes-csr submits csr_pem, keeps key_pem, and after approval
// returns Issued{signed cert, key_pem, the signer's CA bundle}.
struct PreparedCsr {
  std::string csr_pem;
  std::string key_pem;
  SanPlan names;
};
Result<PreparedCsr> prepare_csr(const IssueRequest& request);

}  // namespace esk8s::tls
