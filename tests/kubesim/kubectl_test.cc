// kubesim's fidelity, checked with the real kubectl as the client, and its headline behaviours
// over real HTTPS: StatefulSets of real esk8s-node processes, EndpointSlices, RBAC, 401/403/410.
// Skipped with a visible message when kubectl is not installed.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/kubesim/cluster.h"
#include "tests/unit/test_util.h"
#include "tls/x509.h"

using namespace kubesim;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Cmd = esk8s::test::CommandResult;
Cmd run(const std::string& cmd) { return esk8s::test::run_command(cmd); }

bool have_kubectl() { return run("kubectl version --client").rc == 0; }

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

// One simulated cluster in a fresh state directory, and kubectl pointed at it.
struct Sim {
  std::string dir;
  std::unique_ptr<Cluster> cluster;

  explicit Sim(ClusterOptions opts = {}) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kubesim-test-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    opts.state_dir = dir + "/state";
    opts.bin_path = {KUBESIM_NODE_DIR};
    if (!opts.tokens_file.empty()) opts.tokens_file = dir + "/" + opts.tokens_file;
    tokens_path = opts.tokens_file;
    if (!tokens_path.empty()) std::ofstream(tokens_path) << "";
    cluster = std::make_unique<Cluster>(opts);
    REQUIRE(cluster->start().is_ok());
  }
  // The namespace of testdata/statefulset.yaml and the CA Secret its pods mount (local-ca mode),
  // made the way an operator would: a CA on disk, then `kubectl create secret generic`.
  void create_ca_secret() const {
    auto ca = esk8s::tls::make_self_signed_ca("kubesim test CA", esk8s::tls::KeyType::kEcdsaP256,
                                              std::chrono::hours(24));
    REQUIRE(ca.is_ok());
    std::ofstream(dir + "/ca.crt") << ca->cert_pem;
    std::ofstream(dir + "/ca.key") << ca->key_pem;
    // kubectl create sends protobuf, which kubesim does not decode for these types; render with
    // --dry-run=client and apply (JSON), as GitOps pipelines do.
    std::string kc = "kubectl --kubeconfig " + cluster->kubeconfig_path();
    Cmd ns = run(kc + " create namespace sim --dry-run=client -o yaml | " + kc + " apply -f -");
    REQUIRE_MESSAGE(ns.rc == 0, ns.out);
    Cmd secret = run(kc + " -n sim create secret generic esk8s-ca --from-file=ca.crt=" + dir +
                     "/ca.crt --from-file=ca.key=" + dir + "/ca.key --dry-run=client -o yaml | " +
                     kc + " -n sim apply -f -");
    REQUIRE_MESSAGE(secret.rc == 0, secret.out);
  }
  ~Sim() {
    cluster->stop();
    std::error_code ec;
    if (!std::getenv("KUBESIM_KEEP")) std::filesystem::remove_all(dir, ec);
  }
  Cmd kubectl(const std::string& args) const {
    return run("kubectl --kubeconfig " + cluster->kubeconfig_path() + " " + args);
  }
  Cmd kubectl_as(const std::string& token, const std::string& args) const {
    return run("kubectl --kubeconfig " + cluster->kubeconfig_path() + " --token " + token + " " +
               args);
  }
  void write_tokens(const std::string& content) const {
    std::string tmp = tokens_path + ".tmp";
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, tokens_path);
  }
  httplib::Result get(const std::string& path, const std::string& token) const {
    httplib::SSLClient cli("127.0.0.1", cluster->api().port());
    cli.set_ca_cert_path(
        (cluster->kubeconfig_path().substr(0, cluster->kubeconfig_path().rfind('/')) + "/ca.crt")
            .c_str());
    cli.enable_server_certificate_verification(true);
    cli.set_read_timeout(10, 0);
    return cli.Get(path.c_str(), {{"Authorization", "Bearer " + token}});
  }
  httplib::Result request(const std::string& method, const std::string& path,
                          const std::string& body,
                          const std::string& content_type = "application/json") const {
    httplib::SSLClient cli("127.0.0.1", cluster->api().port());
    cli.set_ca_cert_path((dir + "/state/ca.crt").c_str());
    cli.enable_server_certificate_verification(true);
    cli.set_read_timeout(10, 0);
    httplib::Headers h = {{"Authorization", "Bearer " + cluster->api().admin_token()}};
    if (method == "POST") return cli.Post(path.c_str(), h, body, content_type.c_str());
    if (method == "PUT") return cli.Put(path.c_str(), h, body, content_type.c_str());
    if (method == "PATCH") return cli.Patch(path.c_str(), h, body, content_type.c_str());
    return cli.Delete(path.c_str(), h);
  }
  // Pods as "name ip ready" lines, sorted.
  std::vector<std::string> pods(const std::string& ns) const {
    Cmd c = kubectl("-n " + ns + " get pods -o json");
    std::vector<std::string> out;
    json list = json::parse(c.out, nullptr, false);
    if (!list.is_object()) return out;
    for (const auto& p : list.value("items", json::array())) {
      // A pod the kubelet has not seen yet has no status at all.
      const json status = p.value("status", json::object());
      std::string ready = "False";
      for (const auto& cond : status.value("conditions", json::array())) {
        if (cond.value("type", "") == "Ready") ready = cond.value("status", "False");
      }
      out.push_back(p.value("metadata", json::object()).value("name", "") + " " +
                    status.value("podIP", "") + " " + ready);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  int ready_pods(const std::string& ns) const {
    int n = 0;
    for (const auto& p : pods(ns)) n += p.size() > 5 && p.substr(p.size() - 5) == " True";
    return n;
  }
  std::string tokens_path;
};

// The test manifest with one field changed (policy, readiness path).
std::string manifest(const std::string& policy, const std::string& readiness_path,
                     const std::string& dir) {
  std::ifstream in(KUBESIM_TESTDATA "/statefulset.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t pos = text.find(from);
    REQUIRE(pos != std::string::npos);
    text.replace(pos, from.size(), to);
  };
  replace("podManagementPolicy: Parallel", "podManagementPolicy: " + policy);
  if (!readiness_path.empty()) {
    size_t r = text.find("readinessProbe:");
    size_t p = text.find("path: /health/startup", r);
    text.replace(p, std::string("path: /health/startup").size(), "path: " + readiness_path);
  }
  std::string path = dir + "/manifest-" + policy + ".yaml";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE(
    "kubectl: apply of a 3-replica StatefulSet yields three Ready pods and an EndpointSlice with "
    "three hostnames") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  Sim sim;
  sim.create_ca_secret();
  // Watch pods from before they exist: kubectl get -w must see them become Ready.
  auto watch = std::async(std::launch::async, [&] {
    return sim.kubectl(
        "-n sim get pods -w --request-timeout=25s -o "
        "jsonpath='{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}'");
  });
  std::this_thread::sleep_for(500ms);
  Cmd apply = sim.kubectl("apply -f " KUBESIM_TESTDATA "/statefulset.yaml");
  REQUIRE_MESSAGE(apply.rc == 0, apply.out);
  CHECK(apply.out.find("statefulset.apps/esdb created") != std::string::npos);
  REQUIRE_MESSAGE(eventually([&] { return sim.ready_pods("sim") == 3; }, 30s),
                  sim.kubectl("-n sim get pods -o yaml").out);

  Cmd slices = sim.kubectl("-n sim get endpointslices -l kubernetes.io/service-name=esdb -o json");
  REQUIRE(slices.rc == 0);
  json list = json::parse(slices.out);
  std::set<std::string> hostnames;
  for (const auto& s : list["items"]) {
    for (const auto& e : s["endpoints"]) {
      hostnames.insert(e["hostname"].get<std::string>());
      CHECK(e["conditions"]["ready"] == true);
    }
  }
  CHECK(hostnames == std::set<std::string>{"esdb-0", "esdb-1", "esdb-2"});

  // A second apply of the same file is a no-op patch, as against a real server.
  Cmd again = sim.kubectl("apply -f " KUBESIM_TESTDATA "/statefulset.yaml");
  CHECK_MESSAGE(again.rc == 0, again.out);
  CHECK(again.out.find("statefulset.apps/esdb unchanged") != std::string::npos);

  Cmd watched = watch.get();
  for (const char* pod : {"esdb-0 True", "esdb-1 True", "esdb-2 True"}) {
    CHECK_MESSAGE(watched.out.find(pod) != std::string::npos, watched.out);
  }
}

TEST_CASE("kubectl: a deleted pod comes back under the same name with a new IP") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  Sim sim;
  sim.create_ca_secret();
  REQUIRE(sim.kubectl("apply -f " KUBESIM_TESTDATA "/statefulset.yaml").rc == 0);
  REQUIRE(eventually([&] { return sim.ready_pods("sim") == 3; }, 30s));
  auto before = sim.pods("sim");
  std::string old_ip = before[1].substr(7, before[1].rfind(' ') - 7);
  Cmd del = sim.kubectl("-n sim delete pod esdb-1");
  REQUIRE_MESSAGE(del.rc == 0, del.out);
  bool back = eventually(
      [&] {
        auto now = sim.pods("sim");
        return now.size() == 3 && now[1].rfind("esdb-1 ", 0) == 0 &&
               now[1].find(" " + old_ip + " ") == std::string::npos && sim.ready_pods("sim") == 3;
      },
      30s);
  CHECK_MESSAGE(back, sim.kubectl("-n sim get pods -o wide").out);
}

