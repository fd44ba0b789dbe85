#include "tls/rotation.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "tests/tls/tls_test_util.h"
#include "tls/fingerprint.h"

using namespace esk8s;
using std::chrono::seconds;
using test::kDay;

namespace {

const tls::TimePoint kT0 =
    tls::TimePoint(std::chrono::sys_days(std::chrono::year(2030) / std::chrono::January / 1));

tls::CertInfo cert_for(const tls::SanPlan& plan, tls::TimePoint nb, tls::TimePoint na) {
  tls::CertInfo c;
  c.dns_names = plan.dns_names;
  c.ip_addresses = plan.ip_addresses;
  c.not_before = nb;
  c.not_after = na;
  return c;
}

tls::SanPlan plan_for(const tls::SanInput& in) {
  auto plan = tls::plan_sans(in);
  REQUIRE(plan.is_ok());
  return plan.value();
}

}  // namespace

TEST_CASE("rotation: renew_at is two thirds into the lifetime") {
  CHECK(tls::renew_at(kT0, kT0 + 30 * kDay) == kT0 + 20 * kDay);
  CHECK(tls::renew_at(kT0, kT0 + seconds(3)) == kT0 + seconds(2));
  CHECK(tls::renew_at(kT0, kT0) == kT0);
  CHECK(tls::renew_at(kT0, kT0 - kDay) == kT0);
}

TEST_CASE("rotation: seconds until expiry go negative after expiry") {
  tls::CertInfo c = cert_for(plan_for(test::member()), kT0, kT0 + kDay);
  CHECK(tls::seconds_until_expiry(c, kT0) == seconds(86400));
  CHECK(tls::seconds_until_expiry(c, kT0 + 2 * kDay) == seconds(-86400));
}

TEST_CASE("rotation: each renewal reason and its label") {
  tls::SanPlan plan = plan_for(test::member());
  tls::CertInfo c = cert_for(plan, kT0, kT0 + 30 * kDay);
  const std::string h1 = tls::sha256_hex("bundle one");
  const std::string h2 = tls::sha256_hex("bundle two");

  auto fresh = tls::needs_renewal(c, plan, h1, h1, kT0 + kDay);
  CHECK(fresh.reason == tls::RenewalReason::kNone);
  CHECK_FALSE(fresh.renew());
  CHECK(fresh.renew_at == kT0 + 20 * kDay);
  CHECK(fresh.until_expiry == std::chrono::duration_cast<seconds>(29 * kDay));
  CHECK(tls::renewal_label(fresh.reason) == "none");

  auto old = tls::needs_renewal(c, plan, h1, h1, kT0 + 20 * kDay);
  CHECK(old.reason == tls::RenewalReason::kLifetime);
  CHECK(tls::renewal_label(old.reason) == "lifetime");
  CHECK(tls::needs_renewal(c, plan, h1, h1, kT0 + 40 * kDay).reason ==
        tls::RenewalReason::kLifetime);

  tls::SanInput more = test::member();
  more.client_services = {"esdb-client"};
  auto drift = tls::needs_renewal(c, plan_for(more), h1, h1, kT0 + kDay);
  CHECK(drift.reason == tls::RenewalReason::kSanDrift);
  CHECK(tls::renewal_label(drift.reason) == "san_drift");
  CHECK(test::contains(drift.detail, "missing esdb-client"));

  tls::SanInput local = test::member();
  local.include_localhost = true;
  CHECK(tls::needs_renewal(c, plan_for(local), h1, h1, kT0 + kDay).reason ==
        tls::RenewalReason::kSanDrift);

  auto bundle = tls::needs_renewal(c, plan, h1, h2, kT0 + kDay);
  CHECK(bundle.reason == tls::RenewalReason::kBundleChanged);
  CHECK(tls::renewal_label(bundle.reason) == "bundle_changed");
}

TEST_CASE("rotation: order and case of names are no drift and lifetime wins over drift") {
  tls::SanPlan plan = plan_for(test::member());
  tls::CertInfo c = cert_for(plan, kT0, kT0 + 30 * kDay);
  std::reverse(c.dns_names.begin(), c.dns_names.end());
  c.dns_names[0] = "ESDB-0.esdb";
  CHECK(tls::needs_renewal(c, plan, "h", "h", kT0 + kDay).reason == tls::RenewalReason::kNone);
  c.dns_names.pop_back();
  CHECK(tls::needs_renewal(c, plan, "h", "x", kT0 + kDay).reason == tls::RenewalReason::kSanDrift);
  CHECK(tls::needs_renewal(c, plan, "h", "x", kT0 + 25 * kDay).reason ==
        tls::RenewalReason::kLifetime);
}

TEST_CASE("rotation: an issued certificate is due at two thirds of its real lifetime") {
  auto ca = test::make_ca();
  auto cert = test::member_leaf(test::member(), ca);
  auto info = tls::inspect_cert(cert.cert_pem);
  REQUIRE(info.is_ok());
  tls::SanPlan plan = plan_for(test::member());
  auto now = test::Clock::now();
  CHECK(tls::needs_renewal(info.value(), plan, "h", "h", now).reason == tls::RenewalReason::kNone);
  CHECK(tls::needs_renewal(info.value(), plan, "h", "h", now + 21 * kDay).reason ==
        tls::RenewalReason::kLifetime);
}

TEST_CASE("fingerprint: sha256_hex of a known input") {
  CHECK(tls::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
