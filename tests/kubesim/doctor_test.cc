// `esk8s doctor` against an embedded kubesim running the example deployment
// (examples/kubernetes/overlays/single-namespace, applied with the real kubectl) with real
// esk8s-node pods: the good deployment has no error finding and exits 0; pitfalls introduced into
// the live cluster are each reported by the exact finding and exit 1. Skipped with a visible
// message when kubectl is not installed.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/kubesim/cluster.h"
#include "tests/unit/test_util.h"

using namespace kubesim;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Cmd = esk8s::test::CommandResult;

// Runs `cmd` with a time bound; stdout (and stderr when `merge_stderr`) in `out`.
Cmd run(const std::string& cmd, bool merge_stderr = true) {
  return esk8s::test::run_command("timeout 60 " + cmd, merge_stderr);
}

bool have_kubectl() { return run("kubectl version --client").rc == 0; }

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(250ms);
  }
  return pred();
}

struct Report {
  int rc = -1;
  json doc;              // the --json output
  std::string progress;  // progress lines (stderr)
  std::string raw;
};

// kubesim with the example deployment applied the way the docs tell an operator to.
struct DoctorSim {
  std::string dir;
  std::unique_ptr<Cluster> cluster;

  DoctorSim() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-doctor-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    ClusterOptions o;
    o.state_dir = dir + "/state";
    o.bin_path = {KUBESIM_NODE_DIR};
    // Pod IPs of their own: other simulators on this machine (tests, the demo) bind 127.1.x.y.
    o.pod_network = 150 + static_cast<int>(getpid() % 100);
    cluster = std::make_unique<Cluster>(o);
    REQUIRE(cluster->start().is_ok());
  }
  ~DoctorSim() {
    cluster->stop();
    std::error_code ec;
    if (!std::getenv("KUBESIM_KEEP")) std::filesystem::remove_all(dir, ec);
  }
  std::string kc() const { return "kubectl --kubeconfig " + cluster->kubeconfig_path(); }
  Cmd kubectl(const std::string& args) const { return run(kc() + " " + args); }

  void deploy() const {
    Cmd ns =
        run(kc() + " create namespace esdb --dry-run=client -o yaml | " + kc() + " apply -f -");
    REQUIRE_MESSAGE(ns.rc == 0, ns.out);
    Cmd ca = run(std::string(ESK8S_CLI) + " cert create-ca --out " + dir + "/ca");
    REQUIRE_MESSAGE(ca.rc == 0, ca.out);
    // kubesim's kubectl create without --dry-run gets 415 (protobuf); render and apply instead.
    Cmd secret = run(kc() + " -n esdb create secret generic esk8s-ca --from-file=ca.crt=" + dir +
                     "/ca/ca.crt --from-file=ca.key=" + dir + "/ca/ca.key --dry-run=client -o " +
                     "yaml | " + kc() + " -n esdb apply -f -");
    REQUIRE_MESSAGE(secret.rc == 0, secret.out);
    // The claim template's class: SSD-backed by name and provisioner.
    std::ofstream(dir + "/storageclass.yaml")
        << "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast-ssd\n"
        << "provisioner: kubesim/ssd\n";
    Cmd sc = kubectl("apply -f " + dir + "/storageclass.yaml");
    REQUIRE_MESSAGE(sc.rc == 0, sc.out);
    apply_examples();
    REQUIRE_MESSAGE(eventually([&] { return ready_pods() == 3; }, 60s),
                    kubectl("-n esdb get pods -o yaml").out);
  }
  void apply_examples() const {
    Cmd apply = run("kubectl kustomize " ESK8S_EXAMPLES "/overlays/single-namespace | " + kc() +
                    " apply -f -");
    REQUIRE_MESSAGE(apply.rc == 0, apply.out);
  }
  int ready_pods() const {
    json list = json::parse(kubectl("-n esdb get pods -o json").out, nullptr, false);
    int n = 0;
    if (!list.is_object()) return 0;
    for (const auto& p : list.value("items", json::array())) {
      // A pod the kubelet has not seen yet has no status at all.
      for (const auto& c : p.value("status", json::object()).value("conditions", json::array())) {
        n += c.value("type", "") == "Ready" && c.value("status", "") == "True";
      }
    }
    return n;
  }
  Report doctor(const std::string& args = "--namespace esdb") const {
    Report r;
    const std::string errfile = dir + "/doctor.err";
    Cmd c = run(std::string(ESK8S_CLI) + " doctor --kubeconfig " + cluster->kubeconfig_path() +
                    " " + args + " --json 2>" + errfile,
                /*merge_stderr=*/false);
    r.rc = c.rc;
    r.raw = c.out;
    r.doc = json::parse(c.out, nullptr, false);
    std::ifstream f(errfile);
    r.progress.assign(std::istreambuf_iterator<char>(f), {});
    return r;
  }
  std::string table(const std::string& args = "--namespace esdb") const {
    return run(std::string(ESK8S_CLI) + " doctor --kubeconfig " + cluster->kubeconfig_path() + " " +
               args + " 2>/dev/null")
        .out;
  }
};

