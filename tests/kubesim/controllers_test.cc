// The controllers' rules, driven through the store with pods whose status the test sets (no
// processes): what the StatefulSet controller creates under each policy, and what the
// EndpointSlice controller publishes.
#include <doctest/doctest.h>

#include "tests/kubesim/controllers.h"

using namespace kubesim;
using nlohmann::json;

namespace {

struct Fixture {
  ResourceRegistry registry;
  Store store;
  ResourceType ns = *registry.find("", "v1", "namespaces");
  ResourceType pods = *registry.find("", "v1", "pods");
  ResourceType sts = *registry.find("apps", "v1", "statefulsets");
  ResourceType svc = *registry.find("", "v1", "services");
  ResourceType eps = *registry.find("discovery.k8s.io", "v1", "endpointslices");

  Fixture() { REQUIRE(store.create(ns, "", {{"metadata", {{"name", "db"}}}}).ok()); }

  void make_sts(const std::string& policy, int replicas) {
    json obj = {{"metadata", {{"name", "esdb"}}},
                {"spec",
                 {{"replicas", replicas},
                  {"serviceName", "esdb"},
                  {"podManagementPolicy", policy},
                  {"selector", {{"matchLabels", {{"app", "esdb"}}}}},
                  {"template",
                   {{"metadata", {{"labels", {{"app", "esdb"}}}}},
                    {"spec", {{"containers", {{{"name", "c"}, {"image", "v1"}}}}}}}}}}};
    REQUIRE(store.create(sts, "db", obj).ok());
  }
  std::vector<std::string> pod_names() {
    std::vector<std::string> names;
    for (const auto& p : store.all(pods.qualified())) names.push_back(p["metadata"]["name"]);
    return names;
  }
  void set_pod(const std::string& name, bool ready, const std::string& ip) {
    json p = store.get(pods, "db", name).value();
    p["status"] = {{"phase", "Running"},
                   {"podIP", ip},
                   {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}};
    p["metadata"].erase("resourceVersion");
    REQUIRE(store.update(pods, "db", name, p, UpdateScope::kStatus).ok());
  }
};

}  // namespace

TEST_CASE(
    "statefulset: OrderedReady creates the next ordinal only after its predecessor is Running and "
    "Ready") {
  Fixture f;
  f.make_sts("OrderedReady", 3);
  reconcile_statefulsets(f.store, f.registry);
  reconcile_statefulsets(f.store, f.registry);
  CHECK(f.pod_names() == std::vector<std::string>{"esdb-0"});
  f.set_pod("esdb-0", false, "127.0.0.10");
  reconcile_statefulsets(f.store, f.registry);
  CHECK(f.pod_names().size() == 1);  // running but not ready: still waiting
  f.set_pod("esdb-0", true, "127.0.0.10");
  reconcile_statefulsets(f.store, f.registry);
  CHECK(f.pod_names() == std::vector<std::string>{"esdb-0", "esdb-1"});
  json p1 = f.store.get(f.pods, "db", "esdb-1").value();
  CHECK(p1["spec"]["hostname"] == "esdb-1");
  CHECK(p1["spec"]["subdomain"] == "esdb");
  CHECK(p1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "esdb-1");
  CHECK(p1["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet");
}

TEST_CASE("statefulset: Parallel creates every ordinal at once, ready or not") {
  Fixture f;
  f.make_sts("Parallel", 3);
  reconcile_statefulsets(f.store, f.registry);
  CHECK(f.pod_names() == std::vector<std::string>{"esdb-0", "esdb-1", "esdb-2"});
}

TEST_CASE(
    "statefulset: a template change rolls from the highest ordinal, one pod at a time, only when "
    "all are ready") {
  Fixture f;
  f.make_sts("Parallel", 3);
  reconcile_statefulsets(f.store, f.registry);
  for (int i = 0; i < 3; ++i)
    f.set_pod("esdb-" + std::to_string(i), true, "127.0.0." + std::to_string(20 + i));
  json s = f.store.get(f.sts, "db", "esdb").value();
  s["spec"]["template"]["spec"]["containers"][0]["image"] = "v2";
  s["metadata"].erase("resourceVersion");
  REQUIRE(f.store.update(f.sts, "db", "esdb", s).ok());
  reconcile_statefulsets(f.store, f.registry);
  reconcile_statefulsets(f.store, f.registry);
  int deleting = 0;
  for (const auto& p : f.store.all(f.pods.qualified())) {
    if (p["metadata"].contains("deletionTimestamp")) {
      ++deleting;
      CHECK(p["metadata"]["name"] == "esdb-2");
    }
  }
  CHECK(deleting == 1);
}

TEST_CASE("statefulset: scaling down removes the highest ordinals") {
  Fixture f;
  f.make_sts("Parallel", 3);
  reconcile_statefulsets(f.store, f.registry);
  json s = f.store.get(f.sts, "db", "esdb").value();
  s["spec"]["replicas"] = 1;
  s["metadata"].erase("resourceVersion");
  REQUIRE(f.store.update(f.sts, "db", "esdb", s).ok());
  reconcile_statefulsets(f.store, f.registry);
  for (const auto& p : f.store.all(f.pods.qualified())) {
    CHECK(p["metadata"].contains("deletionTimestamp") == (p["metadata"]["name"] != "esdb-0"));
  }
}

TEST_CASE(
    "endpointslices: not-ready pods are published not ready unless publishNotReadyAddresses") {
  for (bool pnra : {false, true}) {
    CAPTURE(pnra);
    Fixture f;
    REQUIRE(f.store
                .create(f.svc, "db",
                        {{"metadata", {{"name", "esdb"}}},
                         {"spec",
                          {{"clusterIP", "None"},
                           {"publishNotReadyAddresses", pnra},
                           {"selector", {{"app", "esdb"}}},
                           {"ports", {{{"name", "http"}, {"port", 2115}}}}}}})
                .ok());
    f.make_sts("Parallel", 2);
    reconcile_statefulsets(f.store, f.registry);
    f.set_pod("esdb-0", true, "127.0.0.30");
    f.set_pod("esdb-1", false, "127.0.0.31");
    reconcile_endpointslices(f.store, f.registry, 100);
    auto slices = f.store.all(f.eps.qualified());
    REQUIRE(slices.size() == 1);
    const json& s = slices[0];
    CHECK(s["metadata"]["labels"]["kubernetes.io/service-name"] == "esdb");
    CHECK(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] ==
          "endpointslice-controller.k8s.io");
    REQUIRE(s["endpoints"].size() == 2);
    CHECK(s["endpoints"][0]["hostname"] == "esdb-0");
    CHECK(s["endpoints"][0]["conditions"]["ready"] == true);
    CHECK(s["endpoints"][1]["conditions"]["ready"] == pnra);
    CHECK(s["endpoints"][1]["conditions"]["serving"] == pnra);
    CHECK(s["endpoints"][1]["targetRef"]["name"] == "esdb-1");
    CHECK(s["ports"][0]["port"] == 2115);

    // Terminating: not ready, terminating, still listed.
    REQUIRE(f.store.mark_deleting(f.pods, "db", "esdb-0", 30).ok());
    reconcile_endpointslices(f.store, f.registry, 100);
    json t = f.store.all(f.eps.qualified())[0]["endpoints"][0];
    CHECK(t["conditions"]["ready"] == false);
    CHECK(t["conditions"]["terminating"] == true);
  }
}

