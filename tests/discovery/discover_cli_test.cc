// `esk8s discover` against the real kube-apiserver (esk8s-cluster, no Nodes: the tests write the
// EndpointSlices themselves, as the controller would for pods): every problem it prints makes
// it exit 1, in text mode as in JSON, with the reason (a token the apiserver rejects, a
// malformed or oversized list, no endpoints), a cluster without SelfSubjectReview is still
// checked, and a large service is read page by page. The apiserver never sends a malformed
// list: that one is garbled in transit by the test gateway (gateway.h), which also records what
// it forwarded.
#include <doctest/doctest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/discovery/cluster_env.h"
#include "tests/discovery/gateway.h"
#include "tests/unit/test_util.h"

using namespace discovery_env;
using esk8s::discoverytest::Gateway;

namespace {

// The slice `name` of service "esdb" with the one ready endpoint esdb-<ordinal> at
// 10.0.<ordinal / 200>.<ordinal % 200 + 1>; `annotation_bytes` of padding in an annotation.
json slice(const std::string& name, int ordinal, size_t annotation_bytes = 0) {
  json s = {{"metadata",
             {{"name", name},
              {"labels",
               {{"kubernetes.io/service-name", "esdb"},
                {"endpointslice.kubernetes.io/managed-by", "test"}}}}},
            {"addressType", "IPv4"},
            {"endpoints",
             {{{"addresses", {"10.0." + std::to_string(ordinal / 200) + "." +
                              std::to_string(ordinal % 200 + 1)}},
               {"hostname", "esdb-" + std::to_string(ordinal)},
               {"conditions", {{"ready", true}}}}}},
            {"ports", {{{"name", "gossip"}, {"port", 2114}}}}};
  if (annotation_bytes > 0) {
    s["metadata"]["annotations"] = {{"padding", std::string(annotation_bytes, 'x')}};
  }
  return s;
}

constexpr const char* kSlices = "/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices";

// A cluster without Nodes, namespace prod with the service and its RBAC and, with
// `one_endpoint`, the slice "esdb-a" of the service with the ready endpoint esdb-0 at 10.0.0.1.
struct Fixture {
  Env env;
  explicit Fixture(bool one_endpoint, const std::vector<std::string>& args = {})
      : env(args, /*nodes=*/0) {
    env.namespace_with_service("prod");
    if (one_endpoint) env.create(kSlices, slice("esdb-a", 0));
  }
  // A kubeconfig for the service account, straight to the apiserver.
  std::string kubeconfig() { return env.kubeconfig(env.cluster.server(), env.cluster.ca_file()); }
  std::unique_ptr<Gateway> gateway() {
    const std::string& s = env.cluster.server();
    return std::make_unique<Gateway>("", s.substr(8, s.rfind(':') - 8),
                                     std::stoi(s.substr(s.rfind(':') + 1)), env.cluster.ca_file());
  }
};

struct Run {
  int rc;
  std::string out;
};

// `esk8s discover` with `kubeconfig`; `flags` are appended.
Run discover(const std::string& kubeconfig, const std::string& flags = "") {
  auto r = esk8s::test::run_command(std::string(ESK8S_CLI) +
                                        " discover --service esdb --namespace prod "
                                        "--kubeconfig " +
                                        kubeconfig + " " + flags,
                                    /*merge_stderr=*/false);
  return {r.rc, r.out};
}

// The JSON report of a run that fails (exit status 1).
json failed_report(const std::string& kubeconfig) {
  auto [rc, out] = discover(kubeconfig, "--json");
  CHECK(rc == 1);
  json report = json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(report.is_object(), out);
  return report;
}

bool has(const std::string& out, const std::string& needle) {
  return out.find(needle) != std::string::npos;
}

size_t slice_lists(const Gateway& gw) {
  size_t n = 0;
  for (const auto& t : gw.forwarded()) n += t.find("/endpointslices?") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("esk8s discover: a healthy service exits 0 without a problem line") {
  Fixture f(/*one_endpoint=*/true);
  auto [rc, out] = discover(f.kubeconfig());
  CHECK_MESSAGE(rc == 0, out);
  CHECK(has(out, "user         system:serviceaccount:prod:esdb\n"));
  CHECK(has(out, "PEERS (1)\n  esdb-0.esdb.prod.svc.cluster.local  10.0.0.1:2114  ready"));
  CHECK_FALSE(has(out, "problem:"));
}

TEST_CASE("esk8s discover: a rejected token is named as such, checks nothing else, exits 1") {
  Fixture f(/*one_endpoint=*/true);
  auto gw = f.gateway();
  // A token that was never issued by this cluster: the apiserver answers its real 401.
  f.env.write_token("not-a-token-of-this-cluster");
  const std::string kubeconfig = f.env.kubeconfig(gw->url(), gw->ca_file());
  auto [rc, out] = discover(kubeconfig);
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "user         REJECTED (HTTP 401: Unauthorized)\n"), out);
  CHECK(has(out, "problem: the API server rejected the token in " + f.env.token_file + " "));
  CHECK(has(out, "(HTTP 401: Unauthorized): it is invalid, expired or not meant for this cluster"));
  CHECK_FALSE(has(out, "SelfSubjectReview"));
  CHECK_FALSE(has(out, "RBAC"));
  CHECK(slice_lists(*gw) == 0);

