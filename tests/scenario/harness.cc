#include "tests/scenario/harness.h"

#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include <httplib.h>

#include "tests/unit/test_util.h"

namespace esk8s::scenario {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

std::string run(const std::string& cmd, int* rc) {
  auto r = test::run_command(cmd);
  *rc = r.rc;
  return r.out;
}

}  // namespace

void replace_once(std::string& text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  require(at != std::string::npos, "manifest text not found: " + from);
  text.replace(at, from.size(), to);
}

Sim::Sim(const std::function<void(std::string&)>& edit, bool defer_statefulset,
         const std::vector<std::string>& cluster_args) {
  // esk8s-cluster with three Nodes running esk8s-node pods; CrashLoopBackOff at a tenth of its
  // real delays.
  std::vector<std::string> args = {"--pod-path", ESK8S_NODE_DIR, "--crashloop-backoff-scale",
                                   "0.1"};
  args.insert(args.end(), cluster_args.begin(), cluster_args.end());
  cluster_ = std::make_unique<testcluster::ClusterProcess>(args);
  dir_ = cluster_->dir();
  int rc = 0;
  std::string out = run(std::string(ESK8S_CLI) + " cert create-ca --out " + dir_ + "/ca", &rc);
  require(rc == 0, out);
  std::ofstream(dir_ + "/storageclass.yaml")
      << "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast-ssd\n"
         "provisioner: esk8s.local/local-path\nvolumeBindingMode: WaitForFirstConsumer\n";
  require(kubectl("apply -f " + dir_ + "/storageclass.yaml", &out) == 0, out);
  std::string rendered = run("kubectl kustomize " + std::string(ESK8S_SOURCE_DIR) +
                                 "/examples/kubernetes/overlays/single-namespace",
                             &rc);
  require(rc == 0, rendered);
  // Tests only: a per-pod fault file on the data claim (see ESK8S_FAULT_FILE).
  replace_once(rendered, "  ESK8S_PRESET: lan\n",
               "  ESK8S_PRESET: lan\n  ESK8S_FAULT_FILE: /var/lib/esdb/fault\n");
  if (edit) edit(rendered);
  std::string statefulset;
  if (defer_statefulset) {
    // kubectl kustomize separates documents with "---\n"; move the StatefulSet's out.
    std::string rest;
    size_t at = 0;
    while (at < rendered.size()) {
      size_t next = rendered.find("\n---\n", at);
      size_t end = next == std::string::npos ? rendered.size() : next + 1;
      std::string doc = rendered.substr(at, end - at);
      (doc.find("\nkind: StatefulSet\n") != std::string::npos ? statefulset : rest) +=
          "---\n" + doc;
      at = next == std::string::npos ? rendered.size() : next + 5;
    }
    require(!statefulset.empty(), "no StatefulSet in the rendered manifests");
    rendered = rest;
  }
  std::ofstream(dir_ + "/manifests.yaml") << rendered;
  std::ofstream(dir_ + "/statefulset.yaml") << statefulset;
  // The namespace first, then the CA Secret the pods mount, then everything.
  require(kubectl("create namespace esdb --dry-run=client -o yaml | kubectl --kubeconfig " +
                      cluster_->kubeconfig() + " apply -f -",
                  &out) == 0,
          out);
  require(kubectl("-n esdb create secret generic esk8s-ca --from-file=" + dir_ +
                      "/ca/ca.crt --from-file=" + dir_ +
                      "/ca/ca.key --dry-run=client -o yaml | kubectl --kubeconfig " + cluster_->kubeconfig() +
                      " apply -f -",
                  &out) == 0,
          out);
  require(kubectl("apply -f " + dir_ + "/manifests.yaml", &out) == 0, out);
}

void Sim::apply_statefulset() {
  std::string out;
  require(kubectl("apply -f " + dir_ + "/statefulset.yaml", &out) == 0, out);
}

Sim::~Sim() {
  if (getenv("ESK8S_SCENARIO_KEEP")) setenv("ESK8S_TEST_KEEP", "1", 1);
}

