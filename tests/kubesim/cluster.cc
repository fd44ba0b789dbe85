#include "tests/kubesim/cluster.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <httplib.h>

#include "tests/kubesim/controllers.h"
#include "tls/x509.h"

namespace kubesim {

using nlohmann::json;

Cluster::Cluster(ClusterOptions opts)
    : opts_(std::move(opts)), store_(opts_.history), auth_(opts_.tokens_file, opts_.token_grace) {}

Cluster::~Cluster() { stop(); }

void Cluster::seed() {
  auto ns_type = *registry_.find("", "v1", "namespaces");
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    (void)store_.create(ns_type, "",
                        {{"apiVersion", "v1"},
                         {"kind", "Namespace"},
                         {"metadata", {{"name", ns}}},
                         {"status", {{"phase", "Active"}}}});
  }
  // The bootstrap RBAC every cluster has: cluster-admin for system:masters.
  auto cr = *registry_.find("rbac.authorization.k8s.io", "v1", "clusterroles");
  auto crb = *registry_.find("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
  (void)store_.create(cr, "",
                      {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                       {"kind", "ClusterRole"},
                       {"metadata", {{"name", "cluster-admin"}}},
                       {"rules",
                        {{{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}},
                         {{"nonResourceURLs", {"*"}}, {"verbs", {"*"}}}}}});
  (void)store_.create(crb, "",
                      {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                       {"kind", "ClusterRoleBinding"},
                       {"metadata", {{"name", "cluster-admin"}}},
                       {"roleRef",
                        {{"apiGroup", "rbac.authorization.k8s.io"},
                         {"kind", "ClusterRole"},
                         {"name", "cluster-admin"}}},
                       {"subjects",
                        {{{"apiGroup", "rbac.authorization.k8s.io"},
                          {"kind", "Group"},
                          {"name", "system:masters"}}}}});
  // What every authenticated user may do in a real cluster (the bootstrap roles
  // system:basic-user and system:discovery): review its own access, read discovery documents.
  auto bind_authenticated = [&](const std::string& name, json rules) {
    (void)store_.create(cr, "",
                        {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                         {"kind", "ClusterRole"},
                         {"metadata", {{"name", name}}},
                         {"rules", std::move(rules)}});
    (void)store_.create(
        crb, "",
        {{"apiVersion", "rbac.authorization.k8s.io/v1"},
         {"kind", "ClusterRoleBinding"},
         {"metadata", {{"name", name}}},
         {"roleRef",
          {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", name}}},
         {"subjects",
          {{{"apiGroup", "rbac.authorization.k8s.io"},
            {"kind", "Group"},
            {"name", "system:authenticated"}}}}});
  };
  bind_authenticated("system:basic-user",
                     {{{"apiGroups", {"authorization.k8s.io"}},
                       {"resources", {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
                       {"verbs", {"create"}}},
                      {{"apiGroups", {"authentication.k8s.io"}},
                       {"resources", {"selfsubjectreviews"}},
                       {"verbs", {"create"}}}});
  bind_authenticated("system:discovery",
                     {{{"nonResourceURLs",
                        {"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                         "/openapi/*", "/readyz", "/version", "/version/"}},
                       {"verbs", {"get"}}}});
}

esk8s::Status Cluster::start() {
  if (running_) return esk8s::Status::state("kubesim already running");
  std::filesystem::create_directories(opts_.state_dir);
  opts_.state_dir = std::filesystem::canonical(opts_.state_dir).string();
  if (esk8s::Status s = auth_.reload(); !s) return s;
  seed();
  ServerOptions so;
  so.state_dir = opts_.state_dir;
  so.port = opts_.port;
  so.watch_gone_as_http_status = opts_.watch_gone_as_http_status;
  so.bookmark_interval = opts_.bookmark_interval;
  api_ = std::make_unique<ApiServer>(so, store_, registry_, auth_);
  api_->set_admin_handler(
      [this](const httplib::Request& req, httplib::Response& res) { admin(req, res); });
  if (esk8s::Status s = api_->start(); !s) return s;

  if (!opts_.csr_signer_name.empty()) {
    auto ca = esk8s::tls::make_self_signed_ca("kubesim-csr-signer", esk8s::tls::KeyType::kEcdsaP256,
                                              std::chrono::hours(24 * 365));
    if (!ca.is_ok()) return ca.status();
    csr_ = {opts_.csr_signer_name, opts_.csr_auto_approve, ca->cert_pem, ca->key_pem};
    std::ofstream(opts_.state_dir + "/csr-ca.crt") << ca->cert_pem;
  }
  KubeletOptions ko;
  ko.state_dir = opts_.state_dir;
  ko.api_port = api_->port();
  ko.ca_pem = api_->ca_pem();
  ko.path = opts_.bin_path;
  ko.nodes = opts_.nodes;
  ko.pod_network = opts_.pod_network;
  ko.token_ttl = opts_.token_ttl;
  kubelet_ = std::make_unique<Kubelet>(ko, store_, registry_, auth_);
  kubelet_->start();
  running_ = true;
  controllers_ = std::thread([this] { controller_loop(); });
  return esk8s::Status::ok();
}

void Cluster::stop() {
  if (!running_.exchange(false)) return;
  if (controllers_.joinable()) controllers_.join();
  kubelet_->stop();
  api_->stop();
}

void Cluster::controller_loop() {
  auto sa_type = *registry_.find("", "v1", "serviceaccounts");
  auto ns_type = *registry_.find("", "v1", "namespaces");
  while (running_) {
    // ServiceAccount controller: every namespace has a "default" service account.
    for (const auto& ns : store_.all(ns_type.qualified())) {
      std::string name = ns["metadata"].value("name", "");
      if (!store_.get(sa_type, name, "default").ok()) {
        (void)store_.create(sa_type, name,
                            {{"apiVersion", "v1"},
                             {"kind", "ServiceAccount"},
                             {"metadata", {{"name", "default"}}}});
      }
    }
    reconcile_statefulsets(store_, registry_);
    reconcile_endpointslices(store_, registry_, opts_.max_endpoints_per_slice);
    collect_garbage(store_, registry_);
    reconcile_csrs(store_, registry_, csr_);
    // Level-triggered: run again after any change, or at least every 100 ms.
    store_.wait_for_change(store_.current_rv(), std::chrono::milliseconds(100));
  }
}

void Cluster::admin(const httplib::Request& req, httplib::Response& res) {
  auto reply = [&](int code, const json& body) {
    res.status = code;
    res.set_content(body.dump() + "\n", "application/json");
  };
  const std::string& p = req.path;
  if (p == "/kubesim/compact" && req.method == "POST") {
    store_.compact();
    return reply(200, {{"compacted", store_.current_rv()}});
  }
  if (p == "/kubesim/requests" && req.method == "GET") return reply(200, api_->request_counts());
  if (p == "/kubesim/tokens/rotate" && req.method == "POST") {
    kubelet_->rotate_tokens();
    return reply(200, {{"rotated", true}});
  }
  if (p == "/kubesim/faults" && req.method == "POST") {
    json f = json::parse(req.body, nullptr, false);
    if (!f.is_object()) return reply(400, {{"error", "body must be a JSON object"}});
    static const std::set<std::string> kKnown = {
        "outage",         "latency_ms",       "throttle_requests", "retry_after_seconds",
        "error_requests", "malformed_events", "close_watches"};
    for (auto& [k, v] : f.items()) {
      if (!kKnown.count(k)) {
        return reply(400, {{"error", "unknown fault \"" + k + "\""}, {"known", kKnown}});
      }
    }
    Faults& faults = api_->faults();
    if (f.contains("outage")) faults.outage = f["outage"].get<bool>();
    if (f.contains("latency_ms")) faults.latency_ms = f["latency_ms"].get<int>();
    if (f.contains("throttle_requests"))
      faults.throttle_requests = f["throttle_requests"].get<int>();
    if (f.contains("retry_after_seconds"))
      faults.retry_after_seconds = f["retry_after_seconds"].get<int>();
    if (f.contains("error_requests")) faults.error_requests = f["error_requests"].get<int>();
    if (f.contains("malformed_events")) faults.malformed_events = f["malformed_events"].get<int>();
    if (f.value("close_watches", false)) ++faults.close_watches_generation;
    return reply(200, {{"outage", faults.outage.load()}, {"latency_ms", faults.latency_ms.load()}});
  }
  // POST /kubesim/pods/<ns>/<name>/kill
  if (req.method == "POST" && p.rfind("/kubesim/pods/", 0) == 0 && p.size() > 5 &&
      p.substr(p.size() - 5) == "/kill") {
    std::string rest = p.substr(14, p.size() - 14 - 5);
    size_t slash = rest.find('/');
    if (slash == std::string::npos)
      return reply(400, {{"error", "expected /kubesim/pods/<ns>/<name>/kill"}});
    bool killed = kubelet_->kill_pod(rest.substr(0, slash), rest.substr(slash + 1));
    return reply(killed ? 200 : 404, {{"killed", killed}});
  }
  reply(404, {{"error", "unknown admin endpoint " + p},
              {"endpoints",
               {"POST /kubesim/compact", "GET /kubesim/requests", "POST /kubesim/tokens/rotate",
                "POST /kubesim/faults", "POST /kubesim/pods/<ns>/<name>/kill"}}});
}

}  // namespace kubesim
