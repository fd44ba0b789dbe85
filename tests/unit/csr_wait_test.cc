// The kubernetes-csr wait (plugin/csr_wait.h) on a fake clock: its decisions, and that it spares a
// struggling API server (no retry at once after a 5xx, a connection error or a 429).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "kube/watch_stream.h"
#include "plugin/csr_wait.h"

using esk8s::plugin::CsrDecision;
using esk8s::plugin::CsrObject;
using esk8s::plugin::CsrWait;
using esk8s::plugin::csr_watch_config;
using esk8s::plugin::parse_csr_read;
using esk8s::plugin::parse_csr_watch_event;
using esk8s::kube::Request;
using nlohmann::json;
using namespace std::chrono_literals;
using TimePoint = CsrWait::TimePoint;

namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
const std::string kName = "esk8s-abcde";
const std::string kSigner = "esk8s.io/node";
const std::string kPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

json csr_json(const std::string& rv, json status = json::object()) {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", kName}, {"resourceVersion", rv}}},
          {"spec", {{"signerName", kSigner}}},
          {"status", std::move(status)}};
}

json approved() {
  return {{"conditions", json::array({{{"type", "Approved"}, {"status", "True"}}})}};
}

json issued() {
  json s = approved();
  s["certificate"] = esk8s::base64_encode(kPem);
  return s;
}

std::string line(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

CsrWait make_wait(uint64_t seed = 7) {
  return CsrWait(kName, kSigner, 300s, kT0, csr_watch_config(), seed);
}

// A wait that has read the pending CSR and has its watch in flight at kT0.
CsrWait watching() {
  CsrWait w = make_wait();
  CsrWait::Step s = w.start(kT0);
  REQUIRE(s.next);
  REQUIRE(s.next->request.kind == Request::Kind::kList);
  s = w.on_read(200, csr_json("10").dump(), std::nullopt, kT0);
  REQUIRE(s.decision.kind == CsrDecision::Kind::kWaiting);
  REQUIRE(s.next);
  REQUIRE(s.next->request.kind == Request::Kind::kWatch);
  return w;
}

// A step whose request (a watch) is to be issued at `t`.
CsrWait::Step in_flight_at(TimePoint t) {
  CsrWait::Step s;
  s.next.emplace();
  s.next->request.kind = Request::Kind::kWatch;
  s.next->not_before = t;
  return s;
}

// Answers every request the wait asks for with `status` during `span` of virtual time, moving
// the clock to each request's not_before; the number of requests issued.
int requests_in(CsrWait& w, CsrWait::Step s, int status, std::optional<std::chrono::seconds> ra,
                std::chrono::seconds span) {
  int requests = 0;
  const TimePoint end = kT0 + span;
  while (s.next && requests < 100000) {
    const TimePoint at = s.next->not_before;
    if (at >= end) break;
    ++requests;
    s = w.on_http_error(status, ra, at);
    REQUIRE(s.decision.kind == CsrDecision::Kind::kWaiting);
  }
  return requests;
}

}  // namespace

TEST_CASE("csr wait: 503s on the watch are retried with backoff, not at once") {
  CsrWait w = watching();
  // The first failing watch is issued at kT0; each 503 must push the next one into the future.
  CsrWait::Step s = in_flight_at(kT0);
  const int n = requests_in(w, s, 503, std::nullopt, 10s);
  // Full jitter under 0.8, 1.6, 3.2, 6.4 s ceilings: a handful in 10 s. A retry at once would
  // issue the 100000 the loop allows.
  CHECK(n >= 2);
  CHECK(n <= 20);
}

TEST_CASE("csr wait: connection errors on the first read back off too") {
  CsrWait w = make_wait();
  CsrWait::Step s = w.start(kT0);
  const int n = requests_in(w, s, 0, std::nullopt, 10s);
  CHECK(n >= 2);
  CHECK(n <= 20);
  CHECK(w.machine().errors() == static_cast<uint64_t>(n));
}