std::vector<json> with(const Report& r, const std::string& check) {
  std::vector<json> out;
  if (!r.doc.is_object()) return out;
  for (const auto& f : r.doc["findings"]) {
    if (f["check"] == check) out.push_back(f);
  }
  return out;
}

std::string errors_of(const Report& r) {
  std::string s;
  if (!r.doc.is_object()) return r.raw + r.progress;
  for (const auto& f : r.doc["findings"]) {
    if (f["severity"] == "error") s += f.dump() + "\n";
  }
  return s;
}

}  // namespace

TEST_CASE("the example single-namespace deployment in kubesim has no error and exits 0") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  DoctorSim sim;
  sim.deploy();
  Report r = sim.doctor();
  REQUIRE_MESSAGE(r.doc.is_object(), (r.raw + r.progress));
  CHECK_MESSAGE(r.rc == 0, errors_of(r));
  CHECK(r.doc["summary"]["errors"] == 0);
  CHECK(r.doc["summary"]["statefulsets"] == json::array({"esdb/esdb"}));
  // The live checks ran: the pods are reachable from here and agree.
  CHECK(with(r, "members.unreachable").empty());
  CHECK(with(r, "members.views-disagree").empty());
  CHECK(r.progress.find("/members of 3 pod(s)") != std::string::npos);
  if (std::getenv("ESK8S_DOCTOR_SHOW")) MESSAGE(sim.table());

  // A second namespace without members is one error finding, and the exit code says so.
  Cmd ns =
      sim.kubectl("create namespace empty --dry-run=client -o yaml | " + sim.kc() + " apply -f -");
  REQUIRE(ns.rc == 0);
  Report two = sim.doctor("--namespace esdb --namespace empty");
  CHECK(two.rc == 1);
  auto none = with(two, "workload.none");
  REQUIRE(none.size() == 1);
  CHECK(none[0]["object"] == "Namespace empty");
}

