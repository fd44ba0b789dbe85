// An API server behind a path prefix (https://gateway/k8s/clusters/c-1, as Rancher and other
// gateways publish clusters): every request of KubeClient (GET, POST, watch streams) and so of
// discovery and `esk8s discover` goes under the server URL's path. The gateway (gateway.h) is a
// test proxy that forwards only that prefix to the real kube-apiserver of esk8s-cluster and
// answers 404 to anything else.
#include <doctest/doctest.h>

#include "tests/discovery/cluster_env.h"
#include "tests/discovery/gateway.h"
#include "tests/unit/test_util.h"

using namespace discovery_env;
using esk8s::discoverytest::Gateway;

namespace {

constexpr const char* kPrefix = "/k8s/clusters/c-abc12";

// The gateway in front of the apiserver of `env`.
std::unique_ptr<Gateway> gateway(Env& env) {
  const std::string& s = env.cluster.server();
  return std::make_unique<Gateway>(kPrefix, s.substr(8, s.rfind(':') - 8),
                                   std::stoi(s.substr(s.rfind(':') + 1)), env.cluster.ca_file());
}

// A client for the service account through `server_url`, verifying the gateway's certificate.
std::unique_ptr<k::KubeClient> client_via(Env& env, const Gateway& proxy,
                                          const std::string& server_url, esk8s::Logger log) {
  return env.client(log, server_url, proxy.ca_file());
}

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v) {
    if (s.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("path prefix: the test gateway routes only its prefix") {
  Env env({}, /*nodes=*/0);
  auto proxy = gateway(env);
  esk8s::Logger log(nullptr, "test");
  auto root = client_via(env, *proxy, proxy->root_url(), log);
  CHECK(root->get("/api").status == 404);
  CHECK(proxy->refused() == std::vector<std::string>{"/api"});
  auto prefixed = client_via(env, *proxy, proxy->url() + "/", log);
  CHECK(prefixed->base_path() == kPrefix);
  CHECK(prefixed->get("/api").status == 200);
  CHECK(proxy->forwarded() == std::vector<std::string>{std::string(kPrefix) + "/api"});
}

TEST_CASE(
    "path prefix: discovery lists, watches and reviews its permissions under the server URL's "
    "path") {
  Env env;
  env.prod_with_pods(2);
  auto proxy = gateway(env);
  {
    RunningSource s([&](esk8s::Logger log) { return client_via(env, *proxy, proxy->url(), log); },
                    {"prod"});
    REQUIRE_MESSAGE(s.synced_with(2), s.sink->all());
    // A change after the list arrives through the watch stream, which runs through the gateway.
    env.scale("prod", 3);
    CHECK_MESSAGE(eventually([&] { return s.peers.size() == 3; }, 20s), s.sink->all());
    CHECK(s.stats().events > 0);
    CHECK(s.sink->count("RBAC self-check passed") == 1);
  }
  const auto forwarded = proxy->forwarded();
  const std::string slices = std::string(kPrefix) + "/apis/discovery.k8s.io/v1/namespaces/prod/"
                                                    "endpointslices?labelSelector=";
  CHECK(any_contains(forwarded, slices));
  CHECK(any_contains(forwarded, "&watch=true&allowWatchBookmarks=true"));
  CHECK(any_contains(forwarded,
                     std::string(kPrefix) + "/apis/authorization.k8s.io/v1/"
                                            "selfsubjectaccessreviews"));
  CHECK_MESSAGE(proxy->refused().empty(), proxy->refused().front());
}

TEST_CASE("path prefix: esk8s discover reaches an API server behind a gateway") {
  Env env;
  env.prod_with_pods(2);
  auto proxy = gateway(env);
  REQUIRE(eventually([&] { return env.endpoints() == 2; }, 30s));
  const std::string kubeconfig = env.kubeconfig(proxy->url(), proxy->ca_file());
  auto [rc, out] = esk8s::test::run_command(std::string(ESK8S_CLI) +
                                            " discover --service esdb --namespace prod "
                                            "--kubeconfig " +
                                            kubeconfig);
  CHECK_MESSAGE(rc == 0, out);
  CHECK_MESSAGE(out.find("API server   " + proxy->url()) != std::string::npos, out);
  CHECK(out.find("user         system:serviceaccount:prod:esdb") != std::string::npos);
  CHECK(out.find("ok      watch endpointslices.discovery.k8s.io in prod") != std::string::npos);
  CHECK(out.find("PEERS (2)") != std::string::npos);
  CHECK(out.find("problem:") == std::string::npos);
  CHECK(proxy->refused().empty());
}
