#include "tls/files_source.h"

#include <algorithm>
#include <utility>

#include "tls/fingerprint.h"
#include "tls/key_file.h"
#include "tls/peer_verify.h"

namespace esk8s::tls {

namespace {

using Clock = std::chrono::system_clock;

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

// What one file contributes to the fingerprint: its content, or why it could not be read.
// Length-prefixed so that moving bytes between files changes the result.
std::string fingerprint_part(const Result<std::string>& content) {
  std::string body = content ? "ok:" + content.value() : "error:" + content.status().message();
  return std::to_string(body.size()) + ":" + body;
}

bool is_loopback(const std::string& ip) { return ip == "127.0.0.1" || ip == "::1"; }

}  // namespace

std::string FilesSource::path(const char* name) const {
  if (dir_.empty()) return name;
  return dir_.back() == '/' ? dir_ + name : dir_ + "/" + name;
}

std::string FilesSource::fingerprint_now() const {
  std::string all;
  // The same `what` words as load(), so an unreadable file fingerprints the same in both.
  all += fingerprint_part(read_pem_file(path(kTlsCertFileName), "certificate"));
  all += fingerprint_part(read_pem_file(path(kTlsKeyFileName), "private key"));
  all += fingerprint_part(read_pem_file(path(kTrustBundleFileName), "trust bundle"));
  return sha256_hex(all);
}

bool FilesSource::changed() const {
  return loaded_fingerprint_.empty() || fingerprint_now() != loaded_fingerprint_;
}

Result<LoadedFiles> FilesSource::load(const SanInput& expected, Clock::time_point now) {
  const std::string cert_path = path(kTlsCertFileName);
  const std::string key_path = path(kTlsKeyFileName);
  const std::string ca_path = path(kTrustBundleFileName);
  auto cert = read_pem_file(cert_path, "certificate");
  auto key = read_pem_file(key_path, "private key");
  auto ca = read_pem_file(ca_path, "trust bundle");
  loaded_fingerprint_ =
      sha256_hex(fingerprint_part(cert) + fingerprint_part(key) + fingerprint_part(ca));
  if (!cert) return cert.status();
  if (!key) return key.status();
  if (!ca) return ca.status();

  auto plan = plan_sans(expected);
  if (!plan) return plan.status();
  auto leaf = inspect_cert(cert.value());
  if (!leaf) {
    return Status::config("certificate " + cert_path +
                          " cannot be read: " + leaf.status().message());
  }
  auto match = find_cert_for_key(cert.value(), key.value());
  if (!match || match->index != 0) {
    if (match || match.status().code() == Status::Code::kNotFound) {
      return Status::config("private key " + key_path + " does not belong to certificate " +
                            cert_path + " (\"" + leaf->subject_cn +
                            "\"); were they taken from different Secrets or versions?");
    }
    return Status::config("private key " + key_path +
                          " cannot be used: " + match.status().message());
  }
  if (Status s = verify_chain(cert.value(), ca.value(), now); !s) {
    return Status::config(cert_path + " does not chain to " + ca_path + ": " + s.message());
  }
  if (leaf->is_ca) {
    return Status::config("certificate " + cert_path +
                          " is a CA certificate (basicConstraints CA:TRUE); peers refuse a "
                          "member certificate that could sign others (with cert-manager, set "
                          "isCA: false on the member Certificate)");
  }
  if (Status strong = check_key_strength(leaf->key_type, "the key of certificate " + cert_path);
      !strong) {
    return Status::config(strong.message() +
                          "; peers refuse it: issue it with an ECDSA P-256 key (cert-manager: "
                          "privateKey.algorithm: ECDSA, size: 256) or RSA of 2048 bits or more");
  }
  auto bundle = inspect_bundle(ca.value());
  if (!bundle) {
    return Status::config("trust bundle " + ca_path + " cannot be read: " +
                          bundle.status().message());
  }
  for (const CertInfo& c : bundle.value()) {
    if (Status strong = check_key_strength(
            c.key_type, "the key of CA certificate \"" + c.subject_cn + "\" in " + ca_path);
        !strong) {
      return Status::config(strong.message() +
                            "; a weak CA lets whoever breaks its key forge members: replace it "
                            "with a CA of an accepted key type");
    }
  }
  if (!leaf->eku_server_auth || !leaf->eku_client_auth) {
    return Status::config("certificate " + cert_path + " lacks extendedKeyUsage " +
                          (leaf->eku_server_auth ? "clientAuth" : "serverAuth") +
                          ": every member is both gossip server and client (with cert-manager, "
                          "set usages: [digital signature, server auth, client auth])");
  }
  const std::vector<std::string> dns = dns_identities(leaf.value());
  auto has = [&](const std::string& name) {
    return std::any_of(dns.begin(), dns.end(),
                       [&](const std::string& d) { return dns_name_equal(d, name); });
  };
  if (!has(plan->identity)) {
    return Status::config("certificate " + cert_path +
                          " does not name this pod: peers verify it as " + plan->identity +
                          " but its DNS SANs are " + join(leaf->dns_names) + "; add " +
                          plan->identity + " to the certificate's DNS names");
  }

  std::vector<FilesWarning> warnings;
  std::vector<std::string> ips;
  for (const std::string& ip : leaf->ip_addresses) {
    if (!(expected.include_localhost && is_loopback(ip))) ips.push_back(ip);
  }
  if (!ips.empty()) {
    warnings.push_back({"ip_san", "certificate " + cert_path + " carries IP SAN(s) " + join(ips) +
                                      ": pod IPs change when a pod is rescheduled and esk8s never "
                                      "matches them; remove ipAddresses from the certificate"});
  }
  auto required = required_names_for_peers(expected);
  if (!required) return required.status();
  std::vector<std::string> missing;
  for (const std::string& name : required.value()) {
    if (!has(name)) missing.push_back(name);
  }
  if (!missing.empty()) {
    warnings.push_back(
        {"missing_peer_name", "certificate " + cert_path + " lacks " + join(missing) +
                                  ", which members in the peer namespaces may dial; add them to "
                                  "the certificate's DNS names"});
  }
  warnings_ = warnings;
  return LoadedFiles{Issued{std::move(cert).value(), std::move(key).value(), std::move(ca).value()},
                     std::move(leaf).value(), std::move(warnings)};
}

Result<Issued> FilesSource::issue(const IssueRequest& request) {
  auto loaded = load(request.names, Clock::now());
  if (!loaded) return loaded.status();
  return std::move(loaded->material);
}

}  // namespace esk8s::tls