TEST_CASE("pitfalls introduced into a live kubesim deployment are each named, exit 1") {
  if (!have_kubectl()) {
    MESSAGE("SKIPPED: kubectl is not installed");
    return;
  }
  DoctorSim sim;
  sim.deploy();
  REQUIRE_MESSAGE(sim.doctor().rc == 0, errors_of(sim.doctor()));

  // One cluster; the pitfalls in sequence, each undone before the next.
  // 1. The headless Service stops publishing not-ready addresses.
  Cmd p = sim.kubectl(
      "-n esdb patch service esdb -p '{\"spec\":{\"publishNotReadyAddresses\":false}}'");
  REQUIRE_MESSAGE(p.rc == 0, p.out);
  Report r = sim.doctor();
  CHECK(r.rc == 1);
  auto pnr = with(r, "service.publish-not-ready");
  REQUIRE_MESSAGE(pnr.size() == 1, r.raw);
  CHECK(pnr[0]["severity"] == "error");
  CHECK(pnr[0]["object"] == "Service esdb/esdb");
  CHECK(pnr[0]["why"] ==
        "DNS and EndpointSlices list only Ready pods, so members cannot find each other to "
        "become Ready");
  if (std::getenv("ESK8S_DOCTOR_SHOW")) MESSAGE(sim.table());
  p = sim.kubectl("-n esdb patch service esdb -p '{\"spec\":{\"publishNotReadyAddresses\":true}}'");
  REQUIRE(p.rc == 0);

  // 2. The PodDisruptionBudget is deleted: a warning, so the exit code stays 0.
  p = sim.kubectl("-n esdb delete pdb esdb");
  REQUIRE_MESSAGE(p.rc == 0, p.out);
  r = sim.doctor();
  CHECK_MESSAGE(r.rc == 0, errors_of(r));
  auto pdb = with(r, "pdb.missing");
  REQUIRE_MESSAGE(pdb.size() == 1, r.raw);
  CHECK(pdb[0]["severity"] == "warning");
  CHECK(pdb[0]["object"] == "StatefulSet esdb/esdb");

  // 3. The Role loses its statefulsets rule.
  p = sim.kubectl(
      "-n esdb patch role esk8s-discovery --type=json -p "
      "'[{\"op\":\"remove\",\"path\":\"/rules/2\"}]'");
  REQUIRE_MESSAGE(p.rc == 0, p.out);
  r = sim.doctor();
  CHECK(r.rc == 1);
  auto rbac = with(r, "rbac.missing");
  REQUIRE_MESSAGE(rbac.size() == 1, r.raw);
  CHECK(rbac[0]["message"] ==
        "system:serviceaccount:esdb:esdb cannot get statefulsets.apps in namespace \"esdb\"");
  CHECK(rbac[0]["fix"].get<std::string>().find("rbac/role.yaml") != std::string::npos);
  sim.apply_examples();  // restores the Role and the PDB

  // 4. OrderedReady with ESK8S_READY_MODE=quorum: the startup deadlock.
  p = sim.kubectl(
      "-n esdb patch statefulset esdb --type=merge -p "
      "'{\"spec\":{\"podManagementPolicy\":\"OrderedReady\"}}'");
  REQUIRE_MESSAGE(p.rc == 0, p.out);
  p = sim.kubectl(
      "-n esdb patch configmap esk8s-config --type=merge -p "
      "'{\"data\":{\"ESK8S_READY_MODE\":\"quorum\"}}'");
  REQUIRE_MESSAGE(p.rc == 0, p.out);
  r = sim.doctor();
  CHECK(r.rc == 1);
  auto dead = with(r, "statefulset.ordered-ready-quorum");
  REQUIRE_MESSAGE(dead.size() == 1, r.raw);
  CHECK(dead[0]["severity"] == "error");
  CHECK(dead[0]["why"].get<std::string>().find("kubernetes#38418") != std::string::npos);
  CHECK(errors_of(r).find("\"check\":\"rbac.missing\"") == std::string::npos);
}

TEST_CASE("an unreachable API server or a bad argument exits 2 with a clear message") {
  std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-doctor-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  // A CA the server would have to match; nothing listens on port 1.
  REQUIRE(run(std::string(ESK8S_CLI) + " cert create-ca --out " + dir + "/ca").rc == 0);
  std::ofstream(dir + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
      << "    server: https://127.0.0.1:1\n    certificate-authority: " << dir << "/ca/ca.crt\n"
      << "users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n"
      << "  context: {cluster: c, user: u, namespace: esdb}\ncurrent-context: c\n";
  Cmd c = run(std::string(ESK8S_CLI) + " doctor --kubeconfig " + dir + "/kubeconfig");
  CHECK(c.rc == 2);
  CHECK_MESSAGE(
      c.out.find("cannot reach the Kubernetes API server https://127.0.0.1:1") != std::string::npos,
      c.out);
  Cmd bad = run(std::string(ESK8S_CLI) + " doctor --nope");
  CHECK(bad.rc == 2);
  CHECK(bad.out.find("unknown argument \"--nope\"") != std::string::npos);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
