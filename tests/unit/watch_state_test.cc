#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "discovery/endpointslice.h"
#include "kube/watch_state.h"

// The generic list/watch machine (kube/watch_state.h) driven with EndpointSlices, the objects
// discovery watches.
using namespace esk8s::discovery;
using esk8s::kube::Next;
using esk8s::kube::Output;
using esk8s::kube::Request;
using esk8s::kube::WatchConfig;
using WatchState = esk8s::discovery::SliceWatchState;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using TimePoint = WatchState::TimePoint;

namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
constexpr uint64_t kSeed = 42;

EndpointSlice slice(const std::string& name, const std::string& rv, const std::string& ip) {
  EndpointSlice s;
  s.name = name;
  s.namespace_name = "prod";
  s.service_name = "esdb";
  s.address_type = "IPv4";
  s.resource_version = rv;
  Endpoint e;
  e.addresses = {ip};
  e.hostname = name + "-host";
  s.endpoints = {e};
  s.ports = {EndpointPort{"gossip", 2113, "TCP"}};
  return s;
}

SliceList page(std::vector<EndpointSlice> items, std::string rv, std::string cont = "") {
  SliceList l;
  l.items = std::move(items);
  l.resource_version = std::move(rv);
  l.continue_token = std::move(cont);
  return l;
}

SliceEvent event(EventType type, const EndpointSlice& s) {
  SliceEvent ev;
  ev.type = type;
  ev.object = s;
  ev.resource_version = s.resource_version;
  return ev;
}

SliceEvent bookmark(const std::string& rv) {
  SliceEvent ev;
  ev.type = EventType::kBookmark;
  ev.resource_version = rv;
  return ev;
}

SliceEvent error_event(int code, const std::string& reason) {
  SliceEvent ev;
  ev.type = EventType::kError;
  ev.status.code = code;
  ev.status.reason = reason;
  ev.status.message = "test";
  return ev;
}

milliseconds wait_of(const Output& out, TimePoint now) {
  REQUIRE(out.next.has_value());
  return std::chrono::duration_cast<milliseconds>(out.next->not_before - now);
}

// A machine that has listed {a, b} at resourceVersion "100" and has a watch in flight at kT0.
WatchState synced_machine(uint64_t seed = kSeed) {
  WatchState w(WatchConfig{}, seed);
  w.start(kT0);
  Output out = w.on_list_page(
      page({slice("a", "10", "10.0.0.1"), slice("b", "11", "10.0.0.2")}, "100"), kT0);
  REQUIRE(out.next.has_value());
  REQUIRE(out.next->request.kind == Request::Kind::kWatch);
  return w;
}

}  // namespace

TEST_CASE("watch state: the default config is valid and each bad field is named") {
  CHECK(WatchConfig{}.validate().is_ok());
  auto bad = [](auto mutate) {
    WatchConfig c;
    mutate(c);
    return c.validate().message();
  };
  CHECK(bad([](WatchConfig& c) { c.backoff_initial = 0ms; }).find("backoff_initial") !=
        std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.backoff_factor = 0.5; }).find("backoff_factor") !=
        std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.backoff_cap = 100ms; }).find("backoff_cap") !=
        std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.backoff_reset_after = 0ms; }).find("backoff_reset_after") !=
        std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.watch_timeout_min = 0s; }).find("watch_timeout_min") !=
        std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.watch_timeout_max = 200s; }).find("watch_timeout_max") !=
        std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.short_watch = -1ms; }).find("short_watch") != std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.short_watch = 300s; }).find("short_watch") != std::string::npos);
  CHECK(bad([](WatchConfig& c) { c.page_limit = 0; }).find("page_limit") != std::string::npos);
  WatchConfig c;
  c.backoff_cap = 1ms;
  CHECK(c.validate().code() == esk8s::Status::Code::kConfig);
}

