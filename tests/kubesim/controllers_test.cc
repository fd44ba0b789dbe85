// The controllers' rules, driven through the store with pods whose status the test sets (no
// processes): what the StatefulSet controller creates under each policy, and what the
// EndpointSlice controller publishes.
#include <doctest/doctest.h>

#include "tests/kubesim/base64.h"
#include "tests/kubesim/controllers.h"
#include "tls/x509.h"

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

TEST_CASE(
    "csr signer: approves and signs names of the requester's own pods, denies others with the "
    "reason") {
  Fixture f;
  auto ca = esk8s::tls::make_self_signed_ca("test-ca", esk8s::tls::KeyType::kEcdsaP256,
                                            std::chrono::hours(1));
  REQUIRE(ca.is_ok());
  CsrSignerOptions opts{"esk8s.io/node", true, ca->cert_pem, ca->key_pem};
  auto csrs = *f.registry.find("certificates.k8s.io", "v1", "certificatesigningrequests");
  REQUIRE(f.store
              .create(f.pods, "db",
                      {{"metadata", {{"name", "esdb-0"}}},
                       {"spec", {{"serviceAccountName", "esdb"}, {"subdomain", "esdb"}}}})
              .ok());
  auto request = [&](const std::string& name, std::vector<std::string> dns,
                     std::vector<std::string> ips) {
    esk8s::tls::CertSpec spec;
    spec.common_name = dns.empty() ? "x" : dns[0];
    spec.dns_names = dns;
    spec.ip_addresses = ips;
    auto key = esk8s::tls::generate_key(esk8s::tls::KeyType::kEcdsaP256);
    auto pem = esk8s::tls::make_csr(spec, key->private_key_pem);
    REQUIRE(pem.is_ok());
    json csr = {{"metadata", {{"name", name}}},
                {"spec",
                 {{"signerName", "esk8s.io/node"},
                  {"request", base64_encode(pem.value())},
                  {"expirationSeconds", 3600},
                  {"usages", {"digital signature", "server auth", "client auth"}},
                  {"username", "system:serviceaccount:db:esdb"}}}};
    REQUIRE(f.store.create(csrs, "", csr).ok());
  };
  request("good", {"esdb-0.esdb.db.svc.cluster.local", "esdb-0.esdb.db.svc", "esdb-0.esdb"},
          {"127.0.0.1"});
  request("other-pod", {"esdb-1.esdb.db.svc.cluster.local"}, {});
  request("pod-ip", {"esdb-0.esdb.db.svc.cluster.local"}, {"10.1.2.3"});
  request("other-ns", {"esdb-0.esdb.prod.svc.cluster.local"}, {});
  reconcile_csrs(f.store, f.registry, opts);

  json good = f.store.get(csrs, "", "good").value();
  CHECK(good["status"]["conditions"][0]["type"] == "Approved");
  REQUIRE(good["status"].contains("certificate"));
  for (const auto& [name, why] : std::vector<std::pair<std::string, std::string>>{
           {"other-pod", "esdb-1 which does not exist"},
           {"pod-ip", "IP SAN 10.1.2.3"},
           {"other-ns", "outside namespace db"}}) {
    CAPTURE(name);
    json denied = f.store.get(csrs, "", name).value();
    CHECK(denied["status"]["conditions"][0]["type"] == "Denied");
    CHECK(denied["status"]["conditions"][0]["message"].get<std::string>().find(why) !=
          std::string::npos);
    CHECK_FALSE(denied["status"].contains("certificate"));
  }
}

TEST_CASE("csr signer: with manual approval a request waits until it is approved") {
  Fixture f;
  auto ca = esk8s::tls::make_self_signed_ca("test-ca", esk8s::tls::KeyType::kEcdsaP256,
                                            std::chrono::hours(1));
  CsrSignerOptions opts{"esk8s.io/node", false, ca->cert_pem, ca->key_pem};
  auto csrs = *f.registry.find("certificates.k8s.io", "v1", "certificatesigningrequests");
  esk8s::tls::CertSpec spec;
  spec.common_name = "a";
  spec.dns_names = {"a.b"};
  auto key = esk8s::tls::generate_key(esk8s::tls::KeyType::kEcdsaP256);
  json csr = {
      {"metadata", {{"name", "manual"}}},
      {"spec",
       {{"signerName", "esk8s.io/node"},
        {"request", base64_encode(esk8s::tls::make_csr(spec, key->private_key_pem).value())},
        {"usages", {"server auth"}},
        {"username", "admin"}}}};
  REQUIRE(f.store.create(csrs, "", csr).ok());
  reconcile_csrs(f.store, f.registry, opts);
  CHECK_FALSE(f.store.get(csrs, "", "manual").value().contains("status"));
  json approved = f.store.get(csrs, "", "manual").value();
  approved["status"]["conditions"] = {
      {{"type", "Approved"}, {"status", "True"}, {"reason", "KubectlApprove"}}};
  approved["metadata"].erase("resourceVersion");
  REQUIRE(f.store.update(csrs, "", "manual", approved, UpdateScope::kApproval).ok());
  reconcile_csrs(f.store, f.registry, opts);
  json signed_csr = f.store.get(csrs, "", "manual").value();
  REQUIRE(signed_csr["status"].contains("certificate"));
}
