#include <doctest/doctest.h>

#include "plugin/statefulset_info.h"

using namespace esk8s::plugin;

TEST_CASE("statefulset info: the owner is the controller StatefulSet ownerReference") {
  auto name = owning_statefulset(R"({"metadata":{"name":"esdb-0","ownerReferences":[
      {"kind":"ReplicaSet","name":"x","controller":false},
      {"apiVersion":"apps/v1","kind":"StatefulSet","name":"esdb","controller":true}]}})");
  REQUIRE(name);
  CHECK(name.value() == "esdb");
}

TEST_CASE("statefulset info: a pod without a StatefulSet owner is an error naming the pod") {
  auto name = owning_statefulset(R"({"metadata":{"name":"lonely"}})");
  REQUIRE_FALSE(name);
  CHECK(name.status().message().find("lonely") != std::string::npos);
  CHECK_FALSE(owning_statefulset("not json"));
  CHECK_FALSE(owning_statefulset("[1,2]"));
}

TEST_CASE("statefulset info: policy defaults to OrderedReady and replicas to 1") {
  auto info = parse_statefulset(R"({"metadata":{"name":"esdb"},"spec":{}})");
  REQUIRE(info);
  CHECK(info->name == "esdb");
  CHECK(info->pod_management_policy == "OrderedReady");
  CHECK(info->replicas == 1);
  info = parse_statefulset(
      R"({"metadata":{"name":"esdb"},"spec":{"replicas":5,"podManagementPolicy":"Parallel"}})");
  REQUIRE(info);
  CHECK(info->pod_management_policy == "Parallel");
  CHECK(info->replicas == 5);
}

TEST_CASE("statefulset info: an unknown policy or a bad replicas value is refused") {
  CHECK_FALSE(
      parse_statefulset(R"({"metadata":{"name":"s"},"spec":{"podManagementPolicy":"Any"}})"));
  CHECK_FALSE(parse_statefulset(R"({"metadata":{"name":"s"},"spec":{"replicas":-1}})"));
  CHECK_FALSE(parse_statefulset(R"({"metadata":{"name":"s"},"spec":{"replicas":"3"}})"));
}