TEST_CASE("watch state: start asks at once for the first list page with the page limit") {
  WatchConfig cfg;
  cfg.page_limit = 2;
  WatchState w(cfg, kSeed);
  CHECK(w.phase(kT0) == WatchState::Phase::kIdle);
  Output out = w.start(kT0);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kList);
  CHECK(out.next->request.limit == 2);
  CHECK(out.next->request.continue_token.empty());
  CHECK(out.next->not_before == kT0);
  CHECK_FALSE(w.synced());
  CHECK(w.phase(kT0) == WatchState::Phase::kListing);
  CHECK(w.relists() == 0);
}

TEST_CASE(
    "watch state: a paginated list follows continue tokens and replaces the set only after "
    "the last page") {
  WatchConfig cfg;
  cfg.page_limit = 1;
  WatchState w(cfg, kSeed);
  TimePoint now = kT0;
  w.start(now);

  now += 10ms;
  Output p1 = w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "100", "tok-1"), now);
  REQUIRE(p1.next.has_value());
  CHECK(p1.next->request.kind == Request::Kind::kList);
  CHECK(p1.next->request.limit == 1);
  CHECK(p1.next->request.continue_token == "tok-1");
  CHECK(p1.next->not_before == now);
  CHECK_FALSE(p1.items_changed);
  CHECK(w.items().empty());  // nothing published mid-list
  CHECK_FALSE(w.synced());

  now += 10ms;
  Output p2 = w.on_list_page(page({slice("b", "11", "10.0.0.2")}, "100", "tok-2"), now);
  REQUIRE(p2.next.has_value());
  CHECK(p2.next->request.continue_token == "tok-2");
  CHECK(w.items().empty());

  now += 10ms;
  Output last = w.on_list_page(page({slice("c", "12", "10.0.0.3")}, "100"), now);
  CHECK(last.items_changed);
  CHECK(w.synced());
  CHECK(w.items().size() == 3);
  CHECK(w.items().count("a") == 1);
  CHECK(w.items().count("c") == 1);
  CHECK(w.resource_version() == "100");
  REQUIRE(last.next.has_value());
  CHECK(last.next->request.kind == Request::Kind::kWatch);
  CHECK(last.next->request.resource_version == "100");
  CHECK(last.next->not_before == now);
  CHECK(w.relists() == 0);
  CHECK(w.errors() == 0);
}

TEST_CASE("watch state: the first complete list reports a change even when it is empty") {
  WatchState w(WatchConfig{}, kSeed);
  w.start(kT0);
  Output out = w.on_list_page(page({}, "5"), kT0);
  CHECK(out.items_changed);
  CHECK(w.synced());
  CHECK(w.items().empty());
}

TEST_CASE("watch state: a relist that no longer contains a slice removes it") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;
  Output gone = w.on_http_error(410, std::nullopt, now);
  REQUIRE(gone.next.has_value());
  CHECK(w.items().size() == 2);  // kept until the new list completes
  Output out = w.on_list_page(page({slice("b", "11", "10.0.0.2")}, "200"), now);
  CHECK(out.items_changed);
  CHECK(w.items().size() == 1);
  CHECK(w.items().count("a") == 0);
  CHECK(w.items().count("b") == 1);
  CHECK(w.resource_version() == "200");
}

TEST_CASE("watch state: an identical relist reports no change") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;
  w.on_http_error(410, std::nullopt, now);
  Output out = w.on_list_page(
      page({slice("a", "10", "10.0.0.1"), slice("b", "11", "10.0.0.2")}, "100"), now);
  CHECK_FALSE(out.items_changed);
}

