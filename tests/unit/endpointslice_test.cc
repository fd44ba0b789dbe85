#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "discovery/endpointslice_parse.h"

using namespace esk8s::discovery;
using nlohmann::json;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A slice as the EndpointSlice controller writes it for a headless StatefulSet service.
const char* const kSlice = R"({
  "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
  "metadata": {"name": "esdb-x7k2p", "namespace": "prod", "resourceVersion": "5001",
               "generateName": "esdb-", "uid": "0b1c",
               "labels": {"kubernetes.io/service-name": "esdb",
                          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
               "ownerReferences": [{"kind": "Service", "name": "esdb"}],
               "managedFields": [{"manager": "kube-controller-manager", "fieldsType": "FieldsV1",
                                  "fieldsV1": {"f:endpoints": {}}}]},
  "addressType": "IPv4",
  "endpoints": [
    {"addresses": ["10.1.0.5"],
     "conditions": {"ready": true, "serving": true, "terminating": false},
     "hostname": "esdb-0",
     "targetRef": {"kind": "Pod", "namespace": "prod", "name": "esdb-0", "uid": "u-0"},
     "nodeName": "node-a", "zone": "zone-1", "hints": {"forZones": [{"name": "zone-1"}]}},
    {"addresses": ["10.1.0.6", "10.1.0.7"],
     "conditions": {"ready": false, "serving": false, "terminating": true},
     "hostname": "esdb-1",
     "targetRef": {"kind": "Pod", "namespace": "prod", "name": "esdb-1", "uid": "u-1"}}
  ],
  "ports": [{"name": "gossip", "port": 2113, "protocol": "TCP", "appProtocol": "http"},
            {"name": "", "port": 1113}]
})";

json slice_json() { return json::parse(kSlice); }

std::string event_line(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

std::string slice_error(const json& obj) {
  auto r = parse_endpoint_slice(obj);
  REQUIRE_FALSE(r.is_ok());
  return r.status().message();
}

std::string event_error(std::string_view line) {
  auto r = parse_watch_event(line);
  REQUIRE_FALSE(r.is_ok());
  return r.status().message();
}

// A three-event stream: ADDED, a BOOKMARK, then an ERROR (410).
std::string three_event_stream() {
  json modified = slice_json();
  modified["metadata"]["resourceVersion"] = "5002";
  modified["endpoints"][1]["conditions"] = {{"ready", true}};
  return event_line("ADDED", slice_json()) + event_line("MODIFIED", modified) +
         R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)"
         R"j("status":"Failure","message":"too old resource version: 5001 (5900)",)j"
         R"("reason":"Expired","code":410}})"
         "\n";
}

// Compact summary of decoder output, for comparing runs fed differently.
std::vector<std::string> summarize(const std::vector<esk8s::Result<SliceEvent>>& results) {
  std::vector<std::string> out;
  for (const auto& r : results) {
    if (!r.is_ok()) {
      out.push_back("error: " + r.status().message());
      continue;
    }
    out.push_back(std::to_string(static_cast<int>(r->type)) + " rv=" + r->resource_version +
                  " slice=" + r->object.name + " eps=" + std::to_string(r->object.endpoints.size()) +
                  " status=" + std::to_string(r->status.code) + r->status.reason);
  }
  return out;
}

void append(std::vector<esk8s::Result<SliceEvent>>& all,
            std::vector<esk8s::Result<SliceEvent>> more) {
  for (auto& r : more) all.push_back(std::move(r));
}

}  // namespace

// ---- single objects ---------------------------------------------------------------------------

