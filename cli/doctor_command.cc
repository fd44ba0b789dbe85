#include "cli/doctor_command.h"

#include <cctype>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include <httplib.h>

#include "cli/doctor_checks.h"
#include "cli/doctor_report.h"
#include "common/text.h"
#include "discovery/endpointslice_parse.h"
#include "kube/kube_client.h"
#include "kube/kube_config_resolve.h"

namespace esk8s::cli {

const char* const kDoctorUsage =
    "  doctor [--namespace NS]... [--kubeconfig FILE] [--json]\n"
    "                 check an esk8s deployment for known pitfalls: storage, pod management\n"
    "                 and readiness mode, probes, anti-affinity, headless Service, PDB, RBAC\n"
    "                 of the members' service account, certificates, endpoints, members\n"
    "                 the scheduler cannot place, and the members' /members views; each\n"
    "                 finding says why and how to fix it.\n"
    "                 Namespace default: the kubeconfig context's, else \"default\"; the\n"
    "                 namespaces members name in ESK8S_PEER_NAMESPACES are read too, and a\n"
    "                 cluster spanning namespaces is judged whole (size, quorum, budgets).\n"
    "                 exit 1 when an error is found, 2 when the API cannot be used\n";

namespace {

using nlohmann::json;
using namespace doctor;

constexpr int kExitUsage = 2;
constexpr int kPageLimit = 250;
constexpr int kMaxPages = 400;  // 100000 objects of one kind in one namespace
// Namespaces read in one run, the given ones and those members name: a bound on a run's work.
constexpr size_t kMaxNamespaces = 64;
const char* const kDefaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// The API's own sentence for a failed request: the Status message, else the HTTP status.
std::string describe(const kube::ApiResponse& r) {
  if (r.status == 0) return r.error;
  std::string msg;
  if (r.body.size() <= discovery::kMaxObjectBytes) {
    json body = json::parse(r.body, nullptr, false);
    if (body.is_object() && body.contains("message") && body["message"].is_string()) {
      msg = body["message"].get<std::string>();
    }
  }
  return "HTTP " + std::to_string(r.status) + (msg.empty() ? "" : ": " + msg);
}

// The API as the doctor uses it: paginated lists with a size limit per page, single GETs and
// SubjectAccessReviews. `fatal` is set once the API cannot be used at all.
class Api {
 public:
  Api(kube::KubeClient& kube, std::string server) : kube_(kube), server_(std::move(server)) {}

  struct List {
    std::vector<json> items;
    std::string error;  // non-empty: the list failed (and items is empty)
  };

  List list(const std::string& path) {
    List out;
    std::string cont;
    for (int page = 0; page < kMaxPages; ++page) {
      std::string p = path + "?limit=" + std::to_string(kPageLimit) +
                      (cont.empty() ? "" : "&continue=" + percent_encode(cont));
      auto r = kube_.get(p);
      if (!usable(r)) return {{}, describe(r)};
      if (r.status != 200) return {{}, describe(r)};
      if (r.body.size() > discovery::kMaxObjectBytes) {
        return {{},
                "a page of " + path + " is larger than " +
                    std::to_string(discovery::kMaxObjectBytes) + " bytes"};
      }
      json j = json::parse(r.body, nullptr, false);
      if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
        return {{}, path + " did not answer with a list"};
      }
      for (auto& item : j["items"]) out.items.push_back(std::move(item));
      cont.clear();
      if (auto md = j.find("metadata"); md != j.end() && md->is_object()) {
        if (auto c = md->find("continue"); c != md->end() && c->is_string()) cont = *c;
      }
      if (cont.empty()) return out;
    }
    return {{}, path + " has more than " + std::to_string(kMaxPages * kPageLimit) + " objects"};
  }

  // 200: the object; 404: nullopt with `missing`; anything else: nullopt with `error`.
  std::optional<json> get(const std::string& path, bool* missing, std::string* error) {
    auto r = kube_.get(path);
    *missing = r.status == 404;
    if (!usable(r) || r.status != 200 || r.body.size() > discovery::kMaxObjectBytes) {
      *error = r.body.size() > discovery::kMaxObjectBytes ? "the answer is too large" : describe(r);
      return std::nullopt;
    }
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) {
      *error = "the answer is not a JSON object";
      return std::nullopt;
    }
    return j;
  }

