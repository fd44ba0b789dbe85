#include "tls/peer_verify.h"

#include <algorithm>
#include <utility>

#include "common/escape.h"
#include "common/identity.h"

namespace esk8s::tls {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool is_wildcard(std::string_view name) { return name.substr(0, 2) == "*."; }

std::vector<std::string_view> split_labels(std::string_view name) {
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    labels.push_back(name.substr(start, dot == name.npos ? name.npos : dot - start));
    if (dot == name.npos) return labels;
    start = dot + 1;
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

PeerVerdict fail(PeerReason reason, std::string detail) {
  return PeerVerdict{reason, {}, std::move(detail)};
}

PeerReason from_chain_failure(ChainFailure f) {
  switch (f) {
    case ChainFailure::kNone:
      return PeerReason::kOk;
    case ChainFailure::kExpired:
      return PeerReason::kExpired;
    case ChainFailure::kNotYetValid:
      return PeerReason::kNotYetValid;
    case ChainFailure::kUnknownIssuer:
      return PeerReason::kUntrustedIssuer;
    case ChainFailure::kBadSignature:
      return PeerReason::kBadSignature;
    case ChainFailure::kUnparsable:
      return PeerReason::kMalformed;
    case ChainFailure::kOther:
      return PeerReason::kInvalidChain;
  }
  return PeerReason::kInvalidChain;
}

bool allowed(const std::string& identity, const std::vector<std::string>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return matches_allow_pattern(identity, p); });
}

}  // namespace

std::string_view metric_label(PeerReason reason) {
  switch (reason) {
    case PeerReason::kOk:
      return "ok";
    case PeerReason::kNoCertificate:
      return "no_certificate";
    case PeerReason::kMalformed:
      return "malformed";
    case PeerReason::kUntrustedIssuer:
      return "untrusted_issuer";
    case PeerReason::kExpired:
      return "expired";
    case PeerReason::kNotYetValid:
      return "not_yet_valid";
    case PeerReason::kBadSignature:
      return "bad_signature";
    case PeerReason::kInvalidChain:
      return "invalid_chain";
    case PeerReason::kMissingClientAuth:
      return "missing_client_auth";
    case PeerReason::kMissingServerAuth:
      return "missing_server_auth";
    case PeerReason::kIdentityMismatch:
      return "identity_mismatch";
    case PeerReason::kIpSanOnly:
      return "ip_san_only";
    case PeerReason::kWildcardSan:
      return "wildcard_san";
    case PeerReason::kNotAllowed:
      return "not_allowed";
    case PeerReason::kLeafIsCa:
      return "leaf_is_ca";
    case PeerReason::kWeakKey:
      return "weak_key";
  }
  return "unknown";
}

bool dns_name_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::vector<std::string> dns_identities(const CertInfo& cert) {
  std::vector<std::string> out;
  for (const std::string& name : cert.dns_names) {
    if (name.find('*') != std::string::npos) continue;
    std::string l = to_lower(name);
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(std::move(l));
  }
  return out;
}

bool matches_allow_pattern(std::string_view name, std::string_view pattern) {
  std::vector<std::string_view> n = split_labels(name), p = split_labels(pattern);
  if (n.size() != p.size()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    if (n[i].empty()) return false;
    if (p[i] == "*") continue;
    if (!dns_name_equal(n[i], p[i])) return false;
  }
  return true;
}

Status validate_allow_pattern(std::string_view pattern) {
  for (std::string_view label : split_labels(pattern)) {
    if (label == "*" || is_dns1123_label(to_lower(label))) continue;
    return Status::invalid_argument(
        "allow-list pattern \"" + std::string(pattern) +
        "\" is not a DNS name whose labels are DNS-1123 labels or \"*\" (e.g. "
        "*.esdb.prod.svc.cluster.local)");
  }
  if (pattern.size() > 253) {
    return Status::invalid_argument("allow-list pattern \"" + std::string(pattern) +
                                    "\" is longer than 253 characters");
  }
  return Status::ok();
}

std::vector<std::string> cluster_allow_list(const std::string& service,
                                            const std::string& namespace_name,
                                            const std::vector<std::string>& peer_namespaces,
                                            const std::string& cluster_domain) {
  std::vector<std::string> out;
  auto add = [&](const std::string& ns) {
    std::string p = "*." + service + "." + ns + ".svc." + cluster_domain;
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
  };
  add(namespace_name);
  for (const std::string& ns : peer_namespaces) add(ns);
  return out;
}