TEST_CASE("endpointslice: a controller-written slice parses completely, unknown fields ignored") {
  auto r = parse_endpoint_slice(slice_json());
  REQUIRE(r.is_ok());
  const EndpointSlice& s = r.value();
  CHECK(s.name == "esdb-x7k2p");
  CHECK(s.namespace_name == "prod");
  CHECK(s.service_name == "esdb");
  CHECK(s.address_type == "IPv4");
  CHECK(s.resource_version == "5001");
  REQUIRE(s.endpoints.size() == 2);
  const Endpoint& e0 = s.endpoints[0];
  CHECK(e0.addresses == std::vector<std::string>{"10.1.0.5"});
  CHECK(e0.ready);
  CHECK(e0.serving);
  CHECK_FALSE(e0.terminating);
  CHECK(e0.hostname == "esdb-0");
  CHECK(e0.target_kind == "Pod");
  CHECK(e0.target_name == "esdb-0");
  CHECK(e0.target_namespace == "prod");
  CHECK(e0.target_uid == "u-0");
  CHECK(e0.node_name == "node-a");
  CHECK(e0.zone == "zone-1");
  const Endpoint& e1 = s.endpoints[1];
  CHECK(e1.addresses == std::vector<std::string>{"10.1.0.6", "10.1.0.7"});
  CHECK_FALSE(e1.ready);
  CHECK_FALSE(e1.serving);
  CHECK(e1.terminating);
  CHECK(e1.node_name.empty());
  REQUIRE(s.ports.size() == 2);
  CHECK(s.ports[0].name == "gossip");
  CHECK(s.ports[0].port == 2113);
  CHECK(s.ports[0].protocol == "TCP");
  CHECK(s.ports[1].name.empty());
  CHECK(s.ports[1].port == 1113);
  CHECK(s.ports[1].protocol == "TCP");  // absent -> TCP
}

TEST_CASE("endpointslice: null or absent endpoints and ports are empty") {
  json j = slice_json();
  j["endpoints"] = nullptr;
  j["ports"] = nullptr;
  auto r = parse_endpoint_slice(j);
  REQUIRE(r.is_ok());
  CHECK(r->endpoints.empty());
  CHECK(r->ports.empty());

  j.erase("endpoints");
  j.erase("ports");
  r = parse_endpoint_slice(j);
  REQUIRE(r.is_ok());
  CHECK(r->endpoints.empty());
  CHECK(r->ports.empty());

  // A port entry with null name/port/protocol takes the defaults.
  j["ports"] = json::array({{{"name", nullptr}, {"port", nullptr}, {"protocol", nullptr}}});
  r = parse_endpoint_slice(j);
  REQUIRE(r.is_ok());
  REQUIRE(r->ports.size() == 1);
  CHECK(r->ports[0].port == 0);
  CHECK(r->ports[0].protocol == "TCP");
}

TEST_CASE("endpointslice: absent conditions default each one on its own") {
  json j = slice_json();
  j["endpoints"][0].erase("conditions");
  j["endpoints"][1]["conditions"] = json::object();
  j["endpoints"].push_back({{"addresses", {"10.1.0.8"}}, {"conditions", {{"serving", false}}}});
  j["endpoints"].push_back(
      {{"addresses", {"10.1.0.9"}}, {"conditions", {{"ready", nullptr}, {"terminating", true}}}});
  j["endpoints"].push_back({{"addresses", {"10.1.0.10"}}, {"conditions", nullptr}});
  auto r = parse_endpoint_slice(j);
  REQUIRE(r.is_ok());
  REQUIRE(r->endpoints.size() == 5);
  for (int i : {0, 1, 4}) {
    CAPTURE(i);
    CHECK(r->endpoints[i].ready);
    CHECK(r->endpoints[i].serving);
    CHECK_FALSE(r->endpoints[i].terminating);
  }
  // ready absent but serving present: ready is still true.
  CHECK(r->endpoints[2].ready);
  CHECK_FALSE(r->endpoints[2].serving);
  CHECK(r->endpoints[3].ready);
  CHECK(r->endpoints[3].terminating);
  // Optional fields absent: empty.
  CHECK(r->endpoints[2].hostname.empty());
  CHECK(r->endpoints[2].target_name.empty());
  CHECK(r->endpoints[2].zone.empty());
}