TEST_CASE("endpointslices: large services span several slices of at most the configured size") {
  Fixture f;
  REQUIRE(f.store
              .create(f.svc, "db",
                      {{"metadata", {{"name", "esdb"}}},
                       {"spec", {{"clusterIP", "None"}, {"selector", {{"app", "esdb"}}}}}})
              .ok());
  f.make_sts("Parallel", 5);
  reconcile_statefulsets(f.store, f.registry);
  for (int i = 0; i < 5; ++i)
    f.set_pod("esdb-" + std::to_string(i), true, "127.0.0." + std::to_string(40 + i));
  reconcile_endpointslices(f.store, f.registry, 2);
  auto slices = f.store.all(f.eps.qualified());
  REQUIRE(slices.size() == 3);
  size_t total = 0;
  for (const auto& s : slices) {
    CHECK(s["endpoints"].size() <= 2);
    total += s["endpoints"].size();
  }
  CHECK(total == 5);
  uint64_t rv = f.store.current_rv();
  reconcile_endpointslices(f.store, f.registry, 2);
  CHECK(f.store.current_rv() == rv);  // nothing changed, nothing written
}

TEST_CASE("endpointslices: a service without endpoints has a slice whose endpoints are null") {
  Fixture f;
  REQUIRE(
      f.store
          .create(f.svc, "db",
                  {{"metadata", {{"name", "empty"}}}, {"spec", {{"selector", {{"app", "none"}}}}}})
          .ok());
  reconcile_endpointslices(f.store, f.registry, 100);
  auto slices = f.store.all(f.eps.qualified());
  REQUIRE(slices.size() == 1);
  CHECK(slices[0]["endpoints"].is_null());
}

TEST_CASE("garbage collector: pods of a deleted StatefulSet are deleted gracefully") {
  Fixture f;
  f.make_sts("Parallel", 2);
  reconcile_statefulsets(f.store, f.registry);
  REQUIRE(f.store.remove(f.sts, "db", "esdb").ok());
  collect_garbage(f.store, f.registry);
  for (const auto& p : f.store.all(f.pods.qualified()))
    CHECK(p["metadata"].contains("deletionTimestamp"));
}