TEST_CASE("watch state: watches ask for bookmarks and a timeoutSeconds drawn from [300, 600]") {
  WatchState w = synced_machine();
  TimePoint now = kT0;
  uint32_t lo = 600, hi = 300;
  for (int i = 0; i < 2000; ++i) {
    now += 400s;  // long enough to be a clean end, never a short watch
    Output out = w.on_watch_end(now);
    REQUIRE(out.next.has_value());
    const Request& r = out.next->request;
    CHECK(r.kind == Request::Kind::kWatch);
    CHECK(r.allow_watch_bookmarks);
    CHECK(r.timeout_seconds >= 300);
    CHECK(r.timeout_seconds <= 600);
    lo = std::min(lo, r.timeout_seconds);
    hi = std::max(hi, r.timeout_seconds);
  }
  CHECK(lo <= 305);  // the draws spread over the whole range
  CHECK(hi >= 595);
  CHECK(w.relists() == 0);
  CHECK(w.errors() == 0);
}

TEST_CASE("watch state: the same seed and inputs give the same requests") {
  WatchState a = synced_machine(7), b = synced_machine(7), c = synced_machine(8);
  bool differs = false;
  TimePoint now = kT0;
  for (int i = 0; i < 50; ++i) {
    now += 2s;
    Output oa = a.on_http_error(503, std::nullopt, now);
    Output ob = b.on_http_error(503, std::nullopt, now);
    Output oc = c.on_http_error(503, std::nullopt, now);
    CHECK(oa.next->not_before == ob.next->not_before);
    CHECK(oa.next->request.timeout_seconds == ob.next->request.timeout_seconds);
    differs = differs || oa.next->not_before != oc.next->not_before;
    now = oa.next->not_before;
    now = std::max(now, std::max(oc.next->not_before, ob.next->not_before));
  }
  CHECK(differs);
}

TEST_CASE(
    "watch state: ADDED and MODIFIED upsert by name, DELETED erases, each advances the "
    "resourceVersion") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;

  Output add = w.on_event(event(EventType::kAdded, slice("c", "101", "10.0.0.3")), now);
  CHECK(add.items_changed);
  CHECK_FALSE(add.next.has_value());  // the watch goes on
  CHECK(add.error.empty());
  CHECK(w.items().size() == 3);
  CHECK(w.resource_version() == "101");

  Output mod = w.on_event(event(EventType::kModified, slice("a", "102", "10.0.0.9")), now);
  CHECK(mod.items_changed);
  CHECK(w.items().at("a").endpoints.at(0).addresses.at(0) == "10.0.0.9");
  CHECK(w.resource_version() == "102");

  Output same = w.on_event(event(EventType::kModified, slice("a", "102", "10.0.0.9")), now);
  CHECK_FALSE(same.items_changed);

  Output del = w.on_event(event(EventType::kDeleted, slice("b", "103", "10.0.0.2")), now);
  CHECK(del.items_changed);
  CHECK(w.items().count("b") == 0);
  CHECK(w.resource_version() == "103");

  Output del_unknown = w.on_event(event(EventType::kDeleted, slice("zz", "104", "1.1.1.1")), now);
  CHECK_FALSE(del_unknown.items_changed);
  CHECK(w.resource_version() == "104");
  CHECK(w.errors() == 0);
}

TEST_CASE("watch state: a bookmark advances the resourceVersion only") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;
  const auto before = w.items();
  Output out = w.on_event(bookmark("150"), now);
  CHECK_FALSE(out.items_changed);
  CHECK_FALSE(out.next.has_value());
  CHECK(w.resource_version() == "150");
  CHECK(w.items().size() == before.size());
}

TEST_CASE(
    "watch state: a clean watch end re-watches from the last resourceVersion without "
    "relisting") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 5s;
  w.on_event(event(EventType::kAdded, slice("c", "120", "10.0.0.3")), now);
  now += 1s;
  w.on_event(bookmark("130"), now);
  now += 300s;
  Output out = w.on_watch_end(now);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kWatch);
  CHECK(out.next->request.resource_version == "130");
  CHECK(out.next->not_before == now);
  CHECK(out.error.empty());
  CHECK_FALSE(out.items_changed);
  CHECK(w.relists() == 0);
  CHECK(w.watch_restarts() == 1);
  CHECK(w.errors() == 0);
  CHECK(w.items().size() == 3);
}