TEST_CASE("endpointslice: IPv6 and FQDN slices parse with their address type") {
  json j = slice_json();
  j["addressType"] = "IPv6";
  j["endpoints"] = json::array({{{"addresses", {"fd00:10:1::5"}}, {"hostname", "esdb-0"}}});
  auto r = parse_endpoint_slice(j);
  REQUIRE(r.is_ok());
  CHECK(r->address_type == "IPv6");
  CHECK(r->endpoints[0].addresses[0] == "fd00:10:1::5");

  j["addressType"] = "FQDN";
  j["endpoints"] = json::array({{{"addresses", {"db.example.com"}}}});
  r = parse_endpoint_slice(j);
  REQUIRE(r.is_ok());
  CHECK(r->address_type == "FQDN");
}

TEST_CASE("endpointslice: wrong types are errors naming the field") {
  json j = slice_json();
  j["endpoints"] = "10.1.0.5";
  CHECK(contains(slice_error(j), "field endpoints is a string, expected an array"));
  CHECK(contains(slice_error(j), "EndpointSlice prod/esdb-x7k2p"));

  j = slice_json();
  j["endpoints"][1]["addresses"] = "10.1.0.6";
  CHECK(contains(slice_error(j), "field endpoints[1].addresses is a string, expected an array"));

  j = slice_json();
  j["endpoints"][1]["addresses"][1] = 7;
  CHECK(contains(slice_error(j),
                 "field endpoints[1].addresses[1] is an integer, expected a "
                 "string"));

  j = slice_json();
  j["endpoints"][0]["conditions"]["ready"] = "true";
  CHECK(contains(slice_error(j), "field endpoints[0].conditions.ready is a string"));

  j = slice_json();
  j["endpoints"][0]["targetRef"] = "esdb-0";
  CHECK(contains(slice_error(j), "field endpoints[0].targetRef is a string, expected an object"));

  j = slice_json();
  j["endpoints"][0] = json::array();
  CHECK(contains(slice_error(j), "field endpoints[0] is an array, expected an object"));

  j = slice_json();
  j["ports"][0]["port"] = "2113";
  CHECK(contains(slice_error(j), "field ports[0].port is a string, expected an integer"));

  j = slice_json();
  j["ports"][0]["port"] = 70000;
  CHECK(contains(slice_error(j), "field ports[0].port is 70000, expected 0-65535"));

  j = slice_json();
  j["ports"][0]["port"] = -1;
  CHECK(contains(slice_error(j), "field ports[0].port is -1"));

  j = slice_json();
  j["ports"][0]["port"] = 18446744073709551615ULL;
  CHECK(contains(slice_error(j), "field ports[0].port is 18446744073709551615"));

  j = slice_json();
  j["ports"][0]["port"] = 2113.5;
  CHECK(contains(slice_error(j), "ports[0].port is a floating-point number"));

  j = slice_json();
  j["metadata"] = "esdb";
  CHECK(contains(slice_error(j), "field metadata is a string, expected an object"));

  j = slice_json();
  j["metadata"]["labels"]["kubernetes.io/service-name"] = 3;
  CHECK(contains(slice_error(j), "metadata.labels[\"kubernetes.io/service-name\"] is an integer"));

  j = slice_json();
  j["addressType"] = false;
  CHECK(contains(slice_error(j), "field addressType is a boolean"));

  j = slice_json();
  j["kind"] = "Pod";
  CHECK(contains(slice_error(j), "field kind is \"Pod\", expected \"EndpointSlice\""));

  CHECK(contains(slice_error(json::array()), "the document is an array"));
  CHECK(contains(slice_error(json("x")), "the document is a string"));
  CHECK(contains(slice_error(json()), "the document is null"));
}

// ---- lists ------------------------------------------------------------------------------------