TEST_CASE("csr wait: 429 waits exactly Retry-After each time") {
  CsrWait w = watching();
  CsrWait::Step s = in_flight_at(kT0);
  CsrWait::Step one = w.on_http_error(429, 3s, kT0);
  REQUIRE(one.next);
  CHECK(one.next->not_before == kT0 + 3s);
  CHECK(one.next->request.kind == Request::Kind::kWatch);
  CHECK(one.next->request.resource_version == "10");
  // 10 s of 429 with Retry-After 3: requests at 0, 3, 6, 9 s.
  CsrWait w2 = watching();
  CHECK(requests_in(w2, s, 429, 3s, 10s) == 4);
}

TEST_CASE("csr wait: an issued certificate in a watch event ends the wait with the PEM") {
  CsrWait w = watching();
  auto ev = parse_csr_watch_event(line("MODIFIED", csr_json("11", approved())));
  REQUIRE(ev.is_ok());
  CsrWait::Step s = w.on_event(ev.value(), kT0 + 1s);
  CHECK(s.newly_approved);
  CHECK(s.decision.kind == CsrDecision::Kind::kWaiting);
  CHECK_FALSE(s.next);  // the watch goes on
  ev = parse_csr_watch_event(line("MODIFIED", csr_json("12", issued())));
  REQUIRE(ev.is_ok());
  s = w.on_event(ev.value(), kT0 + 2s);
  CHECK_FALSE(s.newly_approved);
  CHECK(s.decision.kind == CsrDecision::Kind::kIssued);
  CHECK(s.decision.certificate_pem == kPem);
}

TEST_CASE("csr wait: a Denied or Failed condition refuses with its reason and message") {
  for (const std::string type : {"Denied", "Failed"}) {
    CsrWait w = watching();
    json st = {{"conditions", json::array({{{"type", type},
                                             {"status", "True"},
                                             {"reason", "NamesNotAllowed"},
                                             {"message", "not ours"}}})}};
    auto ev = parse_csr_watch_event(line("MODIFIED", csr_json("11", st)));
    REQUIRE(ev.is_ok());
    CsrWait::Step s = w.on_event(ev.value(), kT0 + 1s);
    REQUIRE(s.decision.kind == CsrDecision::Kind::kRefused);
    CHECK(s.decision.message ==
          "CertificateSigningRequest " + kName + " was not signed: " + type +
              " (NamesNotAllowed): not ours");
  }
}

TEST_CASE("csr wait: a certificate that is not base64 of PEM is refused, not accepted") {
  json st = approved();
  st["certificate"] = esk8s::base64_encode("not a certificate");
  auto page = parse_csr_read(csr_json("11", st).dump());
  REQUIRE(page.is_ok());
  REQUIRE(page.value().items.size() == 1);
  CHECK(page.value().items[0].condition == CsrObject::Condition::kRefused);
  CHECK(page.value().items[0].detail.find("not base64 of PEM") != std::string::npos);
}

TEST_CASE("csr wait: the deadline names the approve command, or the signer once approved") {
  CsrWait w = watching();
  CsrWait::Step s = w.on_time(kT0 + 299s);
  CHECK(s.decision.kind == CsrDecision::Kind::kWaiting);
  s = w.on_time(kT0 + 300s);
  REQUIRE(s.decision.kind == CsrDecision::Kind::kTimedOut);
  CHECK(s.decision.message.find("kubectl certificate approve " + kName) != std::string::npos);
  CHECK(s.decision.message.find("timed out after 300 s") != std::string::npos);

  CsrWait a = watching();
  auto ev = parse_csr_watch_event(line("MODIFIED", csr_json("11", approved())));
  REQUIRE(ev.is_ok());
  a.on_event(ev.value(), kT0 + 1s);
  s = a.on_time(kT0 + 301s);
  REQUIRE(s.decision.kind == CsrDecision::Kind::kTimedOut);
  CHECK(s.decision.message.find("it is approved, so check that a signer for " + kSigner) !=
        std::string::npos);
}

TEST_CASE("csr wait: 410 on the watch reads the CSR again, at once") {
  CsrWait w = watching();
  CsrWait::Step s = w.on_http_error(410, std::nullopt, kT0 + 5s);
  REQUIRE(s.next);
  CHECK(s.next->request.kind == Request::Kind::kList);
  CHECK(s.next->not_before == kT0 + 5s);
  CHECK(w.machine().relists() == 1);
  auto ev = parse_csr_watch_event(
      line("ERROR", {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}, {"message", "x"}}));
  REQUIRE(ev.is_ok());
  CsrWait w2 = watching();
  s = w2.on_event(ev.value(), kT0 + 5s);
  REQUIRE(s.next);
  CHECK(s.next->request.kind == Request::Kind::kList);
}

