// Helpers shared by the tls suites: temporary directories, CAs written as files, and member
// certificates with chosen flaws.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"
#include "tls/key_file.h"
#include "tls/san_policy.h"
#include "tls/x509.h"

namespace esk8s::test {

using Clock = std::chrono::system_clock;
constexpr std::chrono::hours kDay{24};

// esdb-0 of headless service esdb in namespace prod, cluster.local.
inline tls::SanInput member(const std::string& pod = "esdb-0", const std::string& ns = "prod") {
  tls::SanInput in;
  in.pod = pod;
  in.service = "esdb";
  in.namespace_name = ns;
  in.cluster_domain = "cluster.local";
  return in;
}

inline tls::CertAndKey make_ca(const std::string& cn = "test CA") {
  auto ca = tls::make_self_signed_ca(cn, tls::KeyType::kEcdsaP256, std::chrono::hours(24 * 365));
  REQUIRE(ca.is_ok());
  return ca.value();
}

// Writes ca.crt (0644) and ca.key (0600) into `dir`.
inline void write_ca_dir(const std::string& dir, const tls::CertAndKey& ca,
                         const std::string& bundle = "") {
  REQUIRE(tls::write_certificate_file(dir + "/ca.crt", bundle.empty() ? ca.cert_pem : bundle));
  REQUIRE(tls::write_private_key_file(dir + "/ca.key", ca.key_pem));
}

// A leaf for `spec` signed by `ca`.
inline tls::CertAndKey leaf(const tls::CertSpec& spec, const tls::CertAndKey& ca) {
  auto issued = tls::issue(spec, ca);
  REQUIRE_MESSAGE(issued.is_ok(), issued.status().to_string());
  return issued.value();
}

// The policy's certificate for `in`.
inline tls::CertAndKey member_leaf(const tls::SanInput& in, const tls::CertAndKey& ca) {
  auto spec = tls::to_cert_spec(in, std::chrono::hours(24 * 30));
  REQUIRE(spec.is_ok());
  return leaf(spec.value(), ca);
}

// Flaws for tls::issue_flawed_for_tests: an RSA key of `bits`, and/or CA:TRUE.
inline tls::LeafFlaws flaws(int rsa_bits, bool is_ca) {
  tls::LeafFlaws f;
  f.rsa_bits = rsa_bits;
  f.is_ca = is_ca;
  return f;
}

// A spec with just a common name and DNS names.
inline tls::CertSpec named(const std::string& cn, const std::vector<std::string>& dns = {}) {
  tls::CertSpec spec;
  spec.common_name = cn;
  spec.dns_names = dns;
  return spec;
}

inline mode_t file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace esk8s::test