TEST_CASE("endpointslice: an EndpointSliceList parses items, resourceVersion and continue") {
  json list = {{"kind", "EndpointSliceList"},
               {"apiVersion", "discovery.k8s.io/v1"},
               {"metadata", {{"resourceVersion", "5900"}, {"continue", "eyJ2Ijoi"}}},
               {"items", {slice_json(), slice_json()}}};
  list["items"][1]["metadata"]["name"] = "esdb-q9z8w";
  list["items"][1].erase("kind");  // list items usually carry no kind
  auto r = parse_slice_list(list.dump());
  REQUIRE(r.is_ok());
  CHECK(r->resource_version == "5900");
  CHECK(r->continue_token == "eyJ2Ijoi");
  REQUIRE(r->items.size() == 2);
  CHECK(r->items[0].name == "esdb-x7k2p");
  CHECK(r->items[1].name == "esdb-q9z8w");
  CHECK(r->items[1].endpoints.size() == 2);

  r = parse_slice_list(R"({"kind":"EndpointSliceList","metadata":{"resourceVersion":"7"},)"
                       R"("items":null})");
  REQUIRE(r.is_ok());
  CHECK(r->items.empty());
  CHECK(r->continue_token.empty());

  r = parse_slice_list("  {\"metadata\":{}}\r\n");
  REQUIRE(r.is_ok());
  CHECK(r->items.empty());
}

TEST_CASE("endpointslice: bad list bodies are errors, never exceptions") {
  auto err = [](std::string_view body) {
    auto r = parse_slice_list(body);
    REQUIRE_FALSE(r.is_ok());
    return r.status().message();
  };
  CHECK(contains(err(R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":)"
                     R"("Forbidden","message":"endpointslices is forbidden","code":403})"),
                 "403 Forbidden: endpointslices is forbidden"));
  CHECK(contains(err(R"({"kind":"PodList","items":[]})"), "field kind is \"PodList\""));
  CHECK(contains(err(R"({"items":"none"})"), "field items is a string, expected an array"));
  CHECK(contains(err(R"({"items":[{"endpoints":[{"addresses":[1]}]}]})"),
                 "field items[0].endpoints[0].addresses[0] is an integer"));
  CHECK(contains(err(R"({"items":[]})"
                     "x"),
                 "not valid JSON"));
  CHECK(contains(err(""), "is empty"));
  CHECK(contains(err("[]"), "the document is an array"));
  CHECK(contains(err(std::string(kMaxObjectBytes + 1, ' ')), "more than the limit"));
}

// ---- watch events -----------------------------------------------------------------------------

TEST_CASE("endpointslice: ADDED, MODIFIED and DELETED events carry the slice") {
  struct Case {
    const char* type;
    EventType expected;
  };
  for (const Case& c : {Case{"ADDED", EventType::kAdded}, Case{"MODIFIED", EventType::kModified},
                        Case{"DELETED", EventType::kDeleted}}) {
    CAPTURE(c.type);
    auto r = parse_watch_event(event_line(c.type, slice_json()));
    REQUIRE(r.is_ok());
    CHECK(r->type == c.expected);
    CHECK(r->resource_version == "5001");
    CHECK(r->object.name == "esdb-x7k2p");
    CHECK(r->object.endpoints.size() == 2);
  }
  // "\r\n" and surrounding whitespace are fine.
  auto r = parse_watch_event("  " + event_line("ADDED", slice_json()) + "\r\n");
  CHECK(r.is_ok());
}

TEST_CASE("endpointslice: BOOKMARK events need only metadata.resourceVersion") {
  auto r = parse_watch_event(
      R"({"type":"BOOKMARK","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",)"
      R"("metadata":{"resourceVersion":"6120","creationTimestamp":null,"annotations":)"
      R"({"k8s.io/initial-events-end":"true"}},"addressType":"","endpoints":null,"ports":null}})");
  REQUIRE(r.is_ok());
  CHECK(r->type == EventType::kBookmark);
  CHECK(r->resource_version == "6120");
  CHECK(r->object.endpoints.empty());

  // Fields a bookmark does not need are not checked.
  r = parse_watch_event(
      R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"},"endpoints":"junk"}})");
  REQUIRE(r.is_ok());
  CHECK(r->resource_version == "7");

  CHECK(contains(event_error(R"({"type":"BOOKMARK","object":{"metadata":{}}})"),
                 "object.metadata.resourceVersion is missing or empty"));
  CHECK(contains(event_error(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":7}}})"),
                 "field object.metadata.resourceVersion is an integer"));
}

