#include "cli/discover_command.h"

#include <nlohmann/json.hpp>

#include "discovery/endpointslice_parse.h"
#include "discovery/kube_client.h"
#include "discovery/kube_config_resolve.h"
#include "discovery/kubernetes_source.h"
#include "discovery/peer_model.h"

namespace esk8s::cli {

using nlohmann::json;

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
  bool ok = missing.empty();
  report["rbac"] = json::array();
  for (const auto& chk : checks) {
    report["rbac"].push_back({{"verb", chk.verb},
                              {"resource", chk.resource + "." + chk.group},
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
        << " " << chk.verb << " " << chk.resource << "." << chk.group << " in "
        << chk.namespace_name << (chk.error.empty() ? "" : " (" + chk.error + ")") << "\n";
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
