#include "cli/discover_command.h"

#include <nlohmann/json.hpp>

#include "discovery/endpointslice_parse.h"
#include "discovery/kube_client.h"
#include "discovery/kube_config_resolve.h"
#include "discovery/kubernetes_source.h"
#include "discovery/peer_model.h"

namespace esk8s::cli {

using nlohmann::json;

namespace {

// A permission beyond discovery's EndpointSlice reads that the plugin uses under the given
// configuration, and the sentence that names it when it is missing.
struct ExtraPermission {
  discovery::PermissionCheck check;
  std::string needed_for;  // e.g. "ESK8S_TLS_MODE=kubernetes-csr"
  std::string remedy;      // e.g. "apply rbac/csr.yaml"
};

// "pods" for the core group, "statefulsets.apps" otherwise: how kubectl and the 403 messages
// name a resource.
std::string resource_name(const discovery::PermissionCheck& c) {
  return c.group.empty() ? c.resource : c.resource + "." + c.group;
}

std::string where(const discovery::PermissionCheck& c) {
  return c.namespace_name.empty() ? "cluster-wide" : "in namespace \"" + c.namespace_name + "\"";
}

// One SelfSubjectAccessReview: may this client `verb` the resource in check.namespace_name
// ("" for a cluster-scoped resource)? Fills check.allowed, or check.error when the review failed.
void review(discovery::KubeClient& client, discovery::PermissionCheck& check) {
  json attributes = {{"verb", check.verb}, {"group", check.group}, {"resource", check.resource}};
  if (!check.namespace_name.empty()) attributes["namespace"] = check.namespace_name;
  json body = {{"apiVersion", "authorization.k8s.io/v1"},
               {"kind", "SelfSubjectAccessReview"},
               {"spec", {{"resourceAttributes", attributes}}}};
  auto r = client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body.dump());
  json answer = json::parse(r.body, nullptr, false);
  if ((r.status == 201 || r.status == 200) && answer.is_object()) {
    check.allowed = answer.value("status", json::object()).value("allowed", false);
    return;
  }
  if (r.status == 0) {
    check.error = r.error;
  } else {
    check.error = "HTTP " + std::to_string(r.status) + ": " +
                  (answer.is_object() && answer.contains("message") && answer["message"].is_string()
                       ? answer["message"].get<std::string>()
                       : discovery::truncate_for_log(r.body));
  }
}

// What the plugin reads besides EndpointSlices (plugin/runtime.cc): its own pod and StatefulSet
// when ESK8S_READY_MODE=auto or ESK8S_CLUSTER_SIZE is unset, and CertificateSigningRequests in
// kubernetes-csr mode.
std::vector<ExtraPermission> extra_permissions(const plugin::Config& c) {
  std::vector<ExtraPermission> out;
  if (c.ready_mode == plugin::ReadyMode::kAuto || !c.cluster_size) {
    const std::string why = c.ready_mode == plugin::ReadyMode::kAuto && !c.cluster_size
                                ? "ESK8S_READY_MODE=auto and the default ESK8S_CLUSTER_SIZE"
                            : !c.cluster_size ? "the default ESK8S_CLUSTER_SIZE"
                                              : "ESK8S_READY_MODE=auto";
    const std::string remedy =
        "apply rbac/role.yaml, or set ESK8S_READY_MODE and ESK8S_CLUSTER_SIZE explicitly";
    out.push_back({{"get", "", "pods", c.namespace_name, false, ""}, why, remedy});
    out.push_back({{"get", "apps", "statefulsets", c.namespace_name, false, ""}, why, remedy});
  }
  if (c.tls_mode == plugin::TlsMode::kKubernetesCsr) {
    for (const char* verb : {"create", "get", "watch"}) {
      out.push_back({{verb, "certificates.k8s.io", "certificatesigningrequests", "", false, ""},
                     "ESK8S_TLS_MODE=kubernetes-csr",
                     "apply rbac/csr.yaml"});
    }
  }
  return out;
}

}  // namespace

