#include "tls/local_ca_issuer.h"

#include <algorithm>
#include <utility>

#include "common/rfc3339.h"
#include "tls/key_file.h"

namespace esk8s::tls {

namespace {

using Clock = std::chrono::system_clock;

std::string join_path(const std::string& dir, const char* name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

Result<LocalCa> load_local_ca(const std::string& dir, Clock::time_point now) {
  const std::string cert_path = join_path(dir, kCaCertFileName);
  const std::string key_path = join_path(dir, kCaKeyFileName);
  auto bundle = read_pem_file(cert_path, "CA certificate");
  if (!bundle) return bundle.status();
  auto key = read_private_key_file(key_path, "CA key");
  if (!key) return key.status();

  auto certs = inspect_bundle(bundle.value());
  if (!certs) {
    return Status::config("CA certificate " + cert_path +
                          " cannot be read: " + certs.status().message());
  }
  // Every CA of the bundle is trusted for peers, so a weak one weakens the cluster even when it
  // does not sign.
  for (const CertInfo& ca : certs.value()) {
    if (Status strong = check_key_strength(ca.key_type, "the key of CA certificate \"" +
                                                            ca.subject_cn + "\" in " + cert_path);
        !strong) {
      return Status::config(strong.message() +
                            "; create a new CA (esk8s cert create-ca, default ECDSA P-256) and "
                            "roll it out (docs/OPERATIONS.md, \"Rotating the CA\")");
    }
  }
  auto match = find_cert_for_key(bundle.value(), key.value());
  if (!match) {
    if (match.status().code() == Status::Code::kNotFound) {
      return Status::config("none of the " + std::to_string(certs->size()) + " certificate(s) in " +
                            cert_path + " belongs to the CA key " + key_path +
                            " (were ca.crt and ca.key taken from different CAs?)");
    }
    return Status::config("CA key " + key_path + " cannot be used: " + match.status().message());
  }
  CertInfo info = certs.value()[match->index];
  if (!info.is_ca) {
    return Status::config("certificate \"" + info.subject_cn + "\" in " + cert_path +
                          " is not a CA certificate (basicConstraints CA:TRUE is missing)");
  }
  if (now >= info.not_after) {
    return Status::config("CA certificate \"" + info.subject_cn + "\" in " + cert_path +
                          " expired at " + format_rfc3339(info.not_after, 0) +
                          "; create a new CA and roll it out (see docs/OPERATIONS.md)");
  }
  if (now < info.not_before) {
    return Status::config("CA certificate \"" + info.subject_cn + "\" in " + cert_path +
                          " is not valid before " + format_rfc3339(info.not_before, 0) +
                          " (is this node's clock right?)");
  }
  return LocalCa{std::move(bundle).value(),
                 CertAndKey{std::move(match->cert_pem), std::move(key).value()}, std::move(info)};
}

Result<Issued> LocalCaIssuer::issue(const IssueRequest& request) {
  const Clock::time_point now = Clock::now();
  auto ca = load_local_ca(dir_, now);
  if (!ca) return ca.status();
  auto prepared = prepare_csr(request);
  if (!prepared) return prepared.status();

  auto remaining =
      std::chrono::duration_cast<std::chrono::seconds>(ca->signer_info.not_after - now);
  std::chrono::seconds validity = std::min(request.validity, remaining);
  auto cert = sign_csr(prepared->csr_pem, ca->signer, validity, /*server_auth=*/true,
                       /*client_auth=*/true);
  if (!cert) return cert.status();
  if (Status s = verify_chain(cert.value(), ca->trust_bundle_pem, now); !s) {
    return Status::internal("the certificate just signed does not verify against " +
                            join_path(dir_, kCaCertFileName) + ": " + s.message());
  }
  return Issued{std::move(cert).value(), std::move(prepared->key_pem),
                std::move(ca->trust_bundle_pem)};
}

}  // namespace esk8s::tls