TEST_CASE("endpointslice: ERROR events fill the status (410 Expired)") {
  auto r = parse_watch_event(
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)"
      R"j("status":"Failure","message":"too old resource version: 5001 (5900)",)j"
      R"("reason":"Expired","code":410}})");
  REQUIRE(r.is_ok());
  CHECK(r->type == EventType::kError);
  CHECK(r->status.code == 410);
  CHECK(r->status.reason == "Expired");
  CHECK(r->status.message == "too old resource version: 5001 (5900)");
  CHECK(r->resource_version.empty());

  r = parse_watch_event(R"({"type":"ERROR","object":{"code":410,"reason":"Gone"}})");
  REQUIRE(r.is_ok());
  CHECK(r->status.reason == "Gone");
  CHECK(r->status.message.empty());

  CHECK(contains(event_error(R"({"type":"ERROR","object":{"code":"410"}})"),
                 "watch event ERROR: field object.code is a string, expected an integer"));
  CHECK(contains(event_error(R"({"type":"ERROR","object":"gone"})"),
                 "field object is a string, expected a Status object"));
}

TEST_CASE("endpointslice: malformed, truncated and ill-typed events are errors naming the field") {
  CHECK(contains(event_error("{\"type\":\"ADDED\",\"object\":{"), "not valid JSON"));
  CHECK(contains(event_error("{type: ADDED}"), "not valid JSON"));
  CHECK(contains(event_error("{\"type\":\"ADDED\"} trailing"), "not valid JSON"));
  CHECK(contains(event_error("\xff\xfe"), "not valid JSON"));
  CHECK(contains(
      event_error("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"\xc3\x28\"}}}"),
      "not valid JSON"));
  CHECK(contains(event_error(""), "watch event is empty"));
  CHECK(contains(event_error("[1,2]"), "watch event is an array, expected an object"));
  CHECK(contains(event_error("\"ADDED\""), "watch event is a string"));
  CHECK(contains(event_error("42"), "watch event is an integer"));
  CHECK(contains(event_error("null"), "watch event is null"));
  CHECK(contains(event_error(R"({"object":{}})"), "watch event has no field type"));
  CHECK(contains(event_error(R"({"type":null,"object":{}})"), "watch event has no field type"));
  CHECK(contains(event_error(R"({"type":1,"object":{}})"), "field type is an integer"));
  CHECK(contains(event_error(R"({"type":"added","object":{}})"),
                 "field type is \"added\", expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR"));
  CHECK(contains(event_error(R"({"type":"ADDED"})"), "watch event ADDED: has no field object"));
  CHECK(contains(event_error(R"({"type":"ADDED","object":[]})"),
                 "field object is an array, expected an EndpointSlice object"));
  CHECK(contains(event_error(R"({"type":"MODIFIED","object":{"endpoints":"x"}})"),
                 "watch event MODIFIED: field object.endpoints is a string, expected an array"));
  CHECK(contains(event_error(R"({"type":"ADDED","object":{"endpoints":[{"addresses":[null]}]}})"),
                 "field object.endpoints[0].addresses[0] is null, expected a string"));
  CHECK(contains(event_error(R"({"type":"ADDED","object":{"kind":"Status"}})"),
                 "field object.kind is \"Status\""));

  // Every proper prefix of a valid event is an error (never a crash or an exception).
  const std::string line = event_line("ADDED", slice_json());
  const std::string body = line.substr(0, line.size() - 1);
  for (size_t n = 0; n < body.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(parse_watch_event(body.substr(0, n)).is_ok());
  }
  CHECK(parse_watch_event(body).is_ok());
}