TEST_CASE(
    "kubesim: OrderedReady waits for a readiness that cannot pass; Parallel creates every pod") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  Sim sim;
  sim.create_ca_secret();
  REQUIRE(sim.kubectl("apply -f " + manifest("OrderedReady", "/health/never", sim.dir)).rc == 0);
  std::this_thread::sleep_for(6s);
  auto pods = sim.pods("sim");
  REQUIRE(pods.size() == 1);
  CHECK(pods[0].rfind("esdb-0 ", 0) == 0);
  CHECK(sim.ready_pods("sim") == 0);

  REQUIRE(sim.kubectl("delete statefulset -n sim esdb").rc == 0);
  REQUIRE(eventually([&] { return sim.pods("sim").empty(); }, 20s));
  REQUIRE(sim.kubectl("apply -f " + manifest("Parallel", "/health/never", sim.dir)).rc == 0);
  CHECK(eventually([&] { return sim.pods("sim").size() == 3; }, 10s));
  CHECK(sim.ready_pods("sim") == 0);
}

TEST_CASE("kubectl: auth can-i answers from the stored Roles and RoleBindings") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  ClusterOptions o;
  o.tokens_file = "tokens.csv";
  Sim sim(o);
  sim.write_tokens(
      "sa-token,system:serviceaccount:sim:esdb,uid-1,\"system:serviceaccounts,system:"
      "serviceaccounts:sim\"\n");
  std::string ns = sim.dir + "/ns.yaml";
  std::ofstream(ns) << "apiVersion: v1\nkind: Namespace\nmetadata: {name: sim}\n";
  REQUIRE(sim.kubectl("apply -f " + ns).rc == 0);
  std::string rbac = sim.dir + "/rbac.yaml";
  std::ofstream(rbac) << R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: esk8s-discovery, namespace: sim}