TEST_CASE("watch state: a quiet watch that times out normally is not a short watch") {
  WatchState w = synced_machine();
  Output out = w.on_watch_end(kT0 + 1000ms);  // exactly short_watch: not shorter
  CHECK(out.error.empty());
  CHECK(wait_of(out, kT0 + 1000ms) == 0ms);
  CHECK(w.errors() == 0);
}

TEST_CASE("watch state: HTTP 410 on the watch relists exactly once, at once") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 10s;
  Output out = w.on_http_error(410, std::nullopt, now);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kList);
  CHECK(out.next->request.continue_token.empty());
  CHECK(out.next->not_before == now);
  CHECK(out.error.find("410") != std::string::npos);
  CHECK(w.relists() == 1);
  CHECK(w.errors() == 1);
  CHECK(w.synced());  // still synced: the old set stands until the new list completes
  Output done = w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "300"), now);
  REQUIRE(done.next.has_value());
  CHECK(done.next->request.kind == Request::Kind::kWatch);
  CHECK(done.next->request.resource_version == "300");
  CHECK(w.relists() == 1);
}

TEST_CASE("watch state: an ERROR event with 410 Expired or Gone relists exactly once") {
  const std::vector<std::pair<int, std::string>> cases = {
      {410, "Expired"}, {410, "Gone"}, {410, ""}, {0, "Expired"}};
  for (const auto& c : cases) {
    const int code = c.first;
    const std::string reason = c.second;
    CAPTURE(code);
    CAPTURE(reason);
    WatchState w = synced_machine();
    TimePoint now = kT0 + 3s;
    w.on_event(bookmark("140"), now);
    Output out = w.on_event(error_event(code, reason), now);
    REQUIRE(out.next.has_value());
    CHECK(out.next->request.kind == Request::Kind::kList);
    CHECK(out.next->request.continue_token.empty());
    CHECK(out.next->not_before == now);
    CHECK_FALSE(out.error.empty());
    CHECK(w.relists() == 1);
    // The dead stream then closes; the driver may still report it: no second relist, no watch.
    Output end = w.on_watch_end(now);
    CHECK(end.ignored);
    CHECK_FALSE(end.next.has_value());
    CHECK(w.relists() == 1);
    CHECK(w.watch_restarts() == 0);
    CHECK(w.items().size() == 2);
  }
}

TEST_CASE(
    "watch state: any other ERROR event backs off, then re-watches from the same "
    "resourceVersion") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 3s;
  w.on_event(bookmark("140"), now);
  Output out = w.on_event(error_event(500, "InternalError"), now);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kWatch);
  CHECK(out.next->request.resource_version == "140");
  CHECK(wait_of(out, now) >= 0ms);
  CHECK(wait_of(out, now) <= 800ms);
  CHECK(out.error.find("InternalError") != std::string::npos);
  CHECK(w.relists() == 0);
  CHECK(w.errors() == 1);
  CHECK(w.watch_restarts() == 1);
}