TEST_CASE("endpointslice: deep nesting is rejected before parsing") {
  std::string deep =
      R"({"type":"ADDED","object":{"x":)" + std::string(5000, '[') + std::string(5000, ']') + "}}";
  CHECK(contains(event_error(deep), "deeper than 100 levels"));
  // Brackets inside strings do not count.
  std::string quoted =
      R"({"type":"ADDED","object":{"metadata":{"name":")" + std::string(5000, '[') + R"("}}})";
  auto r = parse_watch_event(quoted);
  REQUIRE(r.is_ok());
  CHECK(r->object.name.size() == 5000);
}

// ---- the stream decoder -----------------------------------------------------------------------

TEST_CASE("endpointslice: decoder gives the same events however the stream is split") {
  const std::string stream = three_event_stream();

  WatchStreamDecoder whole;
  auto expected_results = whole.feed(stream);
  CHECK(whole.finish().empty());
  const auto expected = summarize(expected_results);
  REQUIRE(expected.size() == 3);
  CHECK(expected[0] == "0 rv=5001 slice=esdb-x7k2p eps=2 status=0");
  CHECK(expected[1] == "1 rv=5002 slice=esdb-x7k2p eps=2 status=0");
  CHECK(expected[2] == "4 rv= slice= eps=0 status=410Expired");
  REQUIRE(expected_results[1].is_ok());
  CHECK(expected_results[1]->object.endpoints[1].ready);

  // One split at every byte offset.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    WatchStreamDecoder d;
    auto got = d.feed(std::string_view(stream).substr(0, cut));
    append(got, d.feed(std::string_view(stream).substr(cut)));
    append(got, d.finish());
    CHECK(summarize(got) == expected);
  }

  // Byte by byte.
  {
    WatchStreamDecoder d;
    std::vector<esk8s::Result<SliceEvent>> got;
    for (char c : stream) append(got, d.feed(std::string_view(&c, 1)));
    CHECK(d.buffered_bytes() == 0);
    append(got, d.finish());
    CHECK(summarize(got) == expected);
  }

  // Random splits (fixed seed: reproducible).
  std::mt19937 rng(20240611);
  for (int round = 0; round < 300; ++round) {
    CAPTURE(round);
    WatchStreamDecoder d;
    std::vector<esk8s::Result<SliceEvent>> got;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t len = std::uniform_int_distribution<size_t>(0, 700)(rng);
      append(got, d.feed(std::string_view(stream).substr(pos, len)));
      pos += len;
    }
    append(got, d.finish());
    CHECK(summarize(got) == expected);
  }
}

TEST_CASE("endpointslice: decoder tolerates CRLF, blank lines and a missing final newline") {
  std::string stream = three_event_stream();
  std::string crlf;
  for (char c : stream) {
    crlf += c == '\n' ? std::string("\r\n\r\n  \n") : std::string(1, c);
  }
  crlf.pop_back();  // ends in blanks without a newline
  WatchStreamDecoder d;
  auto got = d.feed(crlf);
  CHECK(got.size() == 3);  // what is left unterminated is blank
  append(got, d.finish());
  CHECK(summarize(got) == summarize(WatchStreamDecoder().feed(stream)));

  // A trailing event without newline comes out of finish().
  std::string last = event_line("DELETED", slice_json());
  last.pop_back();
  WatchStreamDecoder d2;
  CHECK(d2.feed(last).empty());
  CHECK(d2.buffered_bytes() == last.size());
  auto tail = d2.finish();
  REQUIRE(tail.size() == 1);
  REQUIRE(tail[0].is_ok());
  CHECK(tail[0]->type == EventType::kDeleted);
  CHECK(d2.buffered_bytes() == 0);
  CHECK(d2.finish().empty());  // reset: nothing left

  // A truncated final line (connection cut mid-event) is an error, not a crash.
  WatchStreamDecoder d3;
  CHECK(d3.feed(event_line("ADDED", slice_json()).substr(0, 120)).empty());
  auto cut = d3.finish();
  REQUIRE(cut.size() == 1);
  CHECK_FALSE(cut[0].is_ok());
  CHECK(contains(cut[0].status().message(), "not valid JSON"));
}