  kube::ApiResponse post(const std::string& path, const json& body) {
    auto r = kube_.post(path, body.dump());
    usable(r);
    return r;
  }

  const std::string& fatal() const { return fatal_; }

 private:
  // False (and `fatal_` set) when the answer shows the API cannot be used at all.
  bool usable(const kube::ApiResponse& r) {
    if (r.status == 0 && fatal_.empty()) {
      fatal_ = "cannot reach the Kubernetes API server " + server_ + ": " + r.error;
    } else if (r.status == 401 && fatal_.empty()) {
      fatal_ = "the Kubernetes API server " + server_ +
               " refused the credentials (401 Unauthorized): " + describe(r);
    }
    return r.status != 0 && r.status != 401;
  }

  kube::KubeClient& kube_;
  std::string server_;
  std::string fatal_;
};

NamespaceObjects fetch_namespace(Api& api, const std::string& ns, std::string* fatal) {
  NamespaceObjects o;
  o.name = ns;
  struct Kind {
    const char* resource;
    std::string path;
    std::vector<json>* into;
  };
  const std::string api_ns = "/api/v1/namespaces/" + ns;
  const Kind kinds[] = {
      {"statefulsets", "/apis/apps/v1/namespaces/" + ns + "/statefulsets", &o.statefulsets},
      {"services", api_ns + "/services", &o.services},
      {"poddisruptionbudgets", "/apis/policy/v1/namespaces/" + ns + "/poddisruptionbudgets",
       &o.pdbs},
      {"pods", api_ns + "/pods", &o.pods},
      {"configmaps", api_ns + "/configmaps", &o.configmaps},
      {"endpointslices", "/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices",
       &o.endpointslices},
  };
  for (const Kind& k : kinds) {
    auto list = api.list(k.path);
    if (!api.fatal().empty()) {
      *fatal = api.fatal();
      return o;
    }
    if (!list.error.empty()) {
      if (std::string(k.resource) == "statefulsets") {
        *fatal = "cannot list statefulsets.apps in namespace \"" + ns + "\": " + list.error +
                 " (the doctor needs at least get/list on the namespace's objects)";
        return o;
      }
      o.unavailable[k.resource] = list.error;
      continue;
    }
    *k.into = std::move(list.items);
  }
  return o;
}

void fetch_secrets(Api& api, const std::vector<Workload>& workloads, NamespaceObjects& o) {
  for (const Workload& w : workloads) {
    for (const std::string& name : referenced_secrets(w)) {
      if (o.secrets.count(name) || o.missing_secrets.count(name) || o.secret_errors.count(name)) {
        continue;
      }
      bool missing = false;
      std::string error;
      auto s = api.get("/api/v1/namespaces/" + o.name + "/secrets/" + name, &missing, &error);
      if (s) {
        o.secrets[name] = std::move(*s);
      } else if (missing) {
        o.missing_secrets.insert(name);
      } else {
        o.secret_errors[name] = error;
      }
    }
  }
}

PermissionReport check_rbac(Api& api, const Workload& w) {
  PermissionReport report;
  report.user = service_account_user(w);
  for (const PermissionNeed& need : needed_permissions(w)) {
    auto r = api.post("/apis/authorization.k8s.io/v1/subjectaccessreviews",
                      subject_access_review(w, need));
    PermissionResult result{need, false, ""};
    if (r.status == 403 || r.status == 404) {
      report.results.clear();
      report.skipped = r.status == 403 ? "the doctor's user may not create "
                                         "subjectaccessreviews.authorization.k8s.io (" +
                                             describe(r) + ")"
                                       : "the API server does not serve SubjectAccessReviews (" +
                                             describe(r) + ")";
      return report;
    }
    json body =
        r.body.size() <= discovery::kMaxObjectBytes ? json::parse(r.body, nullptr, false) : json();
    if ((r.status == 200 || r.status == 201) && body.is_object() && body.contains("status") &&
        body["status"].is_object()) {
      result.allowed = body["status"].contains("allowed") && body["status"]["allowed"] == true;
    } else {
      result.error = describe(r);
    }
    report.results.push_back(std::move(result));
  }
  return report;
}