TEST_CASE("watch state: 429 waits exactly Retry-After and repeats the same request") {
  SUBCASE("on a watch") {
    WatchState w = synced_machine();
    TimePoint now = kT0 + 2s;
    Output first = w.on_http_error(503, std::nullopt, now);  // n = 1 afterwards
    now = first.next->not_before;
    const Request watch = first.next->request;
    const milliseconds ceiling_before = w.backoff_ceiling(now);
    Output out = w.on_http_error(429, 7s, now);
    CHECK(wait_of(out, now) == 7s);
    CHECK(out.next->request.kind == Request::Kind::kWatch);
    CHECK(out.next->request.resource_version == watch.resource_version);
    CHECK(out.next->request.timeout_seconds == watch.timeout_seconds);
    CHECK(out.error.find("429") != std::string::npos);
    CHECK(w.backoff_ceiling(now) == ceiling_before);  // no backoff growth
    CHECK(w.relists() == 0);
  }
  SUBCASE("on a list page, keeping the continue token") {
    WatchState w(WatchConfig{}, kSeed);
    w.start(kT0);
    w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "100", "tok"), kT0);
    Output out = w.on_http_error(429, 3s, kT0);
    CHECK(wait_of(out, kT0) == 3s);
    CHECK(out.next->request.kind == Request::Kind::kList);
    CHECK(out.next->request.continue_token == "tok");
    // The retried page completes the list with the first page's items.
    Output done = w.on_list_page(page({slice("b", "11", "10.0.0.2")}, "100"), kT0 + 3s);
    CHECK(done.items_changed);
    CHECK(w.items().size() == 2);
  }
  SUBCASE("1 s when Retry-After is absent") {
    WatchState w = synced_machine();
    Output out = w.on_http_error(429, std::nullopt, kT0);
    CHECK(wait_of(out, kT0) == 1s);
  }
  SUBCASE("repeated 429s never grow the delay") {
    WatchState w = synced_machine();
    TimePoint now = kT0;
    for (int i = 0; i < 20; ++i) {
      Output out = w.on_http_error(429, 2s, now);
      CHECK(wait_of(out, now) == 2s);
      now = out.next->not_before;
    }
    CHECK(w.backoff_ceiling(now) == 800ms);
    CHECK(w.errors() == 20);
  }
}

TEST_CASE(
    "watch state: backoff delays stay within [0, min(30 s, 800 ms * 2^n)] and reach the "
    "cap") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;
  milliseconds largest = 0ms;
  for (int n = 0; n < 200; ++n) {
    CAPTURE(n);
    const milliseconds bound = std::min<milliseconds>(30000ms, 800ms * (n < 10 ? 1 << n : 1024));
    CHECK(w.backoff_ceiling(now) == bound);
    Output out = w.on_http_error(503, std::nullopt, now);
    const milliseconds d = wait_of(out, now);
    CHECK(d >= 0ms);
    CHECK(d <= bound);
    CHECK(d <= 30s);
    CHECK(out.next->request.kind == Request::Kind::kWatch);
    CHECK(out.error.find("503") != std::string::npos);
    largest = std::max(largest, d);
    now = out.next->not_before;  // the retry fails again as soon as it is issued
  }
  CHECK(largest > 15s);  // full jitter still uses the top of the range
  CHECK(w.errors() == 200);
  CHECK(w.relists() == 0);
}

TEST_CASE("watch state: backoff resets after 2 minutes of health and not before") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;
  for (int i = 0; i < 6; ++i) {
    Output out = w.on_http_error(0, std::nullopt, now);
    now = out.next->not_before;
  }
  CHECK(w.backoff_ceiling(now) == 30000ms);  // 800 * 2^6 = 51.2 s, capped

  // The watch comes back: an event at `now` starts the healthy period.
  w.on_event(bookmark("200"), now);
  CHECK(w.backoff_ceiling(now + 119s) == 30000ms);
  CHECK(w.backoff_ceiling(now + 120s) == 800ms);

  SUBCASE("an error after 2 minutes of health draws from the first step") {
    TimePoint later = now + 121s;
    Output out = w.on_http_error(503, std::nullopt, later);
    CHECK(wait_of(out, later) <= 800ms);
    CHECK(w.backoff_ceiling(later) == 1600ms);
  }
  SUBCASE("an error sooner keeps growing from where it was") {
    TimePoint later = now + 60s;
    w.on_http_error(503, std::nullopt, later);
    CHECK(w.backoff_ceiling(later) == 30000ms);
  }
}

