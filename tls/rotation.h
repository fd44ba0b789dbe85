// Rotation decisions: when a member's certificate must be replaced. Pure functions of the current
// certificate, what it should be, and the time; the driver that re-issues and swaps TLS contexts
// (an immutable snapshot, replaced atomically) asks these and acts.
//
// A certificate is renewed at 2/3 of its lifetime (20 days into the default 30), which leaves a
// third of it to retry when the issuer is unavailable — long enough to ride out an outage of the
// CA's API without a member dropping out. It is also renewed, whatever its age, when the names it
// should carry changed (a client service or the localhost option was added: "san_drift") or the
// trust bundle changed (a CA rotation: re-issue from the new CA while both are trusted).
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "tls/san_policy.h"
#include "tls/x509.h"

namespace esk8s::tls {

using TimePoint = std::chrono::system_clock::time_point;

// not_before + 2/3 (not_after - not_before). not_before itself when the period is empty or
// reversed (renew at once).
TimePoint renew_at(TimePoint not_before, TimePoint not_after);

// Seconds from `now` until not_after (negative once expired).
std::chrono::seconds seconds_until_expiry(const CertInfo& cert, TimePoint now);

enum class RenewalReason {
  kNone,           // keep the certificate
  kLifetime,       // now >= renew_at (including expired)
  kSanDrift,       // its DNS or IP SANs differ from the policy's (as sets, DNS case-insensitive)
  kBundleChanged,  // the trust bundle's fingerprint changed since it was issued
};

// "none", "lifetime", "san_drift", "bundle_changed" (stable: log fields and metric labels).
std::string_view renewal_label(RenewalReason reason);

struct RenewalDecision {
  RenewalReason reason = RenewalReason::kNone;
  TimePoint renew_at;                   // when lifetime alone asks for renewal
  std::chrono::seconds until_expiry{};  // seconds_until_expiry(current, now)
  std::string detail;                   // a sentence for the log (empty for kNone)
  bool renew() const { return reason != RenewalReason::kNone; }
};

// Lifetime wins over SAN drift over bundle change when several apply. The bundle hashes are
// sha256_hex() of the trust bundle the certificate was issued with and of the current one.
RenewalDecision needs_renewal(const CertInfo& current, const SanPlan& desired,
                              std::string_view issued_bundle_hash,
                              std::string_view current_bundle_hash, TimePoint now);

}  // namespace esk8s::tls
