#include <doctest/doctest.h>

#include "tests/kubesim/store.h"

using namespace kubesim;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  ResourceRegistry registry;
  Store store{5};  // five events of history per resource
  ResourceType cm = *registry.find("", "v1", "configmaps");
  ResourceType ns = *registry.find("", "v1", "namespaces");

  Fixture() { REQUIRE(store.create(ns, "", {{"metadata", {{"name", "default"}}}}).ok()); }

  json make(const std::string& name, const std::string& app = "x") {
    auto r = store.create(
        cm, "default",
        {{"metadata", {{"name", name}, {"labels", {{"app", app}}}}}, {"data", {{"k", "v"}}}});
    REQUIRE(r.ok());
    return r.value();
  }
};

uint64_t rv_of(const json& o) {
  return std::stoull(o["metadata"]["resourceVersion"].get<std::string>());
}

}  // namespace

TEST_CASE(
    "store: create sets uid, timestamps and resourceVersion; a duplicate is 409 AlreadyExists") {
  Fixture f;
  json a = f.make("a");
  CHECK(a["metadata"]["uid"].get<std::string>().size() == 36);
  CHECK(a["metadata"].contains("creationTimestamp"));
  CHECK(rv_of(a) == f.store.current_rv());
  auto dup = f.store.create(f.cm, "default", {{"metadata", {{"name", "a"}}}});
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == 409);
  CHECK(dup.error().reason == "AlreadyExists");
  CHECK(dup.error().message == "configmaps \"a\" already exists");
  auto missing_ns = f.store.create(f.cm, "nope", {{"metadata", {{"name", "a"}}}});
  CHECK(missing_ns.error().message == "namespaces \"nope\" not found");
}

TEST_CASE(
    "store: an update with a stale resourceVersion is 409 Conflict; no-op writes keep the "
    "revision") {
  Fixture f;
  json a = f.make("a");
  json next = a;
  next["data"]["k"] = "w";
  auto r = f.store.update(f.cm, "default", "a", next);
  REQUIRE(r.ok());
  CHECK(rv_of(r.value()) > rv_of(a));
  auto stale = f.store.update(f.cm, "default", "a", next);  // still carries a's revision
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().reason == "Conflict");
  uint64_t before = f.store.current_rv();
  auto same = f.store.update(f.cm, "default", "a", r.value());
  REQUIRE(same.ok());
  CHECK(f.store.current_rv() == before);
}

TEST_CASE(
    "store: a watch from a resourceVersion replays later events, and 410 once history is "
    "compacted") {
  Fixture f;
  json a = f.make("a");
  f.make("b");
  auto w = f.store.watch(f.cm, "default", rv_of(a), {}, {});
  REQUIRE(w.ok());
  auto events = w.value()->next(100ms);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "ADDED");
  CHECK(events[0].object["metadata"]["name"] == "b");

  f.store.compact();
  auto gone = f.store.watch(f.cm, "default", rv_of(a), {}, {});
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == 410);
  CHECK(gone.error().reason == "Expired");
  CHECK(gone.error().message.rfind("too old resource version: ", 0) == 0);
  // From the current revision a watch still works.
  CHECK(f.store.watch(f.cm, "default", f.store.current_rv(), {}, {}).ok());
}

TEST_CASE("store: bounded history makes old revisions expire without compaction") {
  Fixture f;
  json first = f.make("c0");
  for (int i = 1; i < 8; ++i) f.make("c" + std::to_string(i));
  CHECK(f.store.watch(f.cm, "default", rv_of(first), {}, {}).error().code == 410);
}

TEST_CASE("store: a watch without resourceVersion starts with the current objects as ADDED") {
  Fixture f;
  f.make("a");
  f.make("b", "y");
  auto w = f.store.watch(f.cm, "default", std::nullopt, LabelSelector::parse("app=x").value(), {});
  REQUIRE(w.ok());
  auto events = w.value()->next(100ms);
  REQUIRE(events.size() == 1);
  CHECK(events[0].object["metadata"]["name"] == "a");
}

TEST_CASE("store: an object leaving a watch's label selector is delivered as DELETED") {
  Fixture f;
  json a = f.make("a");
  auto w = f.store.watch(f.cm, "default", f.store.current_rv(),
                         LabelSelector::parse("app=x").value(), {});
  REQUIRE(w.ok());
  json next = a;
  next["metadata"]["labels"]["app"] = "other";
  REQUIRE(f.store.update(f.cm, "default", "a", next).ok());
  auto events = w.value()->next(100ms);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "DELETED");
}

TEST_CASE("store: paginated lists are consistent snapshots and expire with history") {
  Fixture f;
  for (int i = 0; i < 5; ++i) f.make("p" + std::to_string(i));
  auto page1 = f.store.list(f.cm, "default", {}, {}, std::nullopt, 2, "");
  REQUIRE(page1.ok());
  CHECK(page1.value().items.size() == 2);
  CHECK(page1.value().remaining == 3);
  REQUIRE_FALSE(page1.value().continue_token.empty());
  // A change after the first page does not show up in the rest of this list.
  f.make("p9");
  auto page2 =
      f.store.list(f.cm, "default", {}, {}, std::nullopt, 10, page1.value().continue_token);
  REQUIRE(page2.ok());
  CHECK(page2.value().items.size() == 3);
  CHECK(page2.value().resource_version == page1.value().resource_version);
  for (const auto& i : page2.value().items) CHECK(i["metadata"]["name"] != "p9");

  f.store.compact();
  auto expired =
      f.store.list(f.cm, "default", {}, {}, std::nullopt, 10, page1.value().continue_token);
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().code == 410);
  CHECK(f.store.list(f.cm, "default", {}, {}, std::nullopt, 10, "garbage!").error().code == 400);
}

TEST_CASE("store: an exact list at a past revision reconstructs that state") {
  Fixture f;
  json a = f.make("a");
  uint64_t at = rv_of(a);
  f.make("b");
  REQUIRE(f.store.remove(f.cm, "default", "a").ok());
  auto past = f.store.list(f.cm, "default", {}, {}, at, 0, "");
  REQUIRE(past.ok());
  REQUIRE(past.value().items.size() == 1);
  CHECK(past.value().items[0]["metadata"]["name"] == "a");
  CHECK(f.store.list(f.cm, "default", {}, {}, f.store.current_rv() + 10, 0, "").error().code ==
        504);
}
