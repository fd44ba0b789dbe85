// Kubernetes Events without I/O (plugin/event_recorder.h): the events.k8s.io/v1 bodies, series
// aggregation, the token bucket, the LRU bound, and what 403/404/409/5xx answers do. A fake API
// keeps what was written; time is a fake clock.
#include <doctest/doctest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "plugin/event_recorder.h"

using namespace esk8s::plugin;
using nlohmann::json;
using std::chrono::seconds;
using Time = EventRecorder::Time;

namespace {

EventRecorderSettings settings() {
  EventRecorderSettings s;
  s.instance = "esk8s-esdb-0";
  s.regarding.namespace_name = "prod";
  s.regarding.name = "esdb-0";
  s.regarding.uid = "8d7e2f4c-0000-4000-8000-000000000001";
  return s;
}

EventOccurrence died(const std::string& member) {
  return {EventType::kWarning, std::string(event_reason::kMemberDied), "ObserveMembership",
          "member " + member + " died: no answer to direct or indirect probes"};
}

// The API: Events by name with their series count, as the server applies creates and patches.
struct FakeApi {
  struct Stored {
    json body;
    int64_t count = 1;
  };
  std::map<std::string, Stored> events;
  int status = 0;  // 0: answer like a working server
  uint64_t writes = 0;

  int apply(const EventWrite& w) {
    ++writes;
    if (status) return status;
    json b = json::parse(w.body);
    if (w.kind == EventWrite::Kind::kCreate) {
      REQUIRE(w.path == "/apis/events.k8s.io/v1/namespaces/prod/events");
      const std::string name = b["metadata"]["name"];
      if (events.count(name)) return 409;
      const int64_t count = b.contains("series") ? b["series"]["count"].get<int64_t>() : 1;
      events[name] = {b, count};
      return 201;
    }
    const std::string prefix = "/apis/events.k8s.io/v1/namespaces/prod/events/";
    REQUIRE(w.path.rfind(prefix, 0) == 0);
    auto it = events.find(w.path.substr(prefix.size()));
    if (it == events.end()) return 404;
    CHECK(b.size() == 1);  // only the series changes
    CHECK(b["series"]["count"].get<int64_t>() >= 2);
    it->second.count = b["series"]["count"];
    it->second.body["series"] = b["series"];
    return 200;
  }
  // Sends each write and feeds the answer back.
  void send(EventRecorder& r, std::vector<EventWrite> ws, Time now) {
    for (const auto& w : ws) r.on_result(w, apply(w), now);
  }
  void send(EventRecorder& r, std::optional<EventWrite> w, Time now) {
    if (w) r.on_result(*w, apply(*w), now);
  }
  int64_t total(const std::string& reason) const {
    int64_t n = 0;
    for (const auto& [name, e] : events) n += e.body["reason"] == reason ? e.count : 0;
    return n;
  }
};

const Time t0 = Time{} + seconds(1796601600);  // 2026-12-07T00:00:00Z

}  // namespace

TEST_CASE("events: the first occurrence creates an events.k8s.io/v1 Event about the member's Pod") {
  EventRecorder r(settings());
  auto w = r.record(died("esdb-2.esdb.prod.svc.cluster.local"), t0);
  REQUIRE(w);
  CHECK(w->kind == EventWrite::Kind::kCreate);
  json b = json::parse(w->body);
  CHECK(b["apiVersion"] == "events.k8s.io/v1");
  CHECK(b["kind"] == "Event");
  CHECK(b["metadata"]["namespace"] == "prod");
  CHECK(b["metadata"]["name"].get<std::string>().rfind("esdb-0.", 0) == 0);
  CHECK(b["eventTime"] == "2026-12-07T00:00:00.000000Z");
  CHECK(b["reportingController"] == "esk8s");
  CHECK(b["reportingInstance"] == "esk8s-esdb-0");
  CHECK(b["action"] == "ObserveMembership");
  CHECK(b["reason"] == "MemberDied");
  CHECK(b["type"] == "Warning");
  CHECK(b["note"] == "member esdb-2.esdb.prod.svc.cluster.local died: no answer to direct or "
                     "indirect probes");
  CHECK(b["regarding"] == json{{"apiVersion", "v1"},
                               {"kind", "Pod"},
                               {"namespace", "prod"},
                               {"name", "esdb-0"},
                               {"uid", "8d7e2f4c-0000-4000-8000-000000000001"}});
  CHECK_FALSE(b.contains("series"));  // one occurrence is no series (the API wants count >= 2)
  CHECK(r.stats().creates == 1);
}