rules:
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: esk8s-discovery, namespace: sim}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: esk8s-discovery}
subjects:
  - {kind: ServiceAccount, name: esdb, namespace: sim}
)";
  REQUIRE(sim.kubectl("apply -f " + rbac).rc == 0);
  CHECK(sim.kubectl_as("sa-token", "auth can-i watch endpointslices.discovery.k8s.io -n sim").out ==
        "yes\n");
  CHECK(sim.kubectl_as("sa-token", "auth can-i list pods -n sim").out == "no\n");
  CHECK(sim.kubectl_as("sa-token", "auth can-i watch endpointslices.discovery.k8s.io -n default")
            .out == "no\n");
  Cmd forbidden = sim.kubectl_as("sa-token", "get pods -n sim");
  CHECK(forbidden.rc != 0);
  CHECK_MESSAGE(
      forbidden.out.find(
          "pods is forbidden: User \"system:serviceaccount:sim:esdb\" cannot list resource "
          "\"pods\" in API group \"\" in the namespace \"sim\"") != std::string::npos,
      forbidden.out);
}

TEST_CASE(
    "kubesim: an unknown token gets 401, a service account without a binding gets 403 with the "
    "real message") {
  ClusterOptions o;
  o.tokens_file = "tokens.csv";
  Sim sim(o);
  sim.write_tokens("lonely,system:serviceaccount:default:lonely,uid-2\n");
  auto r = sim.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", "not-a-token");
  REQUIRE(r);
  CHECK(r->status == 401);
  json s = json::parse(r->body);
  CHECK(s["kind"] == "Status");
  CHECK(s["reason"] == "Unauthorized");
  CHECK(s["code"] == 401);

  r = sim.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", "lonely");
  REQUIRE(r);
  CHECK(r->status == 403);
  s = json::parse(r->body);
  CHECK(s["reason"] == "Forbidden");
  CHECK(
      s["message"] ==
      "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:default:lonely\" "
      "cannot list "
      "resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"default\"");
  // Non-resource paths outside system:discovery are forbidden with the path named.
  r = sim.get("/logs", "lonely");
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK(json::parse(r->body)["message"] ==
        "forbidden: User \"system:serviceaccount:default:lonely\" cannot get path \"/logs\"");
  // Discovery documents are readable through the seeded system:discovery binding.
  CHECK(sim.get("/apis", "lonely")->status == 200);
}