int Sim::kubectl(const std::string& args, std::string* out) { return cluster_->kubectl(args, out); }

std::pair<int, std::string> Sim::api(const std::string& method, const std::string& path,
                                     const std::string& body) {
  testcluster::ApiReply r = cluster_->api(method, path, body);
  return {r.status, r.body};
}

json Sim::api_get(const std::string& path) {
  auto [status, body] = api("GET", path);
  if (status != 200) return nullptr;
  return json::parse(body, nullptr, false);
}

std::vector<PodView> Sim::pods() {
  std::vector<PodView> v;
  auto [status, body] = api("GET", "/api/v1/namespaces/esdb/pods");
  json list = json::parse(body, nullptr, false);
  if (status != 200 || !list.is_object()) return v;
  for (const auto& p : list.value("items", json::array())) {
    const json& md = p["metadata"];
    PodView pv;
    pv.name = md.value("name", "");
    pv.uid = md.value("uid", "");
    pv.deleting = md.contains("deletionTimestamp");
    pv.revision = md.value("labels", json::object()).value("controller-revision-hash", "");
    const json st = p.value("status", json::object());
    pv.ip = st.value("podIP", "");
    for (const auto& c : st.value("conditions", json::array())) {
      if (c.value("type", "") == "Ready") pv.ready = c.value("status", "") == "True";
    }
    v.push_back(pv);
  }
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return v;
}

HttpAnswer Sim::get(const std::string& ip, const std::string& path) {
  HttpAnswer a;
  if (ip.empty()) return a;
  httplib::Client c(ip, 2115);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(1, 0);
  auto r = c.Get(path);
  if (!r) return a;
  a.status = r->status;
  a.body = json::parse(r->body, nullptr, false);
  return a;
}

int Sim::alive_seen_by(const std::string& ip) {
  auto a = get(ip, "/members");
  if (a.status != 200 || !a.body.is_object()) return -1;
  int alive = 0;
  for (const auto& m : a.body.value("members", json::array())) {
    if (m.value("state", "") == "alive") ++alive;
  }
  return alive;
}

bool Sim::wait_converged(size_t n, std::chrono::milliseconds limit,
                         std::chrono::milliseconds poll) {
  return eventually(
      [&] {
        auto ps = pods();
        if (ps.size() != n) return false;
        for (const auto& p : ps) {
          if (!p.ready || p.deleting || alive_seen_by(p.ip) != static_cast<int>(n)) return false;
        }
        return true;
      },
      limit, poll);
}

bool Sim::eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit,
                     std::chrono::milliseconds poll) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(poll);
  }
  return pred();
}

int Sim::touch_endpointslices(int round) {
  const std::string base = "/apis/discovery.k8s.io/v1/namespaces/esdb/endpointslices";
  auto [status, body] = api("GET", base);
  json list = json::parse(body, nullptr, false);
  if (status != 200 || !list.is_object()) return 0;
  int n = 0;
  const std::string patch =
      json{{"metadata", {{"annotations", {{"flood", std::to_string(round)}}}}}}.dump();
  for (const auto& s : list.value("items", json::array())) {
    const std::string name = s["metadata"].value("name", "");
    if (api("PATCH", base + "/" + name, patch).first == 200) ++n;
  }
  return n;
}

std::string Sim::fault_file(const std::string& pod) {
  auto [status, body] = api("GET", "/api/v1/namespaces/esdb/persistentvolumeclaims/data-" + pod);
  json pvc = json::parse(body, nullptr, false);
  const std::string volume =
      pvc.is_object() ? pvc.value("spec", json::object()).value("volumeName", "") : "";
  require(status == 200 && !volume.empty(), "claim data-" + pod + " is not bound: " + body);
  // The local provisioner's directory for the volume (tests/cluster/provisioner.go).
  return dir_ + "/state/volumes/" + volume + "/fault";
}

}  // namespace esk8s::scenario