TEST_CASE("events: repeats are one Event whose series counts them, written on a heartbeat") {
  EventRecorder r(settings());
  FakeApi api;
  api.send(r, r.record(died("a"), t0), t0);
  // The second occurrence starts the series at once (client-go does the same).
  auto second = r.record(died("a"), t0 + seconds(1));
  REQUIRE(second);
  CHECK(second->kind == EventWrite::Kind::kPatch);
  CHECK(json::parse(second->body) ==
        json{{"series", {{"count", 2}, {"lastObservedTime", "2026-12-07T00:00:01.000000Z"}}}});
  api.send(r, second, t0 + seconds(1));
  // Further ones only count until the heartbeat.
  for (int i = 2; i < 50; ++i) CHECK_FALSE(r.record(died("a"), t0 + seconds(i)));
  CHECK(r.tick(t0 + seconds(50)).empty());
  auto beat = r.tick(t0 + seconds(61));
  REQUIRE(beat.size() == 1);
  CHECK(json::parse(beat[0].body)["series"]["count"] == 50);
  CHECK(json::parse(beat[0].body)["series"]["lastObservedTime"] ==
        "2026-12-07T00:00:49.000000Z");
  api.send(r, beat, t0 + seconds(61));
  CHECK(api.events.size() == 1);
  CHECK(api.total("MemberDied") == 50);
  // A different note (another member), or another type, is another Event.
  api.send(r, r.record(died("b"), t0 + seconds(62)), t0 + seconds(62));
  EventOccurrence normal = died("a");
  normal.type = EventType::kNormal;
  api.send(r, r.record(normal, t0 + seconds(62)), t0 + seconds(62));
  CHECK(api.events.size() == 3);
}

TEST_CASE("events: a finished series writes its final count, then a new occurrence is a new Event") {
  EventRecorder r(settings());
  FakeApi api;
  for (int i = 0; i < 5; ++i) {
    Time now = t0 + seconds(i);
    api.send(r, r.record(died("a"), now), now);
    api.send(r, r.tick(now), now);
  }
  CHECK(api.total("MemberDied") == 2);  // created, series started; 3 more waiting
  Time later = t0 + seconds(4) + r.settings().series_finish;
  api.send(r, r.tick(later), later);
  CHECK(api.total("MemberDied") == 5);
  CHECK(r.tick(later + seconds(1)).empty());
  CHECK(r.keys() == 0);  // forgotten once the final count is written
  api.send(r, r.record(died("a"), later + seconds(2)), later + seconds(2));
  CHECK(api.events.size() == 2);
}

TEST_CASE("events: 10000 flaps of a member cost a bounded number of writes and lose no count") {
  EventRecorder r(settings());
  FakeApi api;
  const int flaps = 10000;
  EventOccurrence lost{EventType::kWarning, "QuorumLost", "ObserveQuorum", "quorum lost: 1 of 3"};
  EventOccurrence regained{EventType::kNormal, "QuorumRegained", "ObserveQuorum",
                           "quorum regained: 2 of 3"};
  Time now = t0;
  for (int i = 0; i < flaps; ++i) {  // a flap every 2 s, ticks every second
    api.send(r, r.record(died("esdb-2"), now), now);
    api.send(r, r.record(lost, now), now);
    api.send(r, r.tick(now), now);
    now += seconds(1);
    api.send(r, r.record(regained, now), now);
    api.send(r, r.tick(now), now);
    now += seconds(1);
  }
  const auto elapsed = std::chrono::duration_cast<seconds>(now - t0);
  const uint64_t bound = 25 + static_cast<uint64_t>(elapsed / r.settings().refill_every) + 1;
  CHECK(api.writes <= bound);
  // Three keys with a heartbeat of 60 s: about 3 * 20000 / 60 = 1000 writes wanted; the bucket
  // holds them near 25 + 20000 / 30.
  MESSAGE("writes for 3 x " << flaps << " occurrences over " << elapsed.count()
                            << " s: " << api.writes << " (bound " << bound << ")");
  for (int i = 0; i < 400; ++i) {  // quiet: the series finish with their exact totals
    now += seconds(1);
    api.send(r, r.tick(now), now);
  }
  CHECK(api.events.size() == 3);
  CHECK(api.total("MemberDied") == flaps);
  CHECK(api.total("QuorumLost") == flaps);
  CHECK(api.total("QuorumRegained") == flaps);
  CHECK(r.keys() == 0);
}

TEST_CASE("events: a burst of distinct Events is limited by the token bucket and the LRU bound") {
  EventRecorderSettings s = settings();
  s.max_keys = 64;
  EventRecorder r(s);
  FakeApi api;
  for (int i = 0; i < 1000; ++i) api.send(r, r.record(died("m" + std::to_string(i)), t0), t0);
  CHECK(api.writes == 25);  // the burst
  CHECK(r.keys() <= 64);
  CHECK(r.stats().evicted == 1000 - 64);
  CHECK(r.stats().evicted_unwritten == 1000 - 64 - 25);  // the 25 written went first
  // Then one write per refill period, whatever the ticks.
  for (int i = 1; i <= 300; ++i) api.send(r, r.tick(t0 + seconds(i)), t0 + seconds(i));
  CHECK(api.writes == 25 + 300 / 30);
}