TEST_CASE("watch state: a short watch without events counts as an error and backs off") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 300ms;  // the watch was asked for at kT0
  Output out = w.on_watch_end(now);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kWatch);
  CHECK(out.next->request.resource_version == "100");
  CHECK(wait_of(out, now) <= 800ms);
  CHECK(out.error.find("short_watch") != std::string::npos);
  CHECK(w.errors() == 1);
  CHECK(w.relists() == 0);
  CHECK(w.backoff_ceiling(now) == 1600ms);

  // Repeated short watches keep backing off, measured from each watch's not_before.
  for (int i = 0; i < 4; ++i) {
    now = out.next->not_before + 100ms;
    out = w.on_watch_end(now);
    CHECK_FALSE(out.error.empty());
  }
  CHECK(w.errors() == 5);
  CHECK(w.backoff_ceiling(now) == 25600ms);
}

TEST_CASE("watch state: a short watch that delivered an event re-watches at once") {
  WatchState w = synced_machine();
  w.on_event(bookmark("101"), kT0 + 100ms);
  Output out = w.on_watch_end(kT0 + 200ms);
  CHECK(out.error.empty());
  CHECK(wait_of(out, kT0 + 200ms) == 0ms);
  CHECK(out.next->request.resource_version == "101");
  CHECK(w.errors() == 0);
}

TEST_CASE(
    "watch state: a 410 during a paginated list restarts the list without a continue "
    "token") {
  WatchConfig cfg;
  cfg.page_limit = 1;
  WatchState w(cfg, kSeed);
  w.start(kT0);
  w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "100", "tok-1"), kT0);
  Output out = w.on_http_error(410, std::nullopt, kT0 + 1s);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kList);
  CHECK(out.next->request.continue_token.empty());
  CHECK(out.next->not_before == kT0 + 1s);
  CHECK(w.relists() == 1);
  // The partial first attempt is dropped: only the new list's items make the set.
  Output done = w.on_list_page(page({slice("b", "11", "10.0.0.2")}, "200"), kT0 + 1s);
  CHECK(done.items_changed);
  CHECK(w.items().size() == 1);
  CHECK(w.items().count("b") == 1);
  CHECK(w.resource_version() == "200");
}

TEST_CASE("watch state: other list errors back off and retry the same page") {
  WatchState w(WatchConfig{}, kSeed);
  w.start(kT0);
  w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "100", "tok-1"), kT0);
  Output out = w.on_http_error(500, std::nullopt, kT0);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kList);
  CHECK(out.next->request.continue_token == "tok-1");
  CHECK(wait_of(out, kT0) <= 800ms);
  CHECK(w.relists() == 0);
  if (wait_of(out, kT0) > 0ms) CHECK(w.phase(kT0) == WatchState::Phase::kWaiting);
  CHECK(w.phase(out.next->not_before) == WatchState::Phase::kListing);
  Output done = w.on_list_page(page({slice("b", "11", "10.0.0.2")}, "100"), out.next->not_before);
  CHECK(w.items().size() == 2);
  CHECK(done.next->request.kind == Request::Kind::kWatch);
}

TEST_CASE("watch state: 401, 403 and other 4xx back off like 5xx and keep the slices") {
  for (int status : {401, 403, 404, 400, 0, 502}) {
    CAPTURE(status);
    WatchState w = synced_machine();
    Output out = w.on_http_error(status, std::nullopt, kT0 + 1s);
    REQUIRE(out.next.has_value());
    CHECK(out.next->request.kind == Request::Kind::kWatch);
    CHECK(out.next->request.resource_version == "100");
    CHECK(wait_of(out, kT0 + 1s) <= 800ms);
    CHECK_FALSE(out.error.empty());
    CHECK_FALSE(out.items_changed);
    CHECK(w.items().size() == 2);
    CHECK(w.synced());
    CHECK(w.relists() == 0);
    CHECK(w.backoff_ceiling(kT0 + 1s) == 1600ms);
  }
}