int discover(const plugin::ConfigInput& env, const DiscoverOptions& opts, std::ostream& out,
             std::ostream& err) {
  plugin::ConfigInput in = env;
  auto set = [&](const std::string& k, const std::string& v) {
    std::erase_if(in.entries, [&](const auto& kv) { return kv.first == k; });
    in.entries.emplace_back(k, v);
  };
  if (!opts.service.empty()) set("ESK8S_SERVICE", opts.service);
  if (!opts.kubeconfig.empty()) set("ESK8S_KUBECONFIG", opts.kubeconfig);
  if (!opts.namespaces.empty()) {
    set("ESK8S_NAMESPACE", opts.namespaces.front());
    std::string rest;
    for (size_t i = 1; i < opts.namespaces.size(); ++i)
      rest += (rest.empty() ? "" : ",") + opts.namespaces[i];
    set("ESK8S_PEER_NAMESPACES", rest);
  }
  set("ESK8S_DISCOVERY", "kubernetes");
  std::erase_if(in.entries, [](const auto& kv) { return kv.first == "ESK8S_STATIC_PEERS"; });
  bool has_pod = false;
  for (const auto& [k, v] : in.entries) has_pod = has_pod || (k == "ESK8S_POD_NAME" && !v.empty());
  if (!has_pod) set("ESK8S_POD_NAME", "esk8s-discover");  // not a pod: exclude nothing

  auto parsed = plugin::parse_config(in, plugin::HostFacts::from_system());
  if (!parsed) {
    err << parsed.status().message()
        << "\n(esk8s discover reads the same ESK8S_* settings as the plugin; "
        << "--service, --namespace and --kubeconfig override them)\n";
    return 1;
  }
  const plugin::Config& c = parsed->config;
  auto kc = discovery::resolve_kube_config(
      discovery::kube_config_inputs_from_env(c.kube_api, c.kubeconfig, c.service_account_dir));
  if (!kc.is_ok()) {
    err << kc.status().message() << "\n";
    return 1;
  }
  Logger quiet(std::make_shared<StderrSink>(LogLevel::kError), "discover");
  auto client = discovery::KubeClient::create(kc.value(), {}, quiet);
  if (!client.is_ok()) {
    err << client.status().message() << "\n";
    return 1;
  }
  std::vector<std::string> namespaces = {c.namespace_name};
  namespaces.insert(namespaces.end(), c.peer_namespaces.begin(), c.peer_namespaces.end());

  json report = {{"server", kc->server}, {"source", kc->source}, {"service", c.service}};
  std::string user = discovery::KubernetesSource::whoami(*client.value());
  report["user"] = user;
  auto checks = discovery::KubernetesSource::check_permissions(*client.value(), namespaces);
  auto missing = discovery::KubernetesSource::describe_missing(checks, user, namespaces.size() > 1);
  const std::string who = user.empty() ? "this pod's service account" : user;
  for (auto& extra : extra_permissions(c)) {
    review(*client.value(), extra.check);
    if (!extra.check.allowed && extra.check.error.empty()) {
      missing.push_back("cannot " + extra.check.verb + " " + resource_name(extra.check) + " " +
                        where(extra.check) + " as " + who + " (needed for " + extra.needed_for +
                        "); " + extra.remedy);
    }
    checks.push_back(std::move(extra.check));
  }
  bool ok = missing.empty();
  report["rbac"] = json::array();
  for (const auto& chk : checks) {
    report["rbac"].push_back({{"verb", chk.verb},
                              {"resource", resource_name(chk)},
                              {"namespace", chk.namespace_name},
                              {"allowed", chk.allowed},
                              {"error", chk.error}});
    ok = ok && chk.error.empty();
  }
  report["problems"] = missing;

  std::vector<discovery::EndpointSlice> slices;
  report["namespaces"] = json::array();
  for (const auto& ns : namespaces) {
    std::string path = "/apis/discovery.k8s.io/v1/namespaces/" + ns +
                       "/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D" + c.service;
    auto r = client.value()->get(path);
    json nsj = {{"namespace", ns}, {"status", r.status}};
    if (r.status == 200) {
      auto list = discovery::parse_slice_list(r.body);
      if (list.is_ok()) {
        nsj["slices"] = list->items.size();
        slices.insert(slices.end(), list->items.begin(), list->items.end());
      } else {
        nsj["error"] = list.status().message();
        ok = false;
      }
    } else {
      json body = json::parse(r.body, nullptr, false);
      nsj["error"] = r.status == 0 ? r.error
                     : body.is_object() && body.contains("message")
                         ? body["message"].get<std::string>()
                         : discovery::truncate_for_log(r.body);
      report["problems"].push_back("listing endpointslices in namespace \"" + ns +
                                   "\" failed: " + nsj["error"].get<std::string>());
      ok = false;
    }
    report["namespaces"].push_back(nsj);
  }
  discovery::PeerContext ctx{c.service, c.cluster_domain, c.pod_name, c.namespace_name,
                             c.gossip_port};
  std::vector<std::string> warnings;
  auto peers = discovery::peers_from_slices(slices, ctx, &warnings);
  report["warnings"] = warnings;
  report["peers"] = json::array();
  for (const auto& p : peers) {
    report["peers"].push_back({{"identity", p.identity},
                               {"address", p.address},
                               {"gossip_port", p.gossip_port},
                               {"ready", p.ready},
                               {"serving", p.serving},
                               {"terminating", p.terminating},
                               {"node", p.node},
                               {"zone", p.zone}});
  }
  if (peers.empty() && ok)
    report["problems"].push_back(
        "no endpoints found for service \"" + c.service + "\" in " +
        std::to_string(namespaces.size()) +
        " namespace(s); check the service name and that its selector matches the pods");

  if (opts.json) {
    out << report.dump(2) << "\n";
    return ok ? 0 : 1;
  }
  out << "API server   " << kc->server << "  (" << kc->source << ")\n";
  out << "user         " << (user.empty() ? "(unknown: SelfSubjectReview not available)" : user)
      << "\n";
  out << "service      " << c.service << " in " << namespaces.size() << " namespace(s)\n\nRBAC\n";
  for (const auto& chk : checks) {
    out << "  "
        << (chk.allowed         ? "ok     "
            : chk.error.empty() ? "MISSING"
                                : "ERROR  ")
        << " " << chk.verb << " " << resource_name(chk) << " "
        << (chk.namespace_name.empty() ? "cluster-wide" : "in " + chk.namespace_name)
        << (chk.error.empty() ? "" : " (" + chk.error + ")") << "\n";
  }
  out << "\nPEERS (" << peers.size() << ")\n";
  for (const auto& p : peers) {
    out << "  " << p.identity << "  " << p.address << ":" << p.gossip_port << "  "
        << (p.terminating ? "terminating"
            : p.ready     ? "ready"
                          : "not-ready")
        << (p.node.empty() ? "" : "  node=" + p.node) << (p.zone.empty() ? "" : "  zone=" + p.zone)
        << "\n";
  }
  for (const auto& w : warnings) out << "warning: " << w << "\n";
  for (const auto& pr : report["problems"]) out << "problem: " << pr.get<std::string>() << "\n";
  return ok ? 0 : 1;
}

}  // namespace esk8s::cli
