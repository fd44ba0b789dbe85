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

Sim::Sim(const std::function<void(std::string&)>& edit, bool defer_statefulset) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-scenario-XXXXXX").string();
  dir_ = mkdtemp(tmpl.data());
  kubesim::ClusterOptions o;
  o.state_dir = dir_ + "/state";
  o.bin_path = {ESK8S_NODE_DIR};
  o.pod_network = 20;  // 127.20.0.0/16: apart from other simulators' pods
  cluster_ = std::make_unique<kubesim::Cluster>(o);
  auto started = cluster_->start();
  require(started.is_ok(), "kubesim did not start: " + started.message());

  int rc = 0;
  std::string out = run(std::string(ESK8S_CLI) + " cert create-ca --out " + dir_ + "/ca", &rc);
  require(rc == 0, out);
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
                      cluster_->kubeconfig_path() + " apply -f -",
                  &out) == 0,
          out);
  require(kubectl("-n esdb create secret generic esk8s-ca --from-file=" + dir_ +
                      "/ca/ca.crt --from-file=" + dir_ +
                      "/ca/ca.key --dry-run=client -o yaml | kubectl --kubeconfig " +
                      cluster_->kubeconfig_path() + " apply -f -",
                  &out) == 0,
          out);
  require(kubectl("apply -f " + dir_ + "/manifests.yaml", &out) == 0, out);
}

void Sim::apply_statefulset() {
  std::string out;
  require(kubectl("apply -f " + dir_ + "/statefulset.yaml", &out) == 0, out);
}

Sim::~Sim() {
  cluster_->stop();
  if (getenv("ESK8S_SCENARIO_KEEP")) {
    std::cerr << "kept " << dir_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int Sim::kubectl(const std::string& args, std::string* out) {
  int rc = 0;
  std::string o = run("kubectl --kubeconfig " + cluster_->kubeconfig_path() + " " + args, &rc);
  if (out) *out = o;
  return rc;
}

std::vector<PodView> Sim::pods() {
  std::vector<PodView> v;
  for (const auto& p : cluster_->store().all("pods")) {
    const json& md = p["metadata"];
    if (md.value("namespace", "") != "esdb") continue;
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
  auto t = *cluster_->registry().find("discovery.k8s.io", "v1", "endpointslices");
  int n = 0;
  for (auto s : cluster_->store().all("endpointslices.discovery.k8s.io")) {
    if (s["metadata"].value("namespace", "") != "esdb") continue;
    s["metadata"]["annotations"]["flood"] = std::to_string(round);
    std::string name = s["metadata"].value("name", "");
    if (cluster_->store().update(t, "esdb", name, s).ok()) ++n;
  }
  return n;
}

std::string Sim::fault_file(const std::string& pod) const {
  return dir_ + "/state/claims/esdb/data-" + pod + "/fault";
}

}  // namespace esk8s::scenario