TEST_CASE(
    "kubesim: a token removed from the tokens file keeps working for the grace period, then gets "
    "401") {
  ClusterOptions o;
  o.tokens_file = "tokens.csv";
  o.token_grace = 2s;
  Sim sim(o);
  sim.write_tokens("old,alice,uid-3,\"system:masters\"\n");
  REQUIRE(sim.get("/api/v1/namespaces", "old")->status == 200);
  sim.write_tokens("new,alice,uid-3,\"system:masters\"\n");
  std::this_thread::sleep_for(400ms);  // the file is re-checked at most every 200 ms
  CHECK(sim.get("/api/v1/namespaces", "new")->status == 200);
  CHECK(sim.get("/api/v1/namespaces", "old")->status == 200);  // within the grace period
  std::this_thread::sleep_for(2500ms);
  CHECK(sim.get("/api/v1/namespaces", "old")->status == 401);
  CHECK(sim.get("/api/v1/namespaces", "new")->status == 200);
}

TEST_CASE("kubesim: a watch from a resourceVersion older than the compacted history gets 410") {
  for (bool as_status : {false, true}) {
    CAPTURE(as_status);
    ClusterOptions o;
    o.watch_gone_as_http_status = as_status;
    Sim sim(o);
    const std::string admin = sim.cluster->api().admin_token();
    auto list = sim.get("/api/v1/namespaces/default/configmaps", admin);
    REQUIRE(list);
    std::string rv = json::parse(list->body)["metadata"]["resourceVersion"];
    std::string cm = sim.dir + "/cm.yaml";
    std::ofstream(cm) << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: "
                         "default}\ndata: {a: b}\n";
    REQUIRE(sim.kubectl("apply -f " + cm).rc == 0);
    sim.cluster->store().compact();
    auto w = sim.get(
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=2&resourceVersion=" + rv,
        admin);
    REQUIRE(w);
    if (as_status) {
      CHECK(w->status == 410);
      CHECK(json::parse(w->body)["reason"] == "Expired");
    } else {
      CHECK(w->status == 200);
      json ev = json::parse(w->body.substr(0, w->body.find('\n')));
      CHECK(ev["type"] == "ERROR");
      CHECK(ev["object"]["code"] == 410);
      CHECK(ev["object"]["message"].get<std::string>().rfind("too old resource version: " + rv,
                                                             0) == 0);
    }
  }
}

