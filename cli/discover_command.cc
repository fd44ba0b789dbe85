#include "cli/discover_command.h"

#include <nlohmann/json.hpp>

#include "discovery/endpointslice_parse.h"
#include "kube/kube_client.h"
#include "kube/kube_config_resolve.h"
#include "discovery/kubernetes_source.h"
#include "discovery/peer_model.h"
#include "kube/permissions.h"
#include "plugin/permission_needs.h"

namespace esk8s::cli {

using nlohmann::json;

namespace {

// What a permission beyond discovery's EndpointSlice reads is for, for the sentence that names
// it when it is missing, and how to fix it.
std::string needed_for(const plugin::Config& c, const kube::Permission& p) {
  switch (p.purpose) {
    case kube::PermissionPurpose::kOwnWorkload:
      return c.ready_mode == plugin::ReadyMode::kAuto && !c.cluster_size
                 ? "ESK8S_READY_MODE=auto and the default ESK8S_CLUSTER_SIZE"
             : !c.cluster_size ? "the default ESK8S_CLUSTER_SIZE"
                               : "ESK8S_READY_MODE=auto";
    case kube::PermissionPurpose::kCsr:
      return "ESK8S_TLS_MODE=kubernetes-csr";
    case kube::PermissionPurpose::kEvents:
      return "ESK8S_EVENTS=on: Events on the member's own pod; nothing else needs it";
    case kube::PermissionPurpose::kDisruptionLease:
      return "ESK8S_DISRUPTION_LEASE=" + c.disruption_lease_namespace + "/" +
             c.disruption_lease_name + ": the disruption guard's Lease";
    default:
      return "discovery";
  }
}

std::string remedy(const kube::Permission& p) {
  switch (p.purpose) {
    case kube::PermissionPurpose::kOwnWorkload:
      return "apply rbac/role.yaml, or set ESK8S_READY_MODE and ESK8S_CLUSTER_SIZE explicitly";
    case kube::PermissionPurpose::kEvents:
      return "apply rbac/role.yaml, or set ESK8S_EVENTS=off";
    default:
      return "apply " + p.rbac_file;
  }
}

// What the API server was given as credentials, for the sentence that says it refused them.
std::string credential_name(const kube::KubeConfig& kc) {
  if (kc.exec) return "the credential of the exec plugin \"" + kc.exec->command + "\"";
  if (!kc.token_file.empty()) return "the token in " + kc.token_file;
  if (!kc.token.empty()) return "the token of " + kc.source;
  return "the client certificate of " + kc.source;
}

// The page size of the EndpointSlice lists: the plugin's (WatchConfig::page_limit), so that a
// large service is read in pages that each stay below the decoder's limit.
constexpr uint32_t kPageLimit = kube::WatchConfig{}.page_limit;
// A server that keeps handing out continue tokens is not followed forever (10,000 pages of 500
// slices of up to 100 endpoints is far beyond any service).
constexpr size_t kMaxPages = 10000;

// Every EndpointSlice of the service in `ns`, page by page. On failure, `problem` says why and
// `nsj` gets the status and error.
std::vector<discovery::EndpointSlice> list_slices(kube::KubeClient& client,
                                                  const std::string& ns,
                                                  const std::string& service, json& nsj,
                                                  std::string& problem) {
  std::vector<discovery::EndpointSlice> out;
  std::string cont;
  size_t pages = 0;
  do {
    if (++pages > kMaxPages) {
      nsj["error"] = "more than " + std::to_string(kMaxPages) + " pages";
      problem = "the API server's EndpointSlice list for namespace \"" + ns +
                "\" did not end after " + std::to_string(kMaxPages) + " pages";
      return out;
    }
    auto r = client.get(discovery::slice_list_path(ns, service, kPageLimit, cont));
    nsj["status"] = r.status;
    if (r.status != 200) {
      const std::string error = kube::describe_failure(r);
      nsj["error"] = error;
      problem = "listing endpointslices in namespace \"" + ns + "\" failed: " + error;
      return out;
    }
    auto page = discovery::parse_slice_list(r.body);
    if (!page.is_ok()) {
      nsj["error"] = page.status().message();
      problem = "the API server's EndpointSlice list for namespace \"" + ns +
                "\" cannot be used: " + page.status().message();
      return out;
    }
    out.insert(out.end(), page->items.begin(), page->items.end());
    cont = page->continue_token;
  } while (!cont.empty());
  nsj["slices"] = out.size();
  return out;
}

}  // namespace

std::string missing_permission_sentence(const plugin::Config& c, const kube::Permission& p,
                                        const std::string& who) {
  return "cannot " + p.verb + " " + p.resource_name() + " " + p.where() + " as " + who +
         " (needed for " + needed_for(c, p) + "); " + remedy(p);
}

namespace {

// Everything `esk8s discover` finds, as its JSON report. Every finding that makes the report
// fail is a sentence in "problems", so the text report, the JSON report and the exit status
// always agree.
json inspect(kube::KubeClient& client, const kube::KubeConfig& kc,
             const plugin::Config& c, const std::vector<std::string>& namespaces) {
  json report = {{"server", kc.server},      {"source", kc.source},     {"service", c.service},
                 {"rbac", json::array()},     {"namespaces", json::array()},
                 {"warnings", json::array()}, {"peers", json::array()}, {"problems", json::array()}};
  json& problems = report["problems"];
  const discovery::SelfReview self = discovery::KubernetesSource::review_self(client);
  report["user"] = self.user;
  report["user_error"] = self.error;   // why "user" is empty
  report["user_status"] = self.status;  // the SelfSubjectReview's HTTP status, 0: no answer
  // Without a connection or with refused credentials every other request fails the same way:
  // one problem names the cause instead of one per request.
  if (self.status == 0) {
    problems.push_back("no answer from the API server " + kc.server + ": " + self.error +
                       "; nothing else was checked");
    return report;
  }
  if (self.credentials_rejected()) {
    problems.push_back("the API server rejected " + credential_name(kc) + " (" + self.error +
                       "): it is invalid, expired or not meant for this cluster; nothing else "
                       "was checked");
    return report;
  }

  auto checks = discovery::KubernetesSource::check_permissions(client, namespaces);
  for (const auto& m :
       discovery::KubernetesSource::describe_missing(checks, self.user, namespaces.size() > 1))
    problems.push_back(m);
  const std::string who = self.user.empty() ? "this pod's service account" : self.user;
  std::vector<std::string> rbac_warnings;
  // The rest of the one permission list (kube/permissions.h) for this configuration: pod and
  // StatefulSet, CSRs, Events, the disruption guard's Lease.
  for (kube::Permission& p : kube::required_permissions(plugin::permission_needs(c))) {
    if (p.purpose == kube::PermissionPurpose::kDiscovery ||
        p.purpose == kube::PermissionPurpose::kPeerDiscovery) {
      continue;  // checked above, per watched namespace
    }
    kube::AccessCheck check{std::move(p), false, ""};
    kube::review_access(client, check);
    const kube::Permission& q = check.permission;
    if (!check.allowed && check.error.empty()) {
      std::string sentence = missing_permission_sentence(c, q, who);
      if (q.optional)
        rbac_warnings.push_back(std::move(sentence));
      else
        problems.push_back(std::move(sentence));
    }
    checks.push_back(std::move(check));
  }
  for (const auto& chk : checks) {
    const kube::Permission& q = chk.permission;
    report["rbac"].push_back({{"verb", q.verb},
                              {"resource", q.resource_name()},
                              {"namespace", q.namespace_name},
                              {"allowed", chk.allowed},
                              {"error", chk.error}});
    if (!chk.error.empty()) {
      problems.push_back("could not check whether " + who + " may " + q.verb + " " +
                         q.resource_name() + " " + q.where() + ": " + chk.error);
    }
  }

  std::vector<discovery::EndpointSlice> slices;
  bool listed = true;
  for (const auto& ns : namespaces) {
    json nsj = {{"namespace", ns}};
    std::string problem;
    auto items = list_slices(client, ns, c.service, nsj, problem);
    slices.insert(slices.end(), items.begin(), items.end());
    if (!problem.empty()) {
      problems.push_back(problem);
      listed = false;
    }
    report["namespaces"].push_back(nsj);
  }
  discovery::PeerContext ctx{c.service, c.cluster_domain, c.pod_name, c.namespace_name,
                             c.gossip_port};
  std::vector<std::string> warnings;
  auto peers = discovery::peers_from_slices(slices, ctx, &warnings);
  warnings.insert(warnings.end(), rbac_warnings.begin(), rbac_warnings.end());
  report["warnings"] = warnings;
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
  if (peers.empty() && listed) {
    problems.push_back("no endpoints found for service \"" + c.service + "\" in " +
                       std::to_string(namespaces.size()) +
                       " namespace(s); check the service name and that its selector matches the "
                       "pods");
  }
  return report;
}

void print_text(const json& report, size_t namespace_count, std::ostream& out) {
  const std::string user = report["user"].get<std::string>();
  const std::string user_error = report["user_error"].get<std::string>();
  const bool rejected = report["user_status"].get<int>() == 401;
  out << "API server   " << report["server"].get<std::string>() << "  ("
      << report["source"].get<std::string>() << ")\n";
  out << "user         "
      << (!user.empty() ? user
          : rejected     ? "REJECTED (" + user_error + ")"
                         : "(unknown: " + user_error + ")")
      << "\n";
  out << "service      " << report["service"].get<std::string>() << " in " << namespace_count
      << " namespace(s)\n";
  if (!report["rbac"].empty()) {
    out << "\nRBAC\n";
    for (const auto& chk : report["rbac"]) {
      const std::string error = chk["error"].get<std::string>();
      const std::string ns = chk["namespace"].get<std::string>();
      out << "  "
          << (chk["allowed"].get<bool>() ? "ok     "
              : error.empty()            ? "MISSING"
                                         : "ERROR  ")
          << " " << chk["verb"].get<std::string>() << " " << chk["resource"].get<std::string>()
          << " " << (ns.empty() ? "cluster-wide" : "in " + ns)
          << (error.empty() ? "" : " (" + error + ")") << "\n";
    }
  }
  if (!report["namespaces"].empty()) {
    out << "\nPEERS (" << report["peers"].size() << ")\n";
    for (const auto& p : report["peers"]) {
      const std::string node = p["node"].get<std::string>(), zone = p["zone"].get<std::string>();
      out << "  " << p["identity"].get<std::string>() << "  " << p["address"].get<std::string>()
          << ":" << p["gossip_port"].get<int>() << "  "
          << (p["terminating"].get<bool>() ? "terminating"
              : p["ready"].get<bool>()     ? "ready"
                                           : "not-ready")
          << (node.empty() ? "" : "  node=" + node) << (zone.empty() ? "" : "  zone=" + zone)
          << "\n";
    }
  }
  for (const auto& w : report["warnings"]) out << "warning: " << w.get<std::string>() << "\n";
  for (const auto& p : report["problems"]) out << "problem: " << p.get<std::string>() << "\n";
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
  auto kc = kube::resolve_kube_config(
      kube::kube_config_inputs_from_env(c.kube_api, c.kubeconfig, c.service_account_dir));
  if (!kc.is_ok()) {
    err << kc.status().message() << "\n";
    return 1;
  }
  Logger quiet(std::make_shared<StderrSink>(LogLevel::kError), "discover");
  auto client = kube::KubeClient::create(kc.value(), {}, quiet);
  if (!client.is_ok()) {
    err << client.status().message() << "\n";
    return 1;
  }
  std::vector<std::string> namespaces = {c.namespace_name};
  namespaces.insert(namespaces.end(), c.peer_namespaces.begin(), c.peer_namespaces.end());
  json report = inspect(*client.value(), kc.value(), c, namespaces);
  if (opts.json) {
    out << report.dump(2) << "\n";
  } else {
    print_text(report, namespaces.size(), out);
  }
  return report["problems"].empty() ? 0 : 1;
}

}  // namespace esk8s::cli