TEST_CASE("watch state: inputs that arrive while nothing expects them are ignored safely") {
  SUBCASE("before start") {
    WatchState w(WatchConfig{}, kSeed);
    CHECK(w.on_event(event(EventType::kAdded, slice("a", "1", "10.0.0.1")), kT0).ignored);
    CHECK(w.on_list_page(page({slice("a", "1", "10.0.0.1")}, "1"), kT0).ignored);
    CHECK(w.on_watch_end(kT0).ignored);
    CHECK(w.on_http_error(500, std::nullopt, kT0).ignored);
    CHECK(w.items().empty());
    CHECK(w.ignored() == 4);
    CHECK(w.errors() == 0);
  }
  SUBCASE("watch events and ends while listing") {
    WatchState w(WatchConfig{}, kSeed);
    w.start(kT0);
    Output out = w.on_event(event(EventType::kAdded, slice("x", "1", "10.0.0.9")), kT0);
    CHECK(out.ignored);
    CHECK_FALSE(out.next.has_value());
    CHECK_FALSE(out.items_changed);
    CHECK(w.on_event(error_event(410, "Expired"), kT0).ignored);
    CHECK(w.on_watch_end(kT0).ignored);
    CHECK(w.items().empty());
    CHECK(w.relists() == 0);
    CHECK(w.phase(kT0) == WatchState::Phase::kListing);
    // The list still completes normally.
    Output done = w.on_list_page(page({slice("a", "1", "10.0.0.1")}, "5"), kT0);
    CHECK(done.next->request.kind == Request::Kind::kWatch);
    CHECK(w.items().count("x") == 0);
  }
  SUBCASE("a list page while watching") {
    WatchState w = synced_machine();
    Output out = w.on_list_page(page({}, "999"), kT0 + 1s);
    CHECK(out.ignored);
    CHECK(w.items().size() == 2);
    CHECK(w.resource_version() == "100");
  }
  SUBCASE("events and errors while waiting out a backoff") {
    WatchState w = synced_machine();
    TimePoint now = kT0 + 1s;
    Output out = w.on_http_error(503, std::nullopt, now);
    while (wait_of(out, now) == 0ms) {  // find a draw with a real wait
      out = w.on_http_error(503, std::nullopt, now);
    }
    CHECK(w.phase(now) == WatchState::Phase::kWaiting);
    const uint64_t errors = w.errors();
    CHECK(w.on_event(event(EventType::kDeleted, slice("a", "150", "10.0.0.1")), now).ignored);
    CHECK(w.on_watch_end(now).ignored);
    CHECK(w.on_http_error(410, std::nullopt, now).ignored);
    CHECK(w.items().size() == 2);
    CHECK(w.resource_version() == "100");
    CHECK(w.errors() == errors);
    CHECK(w.relists() == 0);
    // Once the wait is over the re-watch's events apply.
    TimePoint issued = out.next->not_before;
    CHECK(w.phase(issued) == WatchState::Phase::kWatching);
    CHECK(w.on_event(event(EventType::kDeleted, slice("a", "150", "10.0.0.1")), issued)
              .items_changed);
  }
}

TEST_CASE("watch state: slices survive a long outage of errors of every kind") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;
  const int statuses[] = {0, 503, 500, 401, 403, 429, 0, 504};
  for (int i = 0; i < 400; ++i) {
    Output out = w.on_http_error(statuses[i % 8], std::nullopt, now);
    CHECK_FALSE(out.items_changed);
    now = out.next->not_before;
    if (i % 50 == 0) {  // a stream that opens and closes at once now and then
      Output end = w.on_watch_end(now + 10ms);
      now = end.next->not_before;
    }
  }
  CHECK(w.synced());
  CHECK(w.items().size() == 2);
  CHECK(w.items().count("a") == 1);
  CHECK(w.resource_version() == "100");
  CHECK(w.relists() == 0);
  CHECK(w.errors() == 408);
  CHECK(now - kT0 > 10min);  // the outage really was long
}

