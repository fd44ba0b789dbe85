#include "tls/rotation.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/rfc3339.h"

namespace esk8s::tls {

namespace {

std::set<std::string> lower_set(const std::vector<std::string>& names) {
  std::set<std::string> out;
  for (std::string n : names) {
    std::transform(n.begin(), n.end(), n.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    out.insert(std::move(n));
  }
  return out;
}

std::string describe_difference(const std::set<std::string>& have,
                                const std::set<std::string>& want) {
  std::string missing, extra;
  for (const std::string& n : want) {
    if (!have.count(n)) missing += (missing.empty() ? "" : ", ") + n;
  }
  for (const std::string& n : have) {
    if (!want.count(n)) extra += (extra.empty() ? "" : ", ") + n;
  }
  std::string out;
  if (!missing.empty()) out += "missing " + missing;
  if (!extra.empty()) out += (out.empty() ? "" : "; ") + std::string("unwanted ") + extra;
  return out;
}

}  // namespace

TimePoint renew_at(TimePoint not_before, TimePoint not_after) {
  if (not_after <= not_before) return not_before;
  return not_before + (not_after - not_before) * 2 / 3;
}

std::chrono::seconds seconds_until_expiry(const CertInfo& cert, TimePoint now) {
  return std::chrono::duration_cast<std::chrono::seconds>(cert.not_after - now);
}

std::string_view renewal_label(RenewalReason reason) {
  switch (reason) {
    case RenewalReason::kNone:
      return "none";
    case RenewalReason::kLifetime:
      return "lifetime";
    case RenewalReason::kSanDrift:
      return "san_drift";
    case RenewalReason::kBundleChanged:
      return "bundle_changed";
  }
  return "unknown";
}

RenewalDecision needs_renewal(const CertInfo& current, const SanPlan& desired,
                              std::string_view issued_bundle_hash,
                              std::string_view current_bundle_hash, TimePoint now) {
  RenewalDecision d;
  d.renew_at = renew_at(current.not_before, current.not_after);
  d.until_expiry = seconds_until_expiry(current, now);
  if (now >= d.renew_at) {
    d.reason = RenewalReason::kLifetime;
    d.detail = now >= current.not_after
                   ? "the certificate expired at " + format_rfc3339(current.not_after, 0)
                   : "the certificate reached 2/3 of its lifetime at " +
                         format_rfc3339(d.renew_at, 0) + " and expires at " +
                         format_rfc3339(current.not_after, 0);
    return d;
  }
  std::set<std::string> have_dns = lower_set(current.dns_names);
  std::set<std::string> want_dns = lower_set(desired.dns_names);
  std::set<std::string> have_ip(current.ip_addresses.begin(), current.ip_addresses.end());
  std::set<std::string> want_ip(desired.ip_addresses.begin(), desired.ip_addresses.end());
  if (have_dns != want_dns || have_ip != want_ip) {
    d.reason = RenewalReason::kSanDrift;
    std::string dns = describe_difference(have_dns, want_dns);
    std::string ip = describe_difference(have_ip, want_ip);
    d.detail = "the certificate's names differ from the SAN policy: " + dns +
               (dns.empty() || ip.empty() ? "" : "; ") + ip;
    return d;
  }
  if (issued_bundle_hash != current_bundle_hash) {
    d.reason = RenewalReason::kBundleChanged;
    d.detail = "the trust bundle changed since the certificate was issued (CA rotation)";
  }
  return d;
}

}  // namespace esk8s::tls