TEST_CASE("endpointslice: a bad line is reported and the stream goes on") {
  std::string stream = event_line("ADDED", slice_json()) + "{\"type\":\"ADDED\",\"obj\n" +
                       "not json at all\n" + R"({"type":"SYNC","object":{}})" + "\n" +
                       event_line("DELETED", slice_json());
  auto got = WatchStreamDecoder().feed(stream);
  REQUIRE(got.size() == 5);
  CHECK(got[0].is_ok());
  CHECK_FALSE(got[1].is_ok());
  CHECK_FALSE(got[2].is_ok());
  CHECK(contains(got[3].status().message(), "\"SYNC\""));
  REQUIRE(got[4].is_ok());
  CHECK(got[4]->type == EventType::kDeleted);
}

TEST_CASE("endpointslice: an over-long line is one error, then the decoder resynchronises") {
  const size_t max = 512;
  const std::string small = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})"
                            "\n";
  const std::string huge =
      "{\"type\":\"ADDED\",\"object\":{\"x\":\"" + std::string(5000, 'a') + "\"}}\n";
  const std::string stream = small + huge + small;

  auto check = [&](const std::vector<esk8s::Result<SliceEvent>>& got) {
    REQUIRE(got.size() == 3);
    CHECK(got[0].is_ok());
    REQUIRE_FALSE(got[1].is_ok());
    CHECK(contains(got[1].status().message(), "longer than 512 bytes"));
    CHECK(contains(got[1].status().message(), "{\"type\":\"ADDED\""));
    REQUIRE(got[2].is_ok());
    CHECK(got[2]->resource_version == "9");
  };

  WatchStreamDecoder all(max);
  auto got = all.feed(stream);
  append(got, all.finish());
  check(got);

  // The error comes as soon as the limit is crossed, before the line's newline arrives.
  WatchStreamDecoder early(max);
  auto first = early.feed(small + huge.substr(0, max + 1));
  REQUIRE(first.size() == 2);
  CHECK(first[0].is_ok());
  CHECK_FALSE(first[1].is_ok());
  CHECK(early.buffered_bytes() == 0);

  // Fed in pieces, memory stays bounded and the results are those of feeding it whole.
  WatchStreamDecoder d(max);
  got.clear();
  size_t peak = 0;
  for (size_t pos = 0; pos < stream.size(); pos += 37) {
    append(got, d.feed(std::string_view(stream).substr(pos, 37)));
    peak = std::max(peak, d.buffered_bytes());
  }
  append(got, d.finish());
  check(got);
  CHECK(peak <= max);
  CHECK(summarize(got) == summarize(WatchStreamDecoder(max).feed(stream)));

  // An over-long final line without newline: one error, nothing more from finish().
  WatchStreamDecoder d2(max);
  auto tail = d2.feed(small + std::string(2000, 'z'));
  REQUIRE(tail.size() == 2);
  CHECK_FALSE(tail[1].is_ok());
  CHECK(d2.buffered_bytes() == 0);
  CHECK(d2.finish().empty());
  // ...and the decoder is usable again afterwards.
  auto again = d2.feed(small);
  REQUIRE(again.size() == 1);
  CHECK(again[0].is_ok());
}

TEST_CASE("endpointslice: parse errors quoting bad bytes stay printable") {
  const std::string msg = event_error("{\"type\":\xff}");
  CHECK(contains(msg, "\\xff"));
  CHECK(msg.find('\xff') == std::string::npos);
}