TEST_CASE("kubesim: errors carry the real codes, reasons and messages (404, 409, 422, 400)") {
  Sim sim;
  const std::string admin = sim.cluster->api().admin_token();
  auto r = sim.get("/api/v1/namespaces/default/configmaps/missing", admin);
  CHECK(r->status == 404);
  CHECK(json::parse(r->body)["message"] == "configmaps \"missing\" not found");
  const std::string cm = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})";
  CHECK(sim.request("POST", "/api/v1/namespaces/default/configmaps", cm)->status == 201);
  r = sim.request("POST", "/api/v1/namespaces/default/configmaps", cm);
  CHECK(r->status == 409);
  CHECK(json::parse(r->body)["reason"] == "AlreadyExists");
  r = sim.request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{}})");
  CHECK(r->status == 422);
  CHECK(json::parse(r->body)["reason"] == "Invalid");
  r = sim.request("PUT", "/api/v1/namespaces/default/configmaps/x",
                  R"({"metadata":{"name":"x","resourceVersion":"1"},"data":{"a":"b"}})");
  CHECK(r->status == 409);
  CHECK(json::parse(r->body)["reason"] == "Conflict");
  CHECK(sim.get("/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(", admin)->status ==
        400);
  CHECK(sim.get("/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3Dy", admin)->status ==
        400);
  r = sim.request("PATCH", "/api/v1/namespaces/default/configmaps/x", R"({"data":{"k":"v"}})",
                  "application/merge-patch+json");
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["data"]["k"] == "v");
}

TEST_CASE(
    "kubesim: fault knobs inject 429 with Retry-After, 500s, outages, malformed and closed "
    "watches") {
  Sim sim;
  const std::string admin = sim.cluster->api().admin_token();
  Faults& f = sim.cluster->api().faults();
  f.retry_after_seconds = 7;
  f.throttle_requests = 1;
  auto r = sim.get("/api/v1/namespaces", admin);
  CHECK(r->status == 429);
  CHECK(r->get_header_value("Retry-After") == "7");
  CHECK(r->get_header_value("Content-Type").rfind("text/plain", 0) == 0);
  CHECK(r->body == "Too many requests, please try again later.\n");
  CHECK(sim.get("/api/v1/namespaces", admin)->status == 200);  // only the next request

  f.error_requests = 2;
  CHECK(sim.get("/api/v1/namespaces", admin)->status == 500);
  CHECK(json::parse(sim.get("/api/v1/namespaces", admin)->body)["reason"] == "InternalError");
  CHECK(sim.get("/api/v1/namespaces", admin)->status == 200);

  f.outage = true;
  CHECK(sim.get("/api/v1/namespaces", admin)->status == 503);
  f.outage = false;

  // The same knobs through the admin API.
  CHECK(sim.request("POST", "/kubesim/faults", R"({"malformed_events":1})")->status == 200);
  auto w = sim.get("/api/v1/namespaces?watch=true&timeoutSeconds=1", admin);
  REQUIRE(w);
  std::string first = w->body.substr(0, w->body.find('\n'));
  CHECK(json::parse(first, nullptr, false).is_discarded());
  auto bogus = sim.request("POST", "/kubesim/faults", R"({"bogus":1,"outage":false})");
  CHECK(bogus->status == 400);
  CHECK(bogus->body.find("unknown fault") != std::string::npos);
  CHECK(sim.request("POST", "/kubesim/nothing", "{}")->status == 404);

  // Closing watches ends open streams well before their timeout.
  auto t0 = std::chrono::steady_clock::now();
  auto closing = std::async(std::launch::async, [&] {
    return sim.get("/api/v1/namespaces?watch=true&timeoutSeconds=30", admin);
  });
  std::this_thread::sleep_for(500ms);
  CHECK(sim.request("POST", "/kubesim/faults", R"({"close_watches":true})")->status == 200);
  REQUIRE(closing.get());
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);

  // The admin API needs the admin token.
  CHECK(sim.get("/kubesim/requests", "nobody")->status == 403);
}