MemberFetch fetch_members(const MemberTarget& t, std::chrono::milliseconds timeout) {
  MemberFetch f;
  f.target = t;
  const size_t path_at = t.url.find('/', t.url.find("//") + 2);
  httplib::Client cli(t.url.substr(0, path_at));
  const auto secs = static_cast<time_t>(timeout.count() / 1000);
  const auto usecs = static_cast<time_t>((timeout.count() % 1000) * 1000);
  cli.set_connection_timeout(secs, usecs);
  cli.set_read_timeout(secs, usecs);
  cli.set_write_timeout(secs, usecs);
  bool too_large = false;
  auto res = cli.Get(t.url.substr(path_at), [&](const char* data, size_t n) {
    if (f.body.size() + n > discovery::kMaxObjectBytes) {
      too_large = true;
      return false;
    }
    f.body.append(data, n);
    return true;
  });
  if (too_large) {
    f.reachable = true;
    f.status = 0;
    f.body.clear();
    return f;
  }
  if (!res) {
    f.error = httplib::to_string(res.error());
    return f;
  }
  f.reachable = true;
  f.status = res->status;
  return f;
}

std::vector<MemberFetch> fetch_all_members(const std::vector<MemberTarget>& targets,
                                           std::chrono::milliseconds timeout) {
  std::vector<std::future<MemberFetch>> pending;
  for (const MemberTarget& t : targets) {
    pending.push_back(std::async(std::launch::async, fetch_members, t, timeout));
  }
  std::vector<MemberFetch> out;
  for (auto& p : pending) out.push_back(p.get());
  return out;
}

}  // namespace

Result<DoctorOptions> parse_doctor_args(const std::vector<std::string>& args) {
  DoctorOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::optional<std::string> value;
    if (size_t eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    if (a == "--json") {
      if (value) return Status::invalid_argument("--json takes no value");
      o.json = true;
      continue;
    }
    if (a != "--namespace" && a != "--kubeconfig") {
      return Status::invalid_argument("unknown argument \"" + args[i] + "\"");
    }
    if (!value) {
      if (i + 1 >= args.size()) return Status::invalid_argument(a + " needs a value");
      value = args[++i];
    }
    if (value->empty()) return Status::invalid_argument(a + " needs a non-empty value");
    if (a == "--namespace") {
      o.namespaces.push_back(*value);
    } else if (!o.kubeconfig.empty()) {
      return Status::invalid_argument("--kubeconfig may be given only once");
    } else {
      o.kubeconfig = *value;
    }
  }
  return o;
}

