// `esk8s discover` against a fake API server whose answers each test writes: every problem it
// prints makes it exit 1, in text mode as in JSON, with the reason (a rejected token, a
// malformed or oversized list, no endpoints), and a large service is read page by page.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/kubesim/https_test_server.h"
#include "tests/unit/test_util.h"

using nlohmann::json;

namespace {

// What the fake API server answers. The defaults are a healthy cluster: the token "good" is
// user "system:serviceaccount:prod:esdb", every access review is allowed, and the service has
// one ready endpoint.
struct FakeApi {
  std::function<void(httplib::Response&)> self_review = [](httplib::Response& res) {
    res.status = 201;
    res.set_content(
        json{{"kind", "SelfSubjectReview"},
             {"status", {{"userInfo", {{"username", "system:serviceaccount:prod:esdb"}}}}}}
            .dump(),
        "application/json");
  };
  // Keyed by the `continue` parameter ("" for the first page).
  std::map<std::string, std::string> list_pages = {{"", list_page({slice("esdb-a", 0)}, "")}};
  std::atomic<int> lists{0};

  // A slice `name` with the one ready endpoint esdb-<ordinal> at 10.0.0.<ordinal + 1>.
  static json slice(const std::string& name, int ordinal) {
    json eps = json::array({{{"addresses", {"10.0.0." + std::to_string(ordinal + 1)}},
                             {"hostname", "esdb-" + std::to_string(ordinal)},
                             {"conditions", {{"ready", true}}}}});
    return {{"metadata",
             {{"name", name},
              {"namespace", "prod"},
              {"labels", {{"kubernetes.io/service-name", "esdb"}}}}},
            {"addressType", "IPv4"},
            {"endpoints", eps},
            {"ports", {{{"name", "gossip"}, {"port", 2114}}}}};
  }
  static std::string list_page(const std::vector<json>& items, const std::string& cont) {
    return json{{"kind", "EndpointSliceList"},
                {"apiVersion", "discovery.k8s.io/v1"},
                {"metadata", {{"resourceVersion", "7"}, {"continue", cont}}},
                {"items", items}}
        .dump();
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer good") {
      res.status = 401;
      res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                      R"("message":"Unauthorized","reason":"Unauthorized","code":401})",
                      "application/json");
      return;
    }
    if (req.path == "/apis/authentication.k8s.io/v1/selfsubjectreviews") return self_review(res);
    if (req.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") {
      res.status = 201;
      res.set_content(R"({"kind":"SelfSubjectAccessReview","status":{"allowed":true}})",
                      "application/json");
      return;
    }
    if (req.path == "/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices") {
      ++lists;
      auto it = list_pages.find(req.get_param_value("continue"));
      if (it == list_pages.end() || req.get_param_value("limit") != "500") {
        res.status = 400;
        return;
      }
      res.set_content(it->second, "application/json");
      return;
    }
    res.status = 404;
  }
};

struct Run {
  int rc;
  std::string out;
};

// `esk8s discover` with a kubeconfig for `server` and the token `token`; `flags` are appended.
Run discover(const https_test::TestHttpsServer& server, const std::string& token,
             const std::string& flags = "") {
  const std::string kubeconfig = server.dir().write(
      "fake.kubeconfig",
      "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " +
          server.url() + "\n    certificate-authority: " + server.ca_file() +
          "\nusers:\n- name: u\n  user:\n    token: " + token +
          "\ncontexts:\n- name: fake\n  context: {cluster: fake, user: u, namespace: prod}\n"
          "current-context: fake\n");
  auto r = esk8s::test::run_command(std::string(ESK8S_CLI) +
                                        " discover --service esdb --namespace prod "
                                        "--kubeconfig " +
                                        kubeconfig + " " + flags,
                                    /*merge_stderr=*/false);
  return {r.rc, r.out};
}

struct Fixture {
  FakeApi api;
  https_test::TestHttpsServer server{
      [this](const httplib::Request& req, httplib::Response& res) { api.handle(req, res); }};
};

// The JSON report of a run that fails (exit status 1).
json failed_report(const https_test::TestHttpsServer& server, const std::string& token) {
  auto [rc, out] = discover(server, token, "--json");
  CHECK(rc == 1);
  json report = json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(report.is_object(), out);
  return report;
}