  json report = failed_report(kubeconfig);
  CHECK(report["user"] == "");
  CHECK(report["user_status"] == 401);
  CHECK(report["user_error"] == "HTTP 401: Unauthorized");
  REQUIRE(report["problems"].size() == 1);
}

TEST_CASE("esk8s discover: a cluster without SelfSubjectReview still checks RBAC and peers") {
  // The apiserver serves authentication.k8s.io/v1 without its selfsubjectreviews resource.
  Fixture f(/*one_endpoint=*/true,
            {"--apiserver-arg=--runtime-config=authentication.k8s.io/v1/selfsubjectreviews=false"});
  auto [rc, out] = discover(f.kubeconfig());
  CHECK_MESSAGE(rc == 0, out);
  CHECK(has(out, "user         (unknown: HTTP 404: the server could not find the requested "
                 "resource)\n"));
  CHECK(has(out, "ok      list endpointslices.discovery.k8s.io in prod"));
  CHECK(has(out, "PEERS (1)"));
}

TEST_CASE("esk8s discover: a malformed list is a problem in text mode too, and exits 1") {
  Fixture f(/*one_endpoint=*/true);
  auto gw = f.gateway();
  gw->replace_list_body(R"({"kind":"EndpointSliceList","items":[{"metadata":)");
  const std::string kubeconfig = f.env.kubeconfig(gw->url(), gw->ca_file());
  auto [rc, out] = discover(kubeconfig);
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "problem: the API server's EndpointSlice list for namespace \"prod\" "
                         "cannot be used: "),
                out);
  // Not reported as "no endpoints": the list was not read.
  CHECK_FALSE(has(out, "no endpoints found"));

  json report = failed_report(kubeconfig);
  REQUIRE(report["problems"].size() == 1);
  CHECK(report["namespaces"][0]["error"] != "");
}

TEST_CASE("esk8s discover: an oversized list is a problem naming the limit, and exits 1") {
  Fixture f(/*one_endpoint=*/false);
  // 18 slices with 250 kB of annotations each (the apiserver allows 256 KiB per object): one
  // page of about 4.5 MB, over the decoder's 4 MiB.
  for (int i = 0; i < 18; ++i) f.env.create(kSlices, slice("esdb-" + std::to_string(i), i, 250000));
  auto [rc, out] = discover(f.kubeconfig());
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "cannot be used: EndpointSliceList response is "), out);
  CHECK(has(out, "bytes, more than the limit of 4194304"));
}

TEST_CASE("esk8s discover: no endpoints at all is a problem and exits 1") {
  Fixture f(/*one_endpoint=*/false);
  // The service selects no pod: the controller's slice for it has no endpoints.
  auto [rc, out] = discover(f.kubeconfig());
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "PEERS (0)\n"), out);
  CHECK(has(out, "problem: no endpoints found for service \"esdb\" in 1 namespace(s)"));
}

TEST_CASE("esk8s discover: a large service is read page by page, as the plugin reads it") {
  Fixture f(/*one_endpoint=*/false);
  // 501 slices: more than one page of 500 (the plugin's page size), written by 4 writers.
  constexpr int kCount = 501;
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&] {
      for (int i = next++; i < kCount; i = next++) {
        auto r = f.env.cluster.api("POST", kSlices, slice("esdb-" + std::to_string(i), i).dump());
        failed += r.status != 201;
      }
    });
  }
  for (auto& t : writers) t.join();
  REQUIRE(failed == 0);
  auto gw = f.gateway();
  auto [rc, out] = discover(f.env.kubeconfig(gw->url(), gw->ca_file()));
  CHECK_MESSAGE(rc == 0, out.substr(0, 2000));
  CHECK(slice_lists(*gw) == 2);
  CHECK(has(out, "PEERS (501)"));
  CHECK(has(out, "esdb-1.esdb.prod.svc.cluster.local  10.0.0.2:2114"));
}