TEST_CASE("csr wait: a CSR deleted before it is signed ends the wait") {
  CsrWait w = watching();
  auto ev = parse_csr_watch_event(line("DELETED", csr_json("13")));
  REQUIRE(ev.is_ok());
  CsrWait::Step s = w.on_event(ev.value(), kT0 + 1s);
  REQUIRE(s.decision.kind == CsrDecision::Kind::kDeleted);
  CHECK(s.decision.message.find("was deleted before it was signed") != std::string::npos);

  CsrWait gone = make_wait();
  gone.start(kT0);
  s = gone.on_read(404, R"({"kind":"Status","code":404})", std::nullopt, kT0);
  CHECK(s.decision.kind == CsrDecision::Kind::kDeleted);
}

TEST_CASE("csr wait: 403 stops at once and names rbac/csr.yaml") {
  CsrWait w = watching();
  CsrWait::Step s = w.on_http_error(403, std::nullopt, kT0 + 1s);
  REQUIRE(s.decision.kind == CsrDecision::Kind::kForbidden);
  CHECK(s.decision.message.find("rbac/csr.yaml") != std::string::npos);
  CHECK_FALSE(s.next);
}

TEST_CASE("csr wait: requests select the one CSR and end the watch by the deadline") {
  CsrWait w = make_wait();
  Request list;
  list.kind = Request::Kind::kList;
  CHECK(w.path_for(list, kT0) ==
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/" + kName);
  Request watch;
  watch.kind = Request::Kind::kWatch;
  watch.resource_version = "10";
  watch.timeout_seconds = 90;
  CHECK(w.path_for(watch, kT0) ==
        "/apis/certificates.k8s.io/v1/certificatesigningrequests?fieldSelector=metadata.name%3D" +
            kName + "&watch=true&allowWatchBookmarks=true&resourceVersion=10&timeoutSeconds=90");
  // 20 s before the deadline the watch asks the server to end it in 20 s.
  CHECK(w.path_for(watch, kT0 + 280s).find("&timeoutSeconds=20") != std::string::npos);
  CHECK(w.path_for(watch, kT0 + 400s).find("&timeoutSeconds=1") != std::string::npos);
}

TEST_CASE("csr wait: hostile watch lines are errors, the decoder stays bounded") {
  CHECK_FALSE(parse_csr_watch_event("{").is_ok());
  CHECK_FALSE(parse_csr_watch_event(line("MODIFIED", json::array())).is_ok());
  CHECK_FALSE(parse_csr_watch_event(std::string(200, '[')).is_ok());
  auto wrong_kind = parse_csr_watch_event(line("ADDED", {{"kind", "Pod"}}));
  REQUIRE_FALSE(wrong_kind.is_ok());
  CHECK(wrong_kind.status().message().find("expected \"CertificateSigningRequest\"") !=
        std::string::npos);
  esk8s::kube::WatchStreamDecoder<esk8s::kube::WatchEvent<CsrObject>> d(parse_csr_watch_event,
                                                                          128);
  auto out = d.feed(std::string(1000, 'x'));
  CHECK(d.buffered_bytes() <= 128);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].is_ok());
  // The over-long line's rest is skipped up to its newline; the next line decodes.
  out = d.feed("xxx\n" + line("BOOKMARK", {{"metadata", {{"resourceVersion", "9"}}}}));
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].is_ok());
  CHECK(out[0].value().resource_version == "9");
}

TEST_CASE("csr wait: inputs before start or before not_before are ignored") {
  CsrWait w = make_wait();
  CsrWait::Step s = w.on_http_error(503, std::nullopt, kT0);
  CHECK(s.ignored);
  CHECK(s.decision.kind == CsrDecision::Kind::kWaiting);
  CsrWait v = watching();
  s = v.on_http_error(503, std::nullopt, kT0);
  REQUIRE(s.next);
  if (s.next->not_before > kT0) {
    CHECK(v.on_http_error(503, std::nullopt, kT0).ignored);
  }
}
