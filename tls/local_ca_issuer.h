// LocalCaIssuer (ESK8S_TLS_MODE=local-ca): signs member certificates in-process with a cluster CA
// read from a directory holding ca.crt and ca.key — what `esk8s cert create-ca` writes, and what
// a Kubernetes Secret with those two keys looks like when mounted as a volume.
//
// The files are read on every issue(), so a Secret updated in place (a CA rotation) is picked up
// at the next renewal. ca.crt may hold several CA certificates during a rotation: the one whose
// public key matches ca.key signs, and the whole file is the trust bundle handed to TLS, so peers
// signed by the old and the new CA keep verifying each other until the old one is removed.
//
// ca.key must not be readable or writable by other users (key_file.h); a 0644 key is refused with
// the chmod that fixes it. The leaf never outlives the signing CA: the requested validity is cut
// to the CA's remaining lifetime.
//
// Thread-safety: issue() keeps no state between calls; several threads may call it at once.
#pragma once

#include <chrono>
#include <string>

#include "tls/issuer.h"

namespace esk8s::tls {

inline constexpr const char* kCaCertFileName = "ca.crt";
inline constexpr const char* kCaKeyFileName = "ca.key";

// A loaded CA directory.
struct LocalCa {
  std::string trust_bundle_pem;  // all of ca.crt
  CertAndKey signer;             // the certificate of ca.crt matching ca.key, and ca.key
  CertInfo signer_info;
};

// Reads and checks `dir`/ca.crt and `dir`/ca.key: the key's file mode, that one certificate of
// ca.crt belongs to the key and is a CA, and that it is valid at `now`.
Result<LocalCa> load_local_ca(const std::string& dir, std::chrono::system_clock::time_point now);

class LocalCaIssuer : public Issuer {
 public:
  explicit LocalCaIssuer(std::string ca_dir) : dir_(std::move(ca_dir)) {}

  // A fresh key of request.key_type and a leaf signed by the CA for the SAN policy's names,
  // valid for min(request.validity, the CA's remaining lifetime). Verified against the trust
  // bundle before it is returned.
  Result<Issued> issue(const IssueRequest& request) override;
  const char* mode() const override { return "local-ca"; }

  const std::string& ca_dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace esk8s::tls