PeerVerdict verify_peer(const PeerVerifyInput& in) {
  if (in.chain_pem.empty()) {
    return fail(PeerReason::kNoCertificate, "the peer presented no certificate");
  }
  auto leaf = inspect_cert(in.chain_pem);
  if (!leaf) {
    return fail(PeerReason::kMalformed,
                "the peer's certificate cannot be parsed: " + leaf.status().message());
  }
  const std::string who =
      "peer certificate \"" + leaf->subject_cn + "\" (serial " + leaf->serial_hex + ")";

  ChainCheck chain = verify_chain_classified(in.chain_pem, in.trust_bundle_pem, in.now);
  if (chain.failure != ChainFailure::kNone) {
    return fail(from_chain_failure(chain.failure), chain.status.message());
  }

  if (leaf->is_ca) {
    return fail(PeerReason::kLeafIsCa,
                who + " is a CA certificate (basicConstraints CA:TRUE); a member's certificate "
                      "must not be able to sign others. Issue members leaf certificates (esk8s "
                      "cert create-node, cert-manager with isCA: false)");
  }
  if (Status strong = check_key_strength(leaf->key_type, who + "'s key"); !strong) {
    return fail(PeerReason::kWeakKey, strong.message());
  }
  if (in.our_role == PeerRole::kServer && !leaf->eku_client_auth) {
    return fail(PeerReason::kMissingClientAuth,
                who + " lacks extendedKeyUsage clientAuth, so it cannot dial members");
  }
  if (in.our_role == PeerRole::kClient && !leaf->eku_server_auth) {
    return fail(PeerReason::kMissingServerAuth,
                who + " lacks extendedKeyUsage serverAuth, so it cannot accept members");
  }

  const std::vector<std::string>& patterns =
      in.allow_list.empty() ? in.cluster_patterns : in.allow_list;
  const std::vector<std::string> ids = dns_identities(leaf.value());
  std::vector<std::string> wildcards;
  for (const std::string& d : leaf->dns_names) {
    if (is_wildcard(d)) wildcards.push_back(to_lower(d));
  }
  const std::string sans =
      "its DNS SANs are " + join(leaf->dns_names) + " and its IP SANs " + join(leaf->ip_addresses);

  if (in.claimed_identity.empty()) {
    PeerVerdict v{PeerReason::kOk, {}, ""};
    for (const std::string& id : ids) {
      if (allowed(id, patterns)) v.identities.push_back(id);
    }
    if (!v.identities.empty()) {
      v.detail = who + " may claim " + join(v.identities);
      return v;
    }
    if (!ids.empty()) {
      return fail(PeerReason::kNotAllowed, who + " names no identity the allow-list (" +
                                               join(patterns) + ") admits; " + sans);
    }
    if (!wildcards.empty()) {
      return fail(PeerReason::kWildcardSan,
                  who + " names members only by wildcard (" + join(wildcards) +
                      "); a wildcard is no identity, every member needs its own certificate");
    }
    if (!leaf->ip_addresses.empty()) {
      return fail(PeerReason::kIpSanOnly, who + " has only IP SANs (" + join(leaf->ip_addresses) +
                                              "); members are identified by DNS names");
    }
    return fail(PeerReason::kIdentityMismatch,
                who + " has no DNS SAN (the common name is never used as an identity)");
  }

  const std::string claim = to_lower(in.claimed_identity);
  if (!is_dns1123_subdomain(claim)) {
    return fail(PeerReason::kMalformed,
                "the peer claims \"" + escape_untrusted(in.claimed_identity, 256) +
                    "\", which is not a DNS name");
  }
  if (std::find(ids.begin(), ids.end(), claim) == ids.end()) {
    bool by_wildcard = std::any_of(wildcards.begin(), wildcards.end(), [&](const std::string& w) {
      return matches_allow_pattern(claim, w);
    });
    if (by_wildcard) {
      return fail(PeerReason::kWildcardSan,
                  "the peer claims " + claim + " but " + who +
                      " covers it only by a wildcard; a wildcard is no identity, every member "
                      "needs its own certificate");
    }
    if (ids.empty() && wildcards.empty() && !leaf->ip_addresses.empty()) {
      return fail(PeerReason::kIpSanOnly, "the peer claims " + claim + " but " + who +
                                              " has only IP SANs (" + join(leaf->ip_addresses) +
                                              "); members are identified by DNS names");
    }
    return fail(PeerReason::kIdentityMismatch,
                "the peer claims " + claim + " but " + who + " does not name it; " + sans +
                    " (the common name is never used as an identity)");
  }
  if (!allowed(claim, patterns)) {
    return fail(PeerReason::kNotAllowed, "the peer claims " + claim + ", which the allow-list (" +
                                             join(patterns) + ") does not admit");
  }
  return PeerVerdict{PeerReason::kOk, {claim}, who + " verified as " + claim};
}

}  // namespace esk8s::tls
