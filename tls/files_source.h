// FilesSource (ESK8S_TLS_MODE=files): the certificate is made by someone else — cert-manager, a
// CSI driver, an operator with `esk8s cert create-node` — and mounted as a directory holding the
// keys of a Kubernetes TLS Secret: tls.crt (leaf first, then intermediates), tls.key, ca.crt.
//
// load() checks what it reads, and refuses (error) when
//   - a file is missing or unparsable,
//   - tls.key does not belong to the first certificate of tls.crt,
//   - tls.crt does not chain to ca.crt at `now` (other CA, expired, not yet valid),
//   - the leaf lacks extendedKeyUsage serverAuth or clientAuth (every member is both),
//   - the leaf does not carry the pod identity as a DNS SAN (peers verify nothing else);
// and reports WARNINGS (the certificate works, but something is off) with a stable code:
//   ip_san             the certificate carries IP SANs (other than the loopback addresses when
//                      include_localhost is set): pod IPs change, esk8s never matches them
//   missing_peer_name  a name peers in other namespaces use is missing
//                      (required_names_for_peers in san_policy.h)
//
// Reloading: a driver polls changed() (a SHA-256 over the three files' content compared with
// what the last load() read) and calls load()/issue() again when it is true. A load that fails
// also records what it read, so a broken set is reported once, not on every poll; the driver
// keeps its previous TLS context until a load succeeds.
//
// Thread-safety: one thread at a time (the TLS driver's).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tls/issuer.h"

namespace esk8s::tls {

inline constexpr const char* kTlsCertFileName = "tls.crt";
inline constexpr const char* kTlsKeyFileName = "tls.key";
inline constexpr const char* kTrustBundleFileName = "ca.crt";

struct FilesWarning {
  std::string code;      // "ip_san" | "missing_peer_name"; stable, for logs and metrics
  std::string sentence;  // for the operator: what is wrong and what to change
};

struct LoadedFiles {
  Issued material;  // the three files' content as read
  CertInfo leaf;
  std::vector<FilesWarning> warnings;
};

class FilesSource : public Issuer {
 public:
  explicit FilesSource(std::string dir) : dir_(std::move(dir)) {}

  // Reads and checks the three files for the member described by `expected`.
  Result<LoadedFiles> load(const SanInput& expected, std::chrono::system_clock::time_point now);

  // True when the files' content differs from what the last load() read, or load() never ran.
  // A file that cannot be read counts as content too (its absence is a change once).
  bool changed() const;

  // load(request.names, now) without the warnings (see last_warnings()); key type and validity
  // of the request are ignored: the files are what they are.
  Result<Issued> issue(const IssueRequest& request) override;
  const char* mode() const override { return "files"; }

  // The warnings of the last successful load() (empty before one).
  const std::vector<FilesWarning>& last_warnings() const { return warnings_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string path(const char* name) const;
  std::string fingerprint_now() const;

  std::string dir_;
  std::string loaded_fingerprint_;  // empty: never loaded
  std::vector<FilesWarning> warnings_;
};

}  // namespace esk8s::tls