int doctor_command(const DoctorOptions& opts, std::ostream& out, std::ostream& err) {
  auto kc = kube::resolve_kube_config(kube::kube_config_inputs_from_env(
      env_or("ESK8S_KUBE_API", ""),
      opts.kubeconfig.empty() ? env_or("ESK8S_KUBECONFIG", "") : opts.kubeconfig,
      env_or("ESK8S_SERVICE_ACCOUNT_DIR", kDefaultServiceAccountDir)));
  if (!kc.is_ok()) {
    err << "esk8s doctor: " << kc.status().message()
        << "\n(pass --kubeconfig FILE, set KUBECONFIG, or run the doctor in a pod)\n";
    return kExitUsage;
  }
  Logger quiet(std::make_shared<StderrSink>(LogLevel::kError), "doctor");
  auto client = kube::KubeClient::create(kc.value(), {}, quiet);
  if (!client.is_ok()) {
    err << "esk8s doctor: " << client.status().message() << "\n";
    return kExitUsage;
  }
  std::vector<std::string> namespaces = opts.namespaces;
  if (namespaces.empty()) {
    namespaces.push_back(kc->namespace_name.empty() ? "default" : kc->namespace_name);
  }
  err << "esk8s doctor: API server " << kc->server << " (" << kc->source << ")\n";
  Api api(*client.value(), kc->server);

  Observations base;
  base.now = std::chrono::system_clock::now();
  auto classes = api.list("/apis/storage.k8s.io/v1/storageclasses");
  if (!api.fatal().empty()) {
    err << "esk8s doctor: " << api.fatal() << "\n";
    return kExitUsage;
  }
  base.storage_classes = std::move(classes.items);
  base.storage_classes_unavailable = classes.error;

  std::vector<Finding> findings;
  ReportContext ctx;
  // The namespaces given, then every namespace their members watch (ESK8S_PEER_NAMESPACES), so
  // that a cluster spanning namespaces is judged whole. A named namespace that cannot be read
  // is reported, not fatal: the doctor's user may lack access there.
  const std::set<std::string> given(namespaces.begin(), namespaces.end());
  std::vector<std::string> queue = namespaces;
  std::map<std::string, NamespaceObjects> read;
  std::map<std::string, std::string> unreadable;
  std::vector<Workload> workloads;
  for (size_t i = 0; i < queue.size(); ++i) {
    const std::string ns = queue[i];
    if (read.count(ns) || unreadable.count(ns)) continue;
    const bool named = !given.count(ns);
    if (read.size() + unreadable.size() >= kMaxNamespaces) {
      unreadable[ns] = "the doctor reads at most " + std::to_string(kMaxNamespaces) + " namespaces";
      continue;
    }
    std::string fatal;
    NamespaceObjects objects = fetch_namespace(api, ns, &fatal);
    if (!fatal.empty()) {
      err << "esk8s doctor: " << fatal << "\n";
      if (!named || !api.fatal().empty()) return kExitUsage;
      unreadable[ns] = fatal;
      continue;
    }
    std::vector<Workload> found = find_workloads(objects);
    err << "esk8s doctor: namespace " << ns << (named ? " (named in ESK8S_PEER_NAMESPACES)" : "")
        << ": " << found.size() << " esk8s StatefulSet(s), " << objects.pods.size() << " pod(s)\n";
    if (found.empty() && !named) findings.push_back(no_workload_finding(objects));
    fetch_secrets(api, found, objects);
    for (const Workload& w : found) {
      for (const std::string& peer : watched_namespaces(w)) queue.push_back(peer);
    }
    workloads.insert(workloads.end(), found.begin(), found.end());
    read.emplace(ns, std::move(objects));
    ctx.namespaces.push_back(ns);
  }

  for (Cluster& cluster : assemble_clusters(workloads, unreadable)) {
    err << "esk8s doctor: cluster of " << cluster.object() << ": " << cluster.replicas()
        << " member(s)\n";
    std::vector<MemberTarget> targets;
    std::vector<Finding> found;
    for (const Workload& w : cluster.workloads) {
      ctx.statefulsets.push_back(w.namespace_name + "/" + w.name);
      Observations obs = base;
      err << "esk8s doctor: " << w.object() << ": RBAC of " << service_account_user(w) << "\n";
      obs.permissions = check_rbac(api, w);
      if (!api.fatal().empty()) {
        err << "esk8s doctor: " << api.fatal() << "\n";
        return kExitUsage;
      }
      auto mine = member_targets(w, read.at(w.namespace_name));
      err << "esk8s doctor: " << w.object() << ": /members of " << mine.size() << " pod(s)\n";
      targets.insert(targets.end(), mine.begin(), mine.end());
      auto checked = check_workload(w, cluster, read.at(w.namespace_name), obs);
      found.insert(found.end(), checked.begin(), checked.end());
    }
    cluster.members = fetch_all_members(targets, opts.member_timeout);
    auto whole = check_cluster(cluster, read);
    findings.insert(findings.end(), found.begin(), found.end());
    findings.insert(findings.end(), whole.begin(), whole.end());
  }
  sort_findings(findings);
  if (opts.json) {
    out << render_json(findings, ctx).dump(2) << "\n";
  } else {
    render_table(findings, ctx, opts.color, out);
  }
  return exit_code(findings);
}

}  // namespace esk8s::cli