TEST_CASE(
    "watch state: a repeated 410 without watch progress backs off instead of relisting at "
    "once") {
  WatchState w = synced_machine();
  TimePoint now = kT0 + 1s;
  Output first = w.on_http_error(410, std::nullopt, now);
  CHECK(first.next->not_before == now);
  w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "300"), now);
  Output second = w.on_event(error_event(410, "Expired"), now);
  CHECK(second.next->request.kind == Request::Kind::kList);
  CHECK(wait_of(second, now) <= 800ms);
  CHECK(w.backoff_ceiling(now) == 1600ms);
  CHECK(w.relists() == 2);
  // Progress (an event) ends the streak: the next 410 relists at once again.
  now = second.next->not_before;
  w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "400"), now);
  w.on_event(bookmark("401"), now + 1s);
  Output third = w.on_http_error(410, std::nullopt, now + 2s);
  CHECK(third.next->not_before == now + 2s);
  CHECK(w.relists() == 3);
}

TEST_CASE("watch state: calling start again restarts with a fresh list and keeps the slices") {
  WatchState w = synced_machine();
  Output out = w.start(kT0 + 1s);
  CHECK(out.next->request.kind == Request::Kind::kList);
  CHECK(out.next->request.continue_token.empty());
  CHECK(w.relists() == 1);
  CHECK(w.items().size() == 2);
  CHECK(w.synced());
}

TEST_CASE(
    "watch state: a malformed watch event backs off and resumes from the last good event, "
    "named as malformed, not as a connection error") {
  WatchState w = synced_machine();
  w.on_event(event(EventType::kModified, slice("a", "120", "10.0.0.9")), kT0 + 1s);
  Output out = w.on_malformed("watch event: field object.endpoints is a string", kT0 + 2s);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kWatch);
  CHECK(out.next->request.resource_version == "120");
  CHECK(wait_of(out, kT0 + 2s) <= 800ms);
  CHECK(out.error.rfind("the API server sent a malformed watch event (watch event: field "
                        "object.endpoints is a string); keeping the last 2 slice(s), retrying in ",
                        0) == 0);
  CHECK(out.error.find("no response") == std::string::npos);
  CHECK(out.error.find("connection") == std::string::npos);
  CHECK_FALSE(out.items_changed);
  CHECK(w.items().size() == 2);
  CHECK(w.errors() == 1);
  CHECK(w.relists() == 0);
  CHECK(w.watch_restarts() == 1);
  // It counts toward backoff like any error.
  CHECK(w.backoff_ceiling(kT0 + 2s) == 1600ms);
}

TEST_CASE("watch state: a malformed list page backs off and retries the same page") {
  WatchState w(WatchConfig{}, kSeed);
  w.start(kT0);
  w.on_list_page(page({slice("a", "10", "10.0.0.1")}, "100", "tok-1"), kT0);
  Output out = w.on_malformed("EndpointSliceList response is 5000000 bytes", kT0);
  REQUIRE(out.next.has_value());
  CHECK(out.next->request.kind == Request::Kind::kList);
  CHECK(out.next->request.continue_token == "tok-1");
  CHECK(out.error.rfind("the API server answered the list request with a malformed page "
                        "(EndpointSliceList response is 5000000 bytes); ",
                        0) == 0);
  CHECK(w.errors() == 1);
  CHECK_FALSE(w.synced());
}

TEST_CASE("watch state: a malformed response is ignored while nothing is in flight") {
  WatchState idle(WatchConfig{}, kSeed);
  CHECK(idle.on_malformed("x", kT0).ignored);
  WatchState w = synced_machine();
  Output out = w.on_http_error(500, std::nullopt, kT0);
  if (wait_of(out, kT0) > 0ms) {
    CHECK(w.on_malformed("x", kT0).ignored);
    CHECK(w.errors() == 1);
  }
}