namespace {

std::string write_pod(const std::string& dir, const std::string& name,
                      const std::string& extra_container_yaml, int grace) {
  std::string path = dir + "/" + name + ".yaml";
  std::ofstream(path) << "apiVersion: v1\nkind: Pod\nmetadata: {name: " << name
                      << ", namespace: default}\nspec:\n"
                      << "  terminationGracePeriodSeconds: " << grace
                      << "\n  containers:\n  - name: c\n    image: x\n"
                      << extra_container_yaml;
  return path;
}

json pod_json(const Sim& sim, const std::string& name) {
  return json::parse(sim.kubectl("get pod " + name + " -o json").out, nullptr, false);
}

int restarts(const Sim& sim, const std::string& name) {
  json p = pod_json(sim, name);
  if (!p.is_object() || !p["status"].contains("containerStatuses")) return -1;
  return p["status"]["containerStatuses"][0].value("restartCount", -1);
}

}  // namespace

TEST_CASE("kubelet: the crash knob SIGKILLs a pod's process and restartPolicy brings it back") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  Sim sim;
  REQUIRE(
      sim.kubectl("apply -f " + write_pod(sim.dir, "crashy", "    command: [sleep, '600']\n", 1))
          .rc == 0);
  REQUIRE(eventually([&] { return restarts(sim, "crashy") == 0; }, 10s));
  CHECK(sim.request("POST", "/kubesim/pods/default/crashy/kill", "")->status == 200);
  CHECK(eventually([&] { return restarts(sim, "crashy") == 1; }, 10s));
  CHECK(pod_json(sim, "crashy")["status"]["phase"] == "Running");
  CHECK(sim.request("POST", "/kubesim/pods/default/nope/kill", "")->status == 404);
}

TEST_CASE("kubelet: a failing liveness probe restarts the process") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  Sim sim;
  std::string container =
      "    command: [sleep, '600']\n    livenessProbe:\n      httpGet: {path: /, port: 9}\n"
      "      periodSeconds: 1\n      failureThreshold: 2\n";
  REQUIRE(sim.kubectl("apply -f " + write_pod(sim.dir, "unhealthy", container, 1)).rc == 0);
  CHECK(eventually([&] { return restarts(sim, "unhealthy") >= 1; }, 15s));
}

TEST_CASE("kubelet: deletion sends SIGTERM and SIGKILLs after terminationGracePeriodSeconds") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  Sim sim;
  // Ignores SIGTERM: only the SIGKILL after the 2 s grace period ends it.
  REQUIRE(sim.kubectl("apply -f " +
                      write_pod(sim.dir, "stubborn",
                                "    command: [sh, -c, \"trap '' TERM; sleep 600\"]\n", 2))
              .rc == 0);
  REQUIRE(eventually([&] { return restarts(sim, "stubborn") == 0; }, 10s));
  auto t0 = std::chrono::steady_clock::now();
  Cmd del = sim.kubectl("delete pod stubborn");
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK_MESSAGE(del.rc == 0, del.out);
  CHECK(took >= 1500ms);
  CHECK(took < 8s);
  // A pod that exits on SIGTERM goes at once.
  REQUIRE(
      sim.kubectl("apply -f " + write_pod(sim.dir, "polite", "    command: [sleep, '600']\n", 30))
          .rc == 0);
  REQUIRE(eventually([&] { return restarts(sim, "polite") == 0; }, 10s));
  t0 = std::chrono::steady_clock::now();
  CHECK(sim.kubectl("delete pod polite").rc == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}
