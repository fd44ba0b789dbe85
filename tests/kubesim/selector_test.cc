#include <doctest/doctest.h>

#include "tests/kubesim/selector.h"

using kubesim::FieldSelector;
using kubesim::LabelSelector;
using nlohmann::json;

TEST_CASE(
    "selector: equality, inequality and existence requirements match as the API server does") {
  auto s = LabelSelector::parse("app=esdb,tier!=cache,zone,!legacy");
  REQUIRE(s.is_ok());
  CHECK(s->matches({{"app", "esdb"}, {"zone", "a"}}));
  CHECK(s->matches({{"app", "esdb"}, {"zone", "a"}, {"tier", "db"}}));
  CHECK_FALSE(s->matches({{"app", "esdb"}, {"zone", "a"}, {"tier", "cache"}}));
  CHECK_FALSE(s->matches({{"app", "esdb"}}));
  CHECK_FALSE(s->matches({{"app", "esdb"}, {"zone", "a"}, {"legacy", "1"}}));
  CHECK_FALSE(s->matches(json()));
  CHECK(LabelSelector::parse("app==esdb")->matches({{"app", "esdb"}}));
}

TEST_CASE("selector: set-based in and notin requirements") {
  auto s = LabelSelector::parse("env in (prod, staging),tier notin (cache)");
  REQUIRE(s.is_ok());
  CHECK(s->matches({{"env", "prod"}}));
  CHECK(s->matches({{"env", "staging"}, {"tier", "db"}}));
  CHECK_FALSE(s->matches({{"env", "dev"}}));
  CHECK_FALSE(s->matches({{"env", "prod"}, {"tier", "cache"}}));
  CHECK(LabelSelector::parse("tier notin (cache)")->matches(json::object()));
}

TEST_CASE("selector: an empty selector matches everything") {
  auto s = LabelSelector::parse("  ");
  REQUIRE(s.is_ok());
  CHECK(s->empty());
  CHECK(s->matches(json()));
}

TEST_CASE("selector: malformed selectors are errors naming the text") {
  for (const char* bad :
       {"app=", "=x", "a in (", "a in ()", "a foo (b)", "a>1", "A B", ",", "app=es db"}) {
    std::string text = bad;
    CAPTURE(text);
    auto s = LabelSelector::parse(bad);
    if (std::string(bad) == "app=") {
      // An empty value is valid in Kubernetes (app is set to "").
      CHECK(s.is_ok());
      continue;
    }
    CHECK_FALSE(s.is_ok());
  }
  CHECK(LabelSelector::parse("example.com/app=x").is_ok());
  CHECK_FALSE(LabelSelector::parse("Example_.com/app=x").is_ok());
}

TEST_CASE("selector: metav1.LabelSelector objects with matchLabels and matchExpressions") {
  auto s = LabelSelector::from_label_selector(
      {{"matchLabels", {{"app", "esdb"}}},
       {"matchExpressions",
        {{{"key", "zone"}, {"operator", "In"}, {"values", {"a", "b"}}},
         {{"key", "old"}, {"operator", "DoesNotExist"}}}}});
  REQUIRE(s.is_ok());
  CHECK(s->matches({{"app", "esdb"}, {"zone", "a"}}));
  CHECK_FALSE(s->matches({{"app", "esdb"}, {"zone", "c"}}));
  CHECK_FALSE(LabelSelector::from_label_selector(
                  {{"matchExpressions", {{{"key", "a"}, {"operator", "Near"}}}}})
                  .is_ok());
  CHECK_FALSE(LabelSelector::from_label_selector(
                  {{"matchExpressions", {{{"key", "a"}, {"operator", "In"}}}}})
                  .is_ok());
}

TEST_CASE("selector: field selectors compare dotted paths with = and !=") {
  auto f = FieldSelector::parse("metadata.name=esdb-0,status.phase!=Failed");
  REQUIRE(f.is_ok());
  CHECK(f->matches({{"metadata", {{"name", "esdb-0"}}}, {"status", {{"phase", "Running"}}}}));
  CHECK_FALSE(f->matches({{"metadata", {{"name", "esdb-1"}}}}));
  CHECK_FALSE(f->matches({{"metadata", {{"name", "esdb-0"}}}, {"status", {{"phase", "Failed"}}}}));
  CHECK_FALSE(FieldSelector::parse("metadata.name").is_ok());
}