TEST_CASE("events: a 403 pauses writing, is reported once, and never loses the count") {
  EventRecorder r(settings());
  FakeApi api;
  api.status = 403;
  auto w = r.record(died("a"), t0);
  REQUIRE(w);
  CHECK(r.on_result(*w, api.apply(*w), t0) == WriteOutcome::kForbiddenFirst);
  CHECK(r.paused(t0 + seconds(1)));
  for (int i = 1; i < 600; ++i) {  // flapping while forbidden: nothing is written
    CHECK_FALSE(r.record(died("a"), t0 + seconds(i)));
    CHECK(r.tick(t0 + seconds(i)).empty());
  }
  CHECK(api.writes == 1);
  auto again = r.tick(t0 + seconds(600));
  REQUIRE(again.size() == 1);
  CHECK(r.on_result(again[0], api.apply(again[0]), t0 + seconds(600)) == WriteOutcome::kForbidden);
  // The Role is applied: the next attempt creates the whole series at once.
  api.status = 0;
  auto granted = r.tick(t0 + seconds(1200));
  REQUIRE(granted.size() == 1);
  CHECK(granted[0].kind == EventWrite::Kind::kCreate);
  CHECK(r.on_result(granted[0], api.apply(granted[0]), t0 + seconds(1200)) == WriteOutcome::kDone);
  CHECK(api.total("MemberDied") == 600);
  // Revoked again later: reported again, once.
  api.status = 403;
  auto w2 = r.record(died("b"), t0 + seconds(1201));
  REQUIRE(w2);
  CHECK(r.on_result(*w2, api.apply(*w2), t0 + seconds(1201)) == WriteOutcome::kForbiddenFirst);
}

TEST_CASE("events: a vanished Event is created again with its series, a taken name is redrawn") {
  EventRecorder r(settings());
  FakeApi api;
  api.send(r, r.record(died("a"), t0), t0);
  api.events.clear();  // its TTL ran out
  auto p = r.record(died("a"), t0 + seconds(1));
  REQUIRE(p);
  CHECK(r.on_result(*p, api.apply(*p), t0 + seconds(1)) == WriteOutcome::kRetry);
  api.send(r, r.tick(t0 + seconds(2)), t0 + seconds(2));
  REQUIRE(api.events.size() == 1);
  CHECK(api.total("MemberDied") == 2);
  CHECK(api.events.begin()->second.body["series"]["count"] == 2);

  EventRecorder other(settings());
  auto c = other.record(died("x"), t0);
  REQUIRE(c);
  CHECK(other.on_result(*c, 409, t0) == WriteOutcome::kRetry);
  auto c2 = other.tick(t0 + seconds(1));
  REQUIRE(c2.size() == 1);
  CHECK(json::parse(c2[0].body)["metadata"]["name"] != json::parse(c->body)["metadata"]["name"]);
}

TEST_CASE("events: no answer or a 5xx is retried after a pause, a refused Event is dropped") {
  EventRecorder r(settings());
  auto w = r.record(died("a"), t0);
  REQUIRE(w);
  CHECK(r.on_result(*w, 0, t0) == WriteOutcome::kRetry);
  CHECK(r.tick(t0 + seconds(5)).empty());
  auto again = r.tick(t0 + seconds(10));
  REQUIRE(again.size() == 1);
  CHECK(r.on_result(again[0], 503, t0 + seconds(10)) == WriteOutcome::kRetry);
  auto third = r.tick(t0 + seconds(20));
  REQUIRE(third.size() == 1);
  CHECK(r.on_result(third[0], 422, t0 + seconds(20)) == WriteOutcome::kRejected);
  CHECK(r.keys() == 0);
  CHECK(r.stats().rejected == 1);
  CHECK(r.tick(t0 + seconds(100)).empty());
}

TEST_CASE("events: a hostile note becomes valid JSON within the API's 1024 bytes") {
  EventRecorder r(settings());
  EventOccurrence e = died("a");
  e.note = std::string("\xff\xfe\x1b[31m\n", 7) + std::string(5000, 'x');
  auto w = r.record(e, t0);
  REQUIRE(w);
  json b = json::parse(w->body);  // throws on invalid UTF-8 or broken JSON
  const std::string note = b["note"];
  CHECK(note.size() <= 1024);
  CHECK(note.find('\n') == std::string::npos);
  CHECK(note.find('\x1b') == std::string::npos);
}

TEST_CASE("events: a clock that steps back refills no tokens and names stay unique") {
  EventRecorder r(settings());
  FakeApi api;
  for (int i = 0; i < 25; ++i) api.send(r, r.record(died(std::to_string(i)), t0), t0);
  CHECK(api.writes == 25);
  CHECK_FALSE(r.record(died("late"), t0 - seconds(3600)));
  CHECK(r.tick(t0 - seconds(3590)).empty());  // 10 s since the step: no token yet
  CHECK(api.events.size() == 25);  // 25 creates in one nanosecond: 25 names
}