bool has(const std::string& out, const std::string& needle) {
  return out.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("esk8s discover: a healthy service exits 0 without a problem line") {
  Fixture f;
  auto [rc, out] = discover(f.server, "good");
  CHECK_MESSAGE(rc == 0, out);
  CHECK(has(out, "user         system:serviceaccount:prod:esdb\n"));
  CHECK(has(out, "PEERS (1)\n  esdb-0.esdb.prod.svc.cluster.local  10.0.0.1:2114  ready"));
  CHECK_FALSE(has(out, "problem:"));
}

TEST_CASE("esk8s discover: a rejected token is named as such, checks nothing else, exits 1") {
  Fixture f;
  auto [rc, out] = discover(f.server, "expired");
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "user         REJECTED (HTTP 401: Unauthorized)\n"), out);
  CHECK(has(out, "problem: the API server rejected the token of kubeconfig "));
  CHECK(has(out, "(HTTP 401: Unauthorized): it is invalid, expired or not meant for this cluster"));
  CHECK_FALSE(has(out, "SelfSubjectReview"));
  CHECK_FALSE(has(out, "RBAC"));
  CHECK(f.api.lists == 0);

  json report = failed_report(f.server, "expired");
  CHECK(report["user"] == "");
  CHECK(report["user_status"] == 401);
  CHECK(report["user_error"] == "HTTP 401: Unauthorized");
  REQUIRE(report["problems"].size() == 1);
}

TEST_CASE("esk8s discover: a cluster without SelfSubjectReview still checks RBAC and peers") {
  Fixture f;
  f.api.self_review = [](httplib::Response& res) {
    res.status = 404;
    res.set_content("404 page not found", "text/plain");
  };
  auto [rc, out] = discover(f.server, "good");
  CHECK_MESSAGE(rc == 0, out);
  CHECK(has(out, "user         (unknown: HTTP 404: 404 page not found)\n"));
  CHECK(has(out, "ok      list endpointslices.discovery.k8s.io in prod"));
  CHECK(has(out, "PEERS (1)"));
}

TEST_CASE("esk8s discover: a malformed list is a problem in text mode too, and exits 1") {
  Fixture f;
  f.api.list_pages[""] = R"({"kind":"EndpointSliceList","items":[{"metadata":)";
  auto [rc, out] = discover(f.server, "good");
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "problem: the API server's EndpointSlice list for namespace \"prod\" "
                         "cannot be used: "),
                out);
  // Not reported as "no endpoints": the list was not read.
  CHECK_FALSE(has(out, "no endpoints found"));

  json report = failed_report(f.server, "good");
  REQUIRE(report["problems"].size() == 1);
  CHECK(report["namespaces"][0]["error"] != "");
}

TEST_CASE("esk8s discover: an oversized list is a problem naming the limit, and exits 1") {
  Fixture f;
  json big = json::parse(FakeApi::list_page({FakeApi::slice("esdb-a", 0)}, ""));
  big["metadata"]["annotations"] = {{"padding", std::string(5 * 1024 * 1024, 'x')}};
  f.api.list_pages[""] = big.dump();
  auto [rc, out] = discover(f.server, "good");
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "cannot be used: EndpointSliceList response is "), out);
  CHECK(has(out, "bytes, more than the limit of 4194304"));
}

TEST_CASE("esk8s discover: no endpoints at all is a problem and exits 1") {
  Fixture f;
  f.api.list_pages[""] = FakeApi::list_page({}, "");
  auto [rc, out] = discover(f.server, "good");
  CHECK(rc == 1);
  CHECK_MESSAGE(has(out, "PEERS (0)\n"), out);
  CHECK(has(out, "problem: no endpoints found for service \"esdb\" in 1 namespace(s)"));
}

TEST_CASE("esk8s discover: a large service is read page by page, as the plugin reads it") {
  Fixture f;
  f.api.list_pages = {{"", FakeApi::list_page({FakeApi::slice("esdb-a", 0)}, "page-2 token")},
                      {"page-2 token", FakeApi::list_page({FakeApi::slice("esdb-b", 1)}, "")}};
  auto [rc, out] = discover(f.server, "good");
  CHECK_MESSAGE(rc == 0, out);
  CHECK(f.api.lists == 2);
  CHECK(has(out, "PEERS (2)"));
  CHECK(has(out, "esdb-1.esdb.prod.svc.cluster.local  10.0.0.2:2114"));
}
