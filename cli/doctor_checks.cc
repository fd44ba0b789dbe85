#include "cli/doctor_checks.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <tuple>

#include "cli/time_text.h"
#include "common/base64.h"
#include "common/escape.h"
#include "common/rfc3339.h"
#include "discovery/endpointslice_parse.h"
#include "gossip/quorum.h"
#include "kube/permissions.h"
#include "tls/peer_verify.h"
#include "tls/x509.h"

namespace esk8s::cli::doctor {

using nlohmann::json;

namespace {

using Clock = std::chrono::system_clock;

constexpr int kDefaultHttpPort = 2115;
constexpr int kLeafExpiryWarningDays = 7;
// A CA needs more notice than a member certificate: members' certificates never outlive it, and
// rotating it means distributing a new trust bundle before the old CA expires.
constexpr int kCaExpiryWarningDays = 30;
const char* const kEsk8sPrefix = "ESK8S_";
// The scheduler's message is quoted in a finding; its bound keeps a report readable.
constexpr size_t kMaxSchedulerMessage = 400;

const json& empty_object() {
  static const json e = json::object();
  return e;
}
const json& empty_array() {
  static const json e = json::array();
  return e;
}

// obj[key] when it is an object, else {}.
const json& object_at(const json& obj, const char* key) {
  if (!obj.is_object()) return empty_object();
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : empty_object();
}
const json& array_at(const json& obj, const char* key) {
  if (!obj.is_object()) return empty_array();
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? *it : empty_array();
}
std::string string_at(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}
// obj[key] == true; absent or any other type is false.
bool bool_at(const json& obj, const char* key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}
std::string name_of(const json& obj) { return string_at(object_at(obj, "metadata"), "name"); }

std::string joined(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::optional<int> parse_int(const std::string& s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Finding make(Severity s, std::string check, std::string object, std::string message,
             std::string why, std::string fix) {
  return {s,           std::move(check), std::move(object), std::move(message),
          std::move(why), std::move(fix),  ""};
}

const json* find_named(const std::vector<json>& objects, const std::string& name) {
  for (const json& o : objects) {
    if (name_of(o) == name) return &o;
  }
  return nullptr;
}

// A LabelSelector (matchLabels + matchExpressions) against a label map. An empty selector
// matches everything (policy/v1 PodDisruptionBudget semantics); an unknown operator matches
// nothing.
bool selector_matches(const json& selector, const json& labels) {
  if (!selector.is_object()) return false;
  auto label = [&](const std::string& k) -> std::optional<std::string> {
    if (!labels.is_object()) return std::nullopt;
    auto it = labels.find(k);
    if (it == labels.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  for (const auto& [k, v] : object_at(selector, "matchLabels").items()) {
    if (!v.is_string() || label(k) != v.get<std::string>()) return false;
  }
  for (const json& e : array_at(selector, "matchExpressions")) {
    std::string key = string_at(e, "key"), op = string_at(e, "operator");
    auto have = label(key);
    bool in_values = false;
    for (const json& v : array_at(e, "values")) in_values = in_values || (have && v == *have);
    if (op == "In" && !in_values) return false;
    if (op == "NotIn" && in_values) return false;
    if (op == "Exists" && !have) return false;
    if (op == "DoesNotExist" && have) return false;
    if (op != "In" && op != "NotIn" && op != "Exists" && op != "DoesNotExist") return false;
  }
  return true;
}

// A Service selector (a plain label map): every pair must be in `labels`; empty selects nothing
// that the Service manages.
bool service_selects(const json& selector, const json& labels) {
  if (!selector.is_object() || selector.empty()) return false;
  for (const auto& [k, v] : selector.items()) {
    if (!labels.is_object() || !labels.contains(k) || labels[k] != v) return false;
  }
  return true;
}

const json& template_labels(const Workload& w) {
  return object_at(object_at(object_at(object_at(w.statefulset, "spec"), "template"), "metadata"),
                   "labels");
}

// The pods this StatefulSet controls (ownerReferences), skipping those being deleted.
std::vector<const json*> owned_pods(const Workload& w, const NamespaceObjects& ns) {
  std::vector<const json*> out;
  for (const json& p : ns.pods) {
    const json& md = object_at(p, "metadata");
    if (md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null()) continue;
    for (const json& ref : array_at(md, "ownerReferences")) {
      if (string_at(ref, "kind") == "StatefulSet" && string_at(ref, "name") == w.name) {
        out.push_back(&p);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const json* a, const json* b) { return name_of(*a) < name_of(*b); });
  return out;
}

std::string where_set(const Workload& w, const std::string& key) {
  auto it = w.setting_sources.find(key);
  return it == w.setting_sources.end() ? "the container's env" : it->second;
}

// The headless Service whose EndpointSlices the members watch.
std::string service_of(const Workload& w) { return w.setting("ESK8S_SERVICE", w.service_name()); }

// Whether `s` can stand in a printed shell command as it is: the characters of Kubernetes
// object names only, so nothing read from the API can inject shell syntax.
bool shell_safe(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// "esdb-0", or "esdb-a/esdb-0" when the cluster spans namespaces (pod names repeat there).
std::string pod_label(const Cluster& c, const std::string& ns, const std::string& pod) {
  return c.multi_namespace() ? ns + "/" + pod : pod;
}

// "2 of 3 members" wording: "spec.replicas is 3" for one StatefulSet, "the cluster has 3
// members in all (esdb-a/esdb: 2, esdb-b/esdb: 1)" for several.
std::string describe_members(const Cluster& c) {
  if (c.workloads.size() == 1) return "spec.replicas is " + std::to_string(c.replicas());
  std::vector<std::string> parts;
  for (const Workload& w : c.workloads) {
    parts.push_back(w.namespace_name + "/" + w.name + ": " + std::to_string(w.replicas()));
  }
  return "the cluster has " + std::to_string(c.replicas()) + " members in all (" + joined(parts) +
         ")";
}

// ---- storage ----

bool looks_ssd(const json& sc) {
  for (const char* word : {"ssd", "fast", "premium"}) {
    if (lower(name_of(sc)).find(word) != std::string::npos) return true;
  }
  for (const auto& [k, v] : object_at(sc, "parameters").items()) {
    if (!v.is_string()) continue;
    std::string value = lower(v.get<std::string>());
    for (const char* word : {"ssd", "gp3", "gp2", "io1", "io2", "premium"}) {
      if (value.find(word) != std::string::npos) return true;
    }
  }
  return false;
}

bool is_default_class(const json& sc) {
  const json& ann = object_at(object_at(sc, "metadata"), "annotations");
  return string_at(ann, "storageclass.kubernetes.io/is-default-class") == "true" ||
         string_at(ann, "storageclass.beta.kubernetes.io/is-default-class") == "true";
}

std::string describe_class(const json& sc) {
  std::string params;
  for (const auto& [k, v] : object_at(sc, "parameters").items()) {
    params += (params.empty() ? "" : ", ") + k + "=" + (v.is_string() ? v.get<std::string>() : "");
  }
  return "StorageClass " + name_of(sc) + " (provisioner " + string_at(sc, "provisioner") +
         (params.empty() ? "" : ", parameters " + params) + ")";
}

void check_storage(const Workload& w, const Observations& obs, std::vector<Finding>& out) {
  const json& templates = array_at(object_at(w.statefulset, "spec"), "volumeClaimTemplates");
  if (templates.empty()) {
    out.push_back(make(Severity::kError, "storage.no-volume-claim-templates", w.object(),
                       "the StatefulSet has no volumeClaimTemplates",
                       "data lives in the container filesystem and is lost whenever a pod is "
                       "deleted, evicted or rescheduled",
                       "add a volumeClaimTemplates entry (ReadWriteOnce, an SSD-backed "
                       "storageClassName) and mount it at the database's data directory, as in "
                       "examples/kubernetes/base/statefulset.yaml"));
    return;
  }
  if (!obs.storage_classes_unavailable.empty()) {
    out.push_back(make(Severity::kInfo, "storage.classes-unknown", w.object(),
                       "StorageClasses not checked: " + obs.storage_classes_unavailable,
                       "whether the claims get an SSD-backed class is unknown from here",
                       "run the doctor as a user who may list storageclasses.storage.k8s.io"));
    return;
  }
  const json* default_class = nullptr;
  for (const json& sc : obs.storage_classes) {
    if (is_default_class(sc)) default_class = &sc;
  }
  for (const json& t : templates) {
    const std::string claim = name_of(t);
    const json& spec = object_at(t, "spec");
    auto named = spec.find("storageClassName");
    if (named != spec.end() && named->is_string()) {
      const std::string cls = named->get<std::string>();
      if (cls.empty()) continue;  // "" asks for a pre-provisioned volume: the admin's choice
      const json* sc = find_named(obs.storage_classes, cls);
      if (sc == nullptr) {
        out.push_back(make(
            Severity::kWarning, "storage.class-missing", w.object(),
            "claim template " + claim + " asks for StorageClass " + cls + ", which does not exist",
            "claims naming a missing class stay Pending unless matching volumes were "
            "provisioned by hand, so the pods never start",
            "create StorageClass " + cls +
                " (SSD-backed) or set storageClassName to an existing "
                "SSD class (kubectl get storageclass)"));
      } else if (!looks_ssd(*sc)) {
        out.push_back(make(Severity::kWarning, "storage.class-not-ssd", w.object(),
                           "claim template " + claim + " uses " + describe_class(*sc) +
                               ", which does not look SSD-backed",
                           "an event store fsyncs every commit, and on spinning or throttled "
                           "network disks write latency dominates the cluster's throughput",
                           "use an SSD class (gp3, pd-ssd, Premium_LRS, ...) in storageClassName; "
                           "ignore this if " +
                               cls + " is SSD-backed under another name"));
      }
      continue;
    }
    if (default_class == nullptr) {
      out.push_back(make(Severity::kWarning, "storage.no-default-class", w.object(),
                         "claim template " + claim +
                             " sets no storageClassName and the cluster has no default "
                             "StorageClass",
                         "without a class the claims stay Pending (unless volumes are "
                         "provisioned by hand), so the pods never start",
                         "set storageClassName in the claim template to an SSD-backed class "
                         "(kubectl get storageclass)"));
    } else if (!looks_ssd(*default_class)) {
      out.push_back(make(Severity::kWarning, "storage.default-class-not-ssd", w.object(),
                         "claim template " + claim +
                             " sets no storageClassName, so it gets the default " +
                             describe_class(*default_class) + ", which does not look SSD-backed",
                         "the default class is often the cheapest disk, and an event store "
                         "fsyncs every commit, so write latency dominates its throughput",
                         "set storageClassName in the claim template to an SSD-backed class"));
    }
  }
}

// ---- the StatefulSet ----

// The httpGet path of a probe: nullopt when the probe is absent, "" when it is not an httpGet.
std::optional<std::string> probe_path(const json& container, const char* probe) {
  auto it = container.find(probe);
  if (it == container.end() || !it->is_object()) return std::nullopt;
  return string_at(object_at(*it, "httpGet"), "path");
}

void check_probes(const Workload& w, std::vector<Finding>& out) {
  const std::string c = string_at(w.container, "name");
  struct Want {
    const char* probe;
    const char* path;
    Severity when_missing;
    const char* why;
  };
  const Want wants[] = {
      {"startupProbe", "/health/startup", Severity::kWarning,
       "/health/startup checks only local things (configuration, certificate, listeners), so it "
       "holds the other probes back until the member can run without ever waiting for peers"},
      {"readinessProbe", "/health/ready", Severity::kWarning,
       "/health/ready is quorum-aware (ESK8S_READY_MODE): it keeps clients and rolling updates "
       "away from a member that is not part of a healthy cluster"},
      {"livenessProbe", "/health/live", Severity::kInfo,
       "/health/live fails only when the plugin's event loop is stuck, so a peer or API outage "
       "never restarts a member; any other endpoint restarts healthy members during outages"},
  };
  for (const Want& want : wants) {
    auto path = probe_path(w.container, want.probe);
    std::string check = std::string("probes.") + want.probe;
    if (!path) {
      out.push_back(make(want.when_missing, check, w.object(),
                         "container " + c + " has no " + want.probe, want.why,
                         std::string("add ") + want.probe + " with httpGet path " + want.path +
                             " on the http port (examples/kubernetes/base/statefulset.yaml)"));
    } else if (*path != want.path) {
      out.push_back(
          make(Severity::kWarning, check, w.object(),
               "container " + c + "'s " + want.probe + " is " +
                   (path->empty() ? std::string("not an httpGet probe") : "an httpGet on " + *path),
               want.why,
               std::string("make ") + want.probe + " an httpGet on path " + want.path +
                   " of the http port"));
    }
  }
}

void check_pod_management(const Workload& w, std::vector<Finding>& out) {
  std::string policy = string_at(object_at(w.statefulset, "spec"), "podManagementPolicy");
  if (policy.empty()) policy = "OrderedReady";  // the API default
  if (policy != "OrderedReady") return;
  if (w.settings.count("ESK8S_READY_MODE") && !w.settings.at("ESK8S_READY_MODE")) return;
  const std::string mode = w.setting("ESK8S_READY_MODE", "auto");
  if (mode == "quorum") {
    out.push_back(make(
        Severity::kError, "statefulset.ordered-ready-quorum", w.object(),
        "podManagementPolicy is OrderedReady (the default when unset) and ESK8S_READY_MODE=quorum "
        "(" +
            where_set(w, "ESK8S_READY_MODE") + ")",
        w.name + "-0 cannot become Ready without a quorum that OrderedReady will never create: "
                 "the next pod is created only once the previous one is Ready, so a cluster "
                 "starting from scratch deadlocks (kubernetes#38418)",
        "set ESK8S_READY_MODE=auto (bootstrap-latch under OrderedReady) in " +
            where_set(w, "ESK8S_READY_MODE") +
            ", or recreate the StatefulSet with podManagementPolicy: Parallel (the field is "
            "immutable: kubectl -n " +
            w.namespace_name + " delete statefulset " + w.name + " --cascade=orphan, then apply)"));
  } else {
    out.push_back(make(Severity::kInfo, "statefulset.ordered-ready", w.object(),
                       "podManagementPolicy is OrderedReady; ESK8S_READY_MODE=" + mode +
                           " uses bootstrap-latch readiness, which is safe",
                       "OrderedReady starts and restarts members one at a time, so a full "
                       "restart takes N times as long as with Parallel",
                       "consider podManagementPolicy: Parallel (set at creation; the field is "
                       "immutable)"));
  }
}

// Whether a required anti-affinity term sees the pods of every namespace of the cluster: a
// namespaceSelector (whose labels the doctor cannot judge) is taken to, `namespaces` must list
// them all, and without either the term sees only the pod's own namespace.
bool term_covers(const json& term, const Workload& w, const Cluster& c) {
  if (term.contains("namespaceSelector") && term["namespaceSelector"].is_object()) return true;
  std::set<std::string> seen;
  for (const json& n : array_at(term, "namespaces")) {
    if (n.is_string()) seen.insert(n.get<std::string>());
  }
  if (seen.empty()) seen.insert(w.namespace_name);
  return std::all_of(c.workloads.begin(), c.workloads.end(),
                     [&](const Workload& v) { return seen.count(v.namespace_name) > 0; });
}

void check_placement(const Workload& w, const Cluster& c, std::vector<Finding>& out) {
  const json& terms = array_at(object_at(object_at(w.pod_spec(), "affinity"), "podAntiAffinity"),
                               "requiredDuringSchedulingIgnoredDuringExecution");
  bool spread = false, across = false;
  for (const json& t : terms) {
    const bool matches = string_at(t, "topologyKey") == "kubernetes.io/hostname" &&
                         selector_matches(object_at(t, "labelSelector"), template_labels(w));
    spread = spread || matches;
    across = across || (matches && term_covers(t, w, c));
  }
  if (!spread) {
    out.push_back(
        make(Severity::kWarning, "placement.anti-affinity", w.object(),
             "no required pod anti-affinity on kubernetes.io/hostname selects the "
             "StatefulSet's own pods",
             "the scheduler may put two members on one node, and losing that node then "
             "costs two votes at once",
             "add affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution "
             "with topologyKey kubernetes.io/hostname and a labelSelector matching the "
             "pod labels (examples/kubernetes/base/statefulset.yaml)"));
  } else if (!across) {
    std::vector<std::string> all;
    for (const Workload& v : c.workloads) {
      if (std::find(all.begin(), all.end(), v.namespace_name) == all.end()) {
        all.push_back(v.namespace_name);
      }
    }
    out.push_back(make(Severity::kWarning, "placement.anti-affinity-namespaces", w.object(),
                       "the required anti-affinity on kubernetes.io/hostname does not look at "
                       "every namespace of the cluster (" +
                           joined(all) + ")",
                       "a term without namespaces sees only its own namespace, so the scheduler "
                       "may put members of two namespaces on one node, and losing that node "
                       "costs two votes at once",
                       "list " + joined(all) +
                           " in the term's namespaces, as "
                           "examples/kubernetes/overlays/multi-namespace/member/anti-affinity.yaml "
                           "does"));
  }
}

void check_resources(const Workload& w, std::vector<Finding>& out) {
  const json& res = object_at(w.container, "resources");
  std::vector<std::string> missing;
  if (!object_at(res, "requests").contains("cpu")) missing.push_back("requests.cpu");
  if (!object_at(res, "requests").contains("memory")) missing.push_back("requests.memory");
  if (!object_at(res, "limits").contains("memory")) missing.push_back("limits.memory");
  if (missing.empty()) return;
  out.push_back(
      make(Severity::kWarning, "resources", w.object(),
           "container " + string_at(w.container, "name") + " sets no " + joined(missing, ", no "),
           "without requests a member is scheduled onto a crowded node and starved or "
           "evicted first under pressure, and a starved member misses probes and looks "
           "dead to its peers",
           "set resources.requests.cpu, resources.requests.memory and "
           "resources.limits.memory (equal to the memory request) on the container"));
}

void check_pre_stop(const Workload& w, std::vector<Finding>& out) {
  const json& pre = object_at(object_at(w.container, "lifecycle"), "preStop");
  bool ok = false;
  for (const json& word : array_at(object_at(pre, "exec"), "command")) {
    ok =
        ok || (word.is_string() && word.get<std::string>().find("--pre-stop") != std::string::npos);
  }
  ok = ok || string_at(object_at(pre, "httpGet"), "path").find("/health/disruptable") !=
                 std::string::npos;
  if (ok) return;
  out.push_back(make(Severity::kWarning, "lifecycle.pre-stop", w.object(),
                     "container " + string_at(w.container, "name") +
                         " has no preStop hook waiting for /health/disruptable (--pre-stop)",
                     "a drain or rolling update can then stop a member while stopping it loses "
                     "the quorum; the hook waits until the others keep a majority",
                     "add lifecycle.preStop.exec.command [\"esk8s-node\", \"--pre-stop\", "
                     "\"--timeout\", \"60\"] (the binary of your image) and "
                     "terminationGracePeriodSeconds of at least 90"));
}

// ---- Service ----

void check_service(const Workload& w, const NamespaceObjects& ns, std::vector<Finding>& out) {
  const std::string svc = w.service_name();
  if (svc.empty()) {
    out.push_back(make(Severity::kError, "service.missing", w.object(), "spec.serviceName is empty",
                       "pods get their stable DNS identity <pod>.<service>.<namespace>.svc from "
                       "the governing headless Service, and esk8s names members by it",
                       "set spec.serviceName to the headless Service (recreate the StatefulSet: "
                       "the field is immutable)"));
    return;
  }
  const std::string configured = w.setting("ESK8S_SERVICE");
  if (!configured.empty() && configured != svc) {
    out.push_back(make(Severity::kError, "config.service-name", w.object(),
                       "ESK8S_SERVICE=" + configured + " (" + where_set(w, "ESK8S_SERVICE") +
                           ") but spec.serviceName is " + svc,
                       "esk8s watches the EndpointSlices of ESK8S_SERVICE and builds identities "
                       "from it, while the pods' DNS names come from spec.serviceName, so "
                       "members look for each other under names that do not resolve",
                       "set ESK8S_SERVICE=" + svc + " in " + where_set(w, "ESK8S_SERVICE")));
  }
  if (ns.unavailable.count("services")) return;
  const std::string object = "Service " + ns.name + "/" + svc;
  const json* s = find_named(ns.services, svc);
  if (s == nullptr) {
    out.push_back(make(Severity::kError, "service.missing", object,
                       "the headless Service " + svc + " named by " + w.object() +
                           " spec.serviceName does not exist",
                       "pods get their DNS identity and esk8s its EndpointSlices from this "
                       "Service, so members cannot find each other",
                       "apply a headless Service " + svc +
                           " (clusterIP: None, publishNotReadyAddresses: true, named ports), as in "
                           "examples/kubernetes/base/services.yaml"));
    return;
  }
  const json& spec = object_at(*s, "spec");
  if (string_at(spec, "clusterIP") != "None") {
    out.push_back(make(Severity::kError, "service.not-headless", object,
                       "spec.clusterIP is " +
                           (string_at(spec, "clusterIP").empty() ? std::string("unset")
                                                                 : string_at(spec, "clusterIP")) +
                           ", not None",
                       "only a headless Service gives each pod its own DNS name "
                       "<pod>.<service>.<namespace>.svc, which is the member's identity",
                       "recreate the Service with spec.clusterIP: None (the field is immutable: "
                       "kubectl -n " +
                           ns.name + " delete service " + svc + ", then apply)"));
  }
  if (!(spec.contains("publishNotReadyAddresses") && spec["publishNotReadyAddresses"] == true)) {
    out.push_back(make(Severity::kError, "service.publish-not-ready", object,
                       "spec.publishNotReadyAddresses is not true",
                       "DNS and EndpointSlices list only Ready pods, so members cannot find each "
                       "other to become Ready",
                       "kubectl -n " + ns.name + " patch service " + svc +
                           " -p '{\"spec\":{\"publishNotReadyAddresses\":true}}'"));
  }
  std::vector<std::string> unnamed;
  for (const json& p : array_at(spec, "ports")) {
    if (string_at(p, "name").empty()) {
      unnamed.push_back(p.contains("port") ? p["port"].dump() : "?");
    }
  }
  if (!unnamed.empty()) {
    out.push_back(make(Severity::kWarning, "service.port-names", object,
                       "port(s) " + joined(unnamed) + " have no name",
                       "esk8s reads the gossip port by its name (gossip) from the EndpointSlices "
                       "and falls back to the default 2114 otherwise",
                       "name the ports gossip and http, as in "
                       "examples/kubernetes/base/services.yaml"));
  }
  if (!service_selects(object_at(spec, "selector"), template_labels(w))) {
    out.push_back(make(Severity::kError, "service.selector", object,
                       "spec.selector " + object_at(spec, "selector").dump() +
                           " does not select the pod template's labels " +
                           template_labels(w).dump(),
                       "the Service's EndpointSlices then list no members, so discovery finds no "
                       "peers",
                       "make spec.selector a subset of the pod template's labels"));
  }
}

// ---- PodDisruptionBudget ----

// An IntOrString of a PDB as a pod count: "50%" of `replicas`, rounded up as the disruption
// controller does.
std::optional<int> pdb_count(const json& v, int replicas) {
  if (v.is_number_integer()) return v.get<int>();
  if (!v.is_string()) return std::nullopt;
  std::string s = v.get<std::string>();
  if (s.empty() || s.back() != '%') return parse_int(s);
  auto pct = parse_int(s.substr(0, s.size() - 1));
  if (!pct || *pct < 0 || *pct > 100) return std::nullopt;
  return static_cast<int>((int64_t{replicas} * *pct + 99) / 100);
}

// A PodDisruptionBudget selecting a workload's pods: how many of them it lets go at once
// (nullopt when its fields cannot be read).
struct Budget {
  std::string object, field;
  std::optional<int> down;
};

std::vector<Budget> budgets_of(const Workload& w, const NamespaceObjects& ns) {
  std::vector<Budget> out;
  const int replicas = w.replicas();
  for (const json& pdb : ns.pdbs) {
    const json& spec = object_at(pdb, "spec");
    if (!selector_matches(object_at(spec, "selector"), template_labels(w))) continue;
    Budget b{"PodDisruptionBudget " + ns.name + "/" + name_of(pdb), "", std::nullopt};
    auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    if (spec.contains("maxUnavailable")) {
      b.down = pdb_count(spec["maxUnavailable"], replicas);
      b.field = "maxUnavailable: " + text(spec["maxUnavailable"]);
    } else if (spec.contains("minAvailable")) {
      auto min = pdb_count(spec["minAvailable"], replicas);
      if (min) b.down = std::max(0, replicas - *min);
      b.field = "minAvailable: " + text(spec["minAvailable"]);
    }
    out.push_back(std::move(b));
  }
  return out;
}

// The budgets of one namespace against the size of the whole cluster: a majority of the
// cluster must survive whatever this namespace's budget allows.
void check_pdb(const Workload& w, const NamespaceObjects& ns, const Cluster& c,
               std::vector<Finding>& out) {
  if (ns.unavailable.count("poddisruptionbudgets")) return;
  const int replicas = w.replicas();
  int total = c.replicas();
  if (!c.unread.empty()) {
    // Members in namespaces the doctor could not read: ESK8S_CLUSTER_SIZE is the best count.
    if (auto size = parse_int(w.setting("ESK8S_CLUSTER_SIZE"))) total = std::max(total, *size);
  }
  const int minority = (total - 1) / 2;
  const std::vector<Budget> budgets = budgets_of(w, ns);
  for (const Budget& b : budgets) {
    if (!b.down) continue;
    const std::string lets = b.field + " lets " + std::to_string(*b.down) + " of " +
                             std::to_string(total) + " members be evicted";
    if (*b.down > minority && minority == 0) {
      out.push_back(make(Severity::kWarning, "pdb.no-spare-member", b.object,
                         lets + ", and a cluster of " + std::to_string(total) +
                             " has no member to spare",
                         "any eviction takes the cluster below its quorum; no budget makes it "
                         "safe, since maxUnavailable: 0 would block every drain instead",
                         "run at least 3 members (spec.replicas and ESK8S_CLUSTER_SIZE)"));
    } else if (*b.down > minority) {
      out.push_back(make(Severity::kError, "pdb.too-permissive", b.object, lets + " at once",
                         "voluntary disruptions (drains, upgrades) may then take down a majority "
                         "and the cluster loses its quorum",
                         "set maxUnavailable: " + std::to_string(minority) + " (or minAvailable: " +
                             std::to_string(std::max(0, replicas - minority)) + ")"));
    } else if (*b.down <= 0 && replicas > 0) {
      out.push_back(make(Severity::kWarning, "pdb.blocks-drains", b.object,
                         b.field + " allows no member to be evicted",
                         "node drains and cluster upgrades then block forever on these pods",
                         "set maxUnavailable: 1; the preStop hook already waits until stopping "
                         "a member keeps the quorum"));
    }
  }
  if (budgets.empty()) {
    out.push_back(make(Severity::kWarning, "pdb.missing", w.object(),
                       "no PodDisruptionBudget selects the StatefulSet's pods",
                       "without one a node drain or cluster upgrade may evict several members "
                       "at once and take the cluster below its quorum",
                       "apply a PodDisruptionBudget with maxUnavailable: 1 selecting the pod "
                       "labels (examples/kubernetes/base/pdb.yaml)"));
  }
}

// ---- RBAC ----

void check_permissions(const Workload& w, const PermissionReport& report,
                       std::vector<Finding>& out) {
  const std::string object = "ServiceAccount " + w.namespace_name + "/" + w.service_account();
  if (!report.skipped.empty()) {
    out.push_back(make(Severity::kWarning, "rbac.skipped", object,
                       "the permissions of " + report.user + " were not checked: " + report.skipped,
                       "the doctor asks the API server with SubjectAccessReviews, which its own "
                       "user may not create, so missing RBAC stays undetected here",
                       "run the doctor as a user allowed to create "
                       "subjectaccessreviews.authorization.k8s.io, or check by hand: kubectl auth "
                       "can-i list endpointslices.discovery.k8s.io --as " +
                           report.user));
    return;
  }
  for (const PermissionResult& r : report.results) {
    const PermissionNeed& n = r.need;
    const std::string resource = n.resource + (n.group.empty() ? "" : "." + n.group);
    const std::string where =
        n.namespace_name.empty() ? "cluster-wide" : "in namespace \"" + n.namespace_name + "\"";
    if (!r.error.empty()) {
      out.push_back(make(Severity::kWarning, "rbac.review-failed", object,
                         "could not check whether " + report.user + " may " + n.verb + " " +
                             resource + " " + where + ": " + r.error,
                         n.reason,
                         "re-run the doctor; check by hand with kubectl auth can-i " + n.verb +
                             " " + resource + " --as " + report.user));
      continue;
    }
    if (r.allowed) continue;
    if (n.optional) {
      out.push_back(make(Severity::kWarning, "rbac.events-missing", object,
                         report.user + " cannot " + n.verb + " " + resource + " " + where,
                         n.reason,
                         "apply " + n.rbac_file + " for ServiceAccount " + w.service_account() +
                             " of namespace " + w.namespace_name +
                             ", or set ESK8S_EVENTS=off to go without Events"));
      out.back().command = n.command;
      continue;
    }
    out.push_back(make(Severity::kError, "rbac.missing", object,
                       report.user + " cannot " + n.verb + " " + resource + " " + where, n.reason,
                       "apply " + n.rbac_file + " for ServiceAccount " + w.service_account() +
                           " of namespace " + w.namespace_name));
    out.back().command = n.command;
  }
}

// ---- TLS ----

struct SecretVolume {
  std::string volume, secret;
  bool optional = false;
};

std::vector<SecretVolume> secret_volumes(const Workload& w) {
  std::vector<SecretVolume> out;
  for (const json& v : array_at(w.pod_spec(), "volumes")) {
    const json& s = object_at(v, "secret");
    if (!string_at(s, "secretName").empty()) {
      out.push_back({string_at(v, "name"), string_at(s, "secretName"), bool_at(s, "optional")});
    }
    for (const json& src : array_at(object_at(v, "projected"), "sources")) {
      const json& ps = object_at(src, "secret");
      if (!string_at(ps, "name").empty()) {
        out.push_back({string_at(v, "name"), string_at(ps, "name"), bool_at(ps, "optional")});
      }
    }
  }
  return out;
}

bool is_loopback(const std::string& ip) { return ip == "::1" || ip.rfind("127.", 0) == 0; }

void check_leaf(const Workload& w, const std::string& object, const tls::CertInfo& c,
                const Clock::time_point now, std::vector<Finding>& out) {
  std::vector<std::string> ips;
  for (const std::string& ip : c.ip_addresses) {
    if (!is_loopback(ip)) ips.push_back(ip);
  }
  if (!ips.empty()) {
    out.push_back(make(Severity::kError, "tls.ip-san", object,
                       "tls.crt carries IP SAN(s) " + joined(ips),
                       "pod IPs change on every reschedule and are reused by other pods, so the "
                       "certificate vouches for whichever pod holds the address next; esk8s and "
                       "clients verify members by DNS name only",
                       "reissue the certificate with DNS SANs only, no ipAddresses (esk8s cert "
                       "create-node shows the right names)"));
  }
  const std::string svc = w.service_name();
  const std::string domain = w.setting("ESK8S_CLUSTER_DOMAIN", "cluster.local");
  const std::string suffix = svc + "." + w.namespace_name + ".svc." + domain;
  std::vector<std::string> missing, wildcard_only;
  // ESK8S_CLUSTER_SIZE allows at most 10000 members; more pods than that are not worth listing.
  for (int i = 0; i < std::min(w.replicas(), 10000); ++i) {
    const std::string identity = w.name + "-" + std::to_string(i) + "." + suffix;
    bool exact = false, wild = false;
    for (const std::string& d : c.dns_names) {
      if (d.rfind("*.", 0) == 0) {
        wild = wild || tls::matches_allow_pattern(identity, d);
      } else {
        exact = exact || tls::dns_name_equal(d, identity);
      }
    }
    if (!exact && wild) {
      wildcard_only.push_back(identity);
    } else if (!exact) {
      missing.push_back(identity);
    }
  }
  if (!missing.empty()) {
    out.push_back(make(Severity::kError, "tls.identity-san", object,
                       "tls.crt lacks the identity DNS SAN(s) " + joined(missing),
                       "a member's certificate must name its identity "
                       "<pod>.<service>.<namespace>.svc.<domain>: peers dial that name and refuse "
                       "a certificate without it, and the member refuses to start with it",
                       "reissue the certificate with a DNS SAN for every pod (" + w.name + "-N." +
                           suffix + "), e.g. with esk8s cert create-node"));
  }
  if (!wildcard_only.empty()) {
    out.push_back(
        make(Severity::kError, "tls.wildcard-identity", object,
             "tls.crt covers " + joined(wildcard_only) + " only by the wildcard *." + suffix,
             "esk8s never accepts a wildcard as a member identity (any holder could "
             "impersonate any member), so members refuse this certificate",
             "reissue the certificate with each pod's identity as its own DNS SAN"));
  }
  if (now >= c.not_after) {
    out.push_back(make(Severity::kError, "tls.expired", object,
                       "tls.crt expired at " + format_rfc3339(c.not_after, 0) + " (" +
                           describe_time_left(c.not_after - now) + ")",
                       "peers refuse an expired certificate, so the member cannot gossip",
                       "renew the certificate now (cert-manager: check the Certificate's "
                       "status; by hand: esk8s cert create-node)"));
  } else if (c.not_after - now < std::chrono::hours(24 * kLeafExpiryWarningDays)) {
    out.push_back(make(Severity::kWarning, "tls.expiring", object,
                       "tls.crt expires at " + format_rfc3339(c.not_after, 0) + " (" +
                           describe_time_left(c.not_after - now) + ")",
                       "when it expires peers refuse it and the member drops out of the cluster",
                       "renew the certificate before then (cert-manager renews at 2/3 of the "
                       "lifetime: check the Certificate's status)"));
  }
}

void check_ca(const std::string& object, const tls::CertInfo& c, const Clock::time_point now,
              std::vector<Finding>& out) {
  if (now >= c.not_after) {
    out.push_back(make(Severity::kError, "tls.ca-expired", object,
                       "the CA in ca.crt expired at " + format_rfc3339(c.not_after, 0),
                       "no member certificate it signs verifies, so members cannot gossip",
                       "create a new CA (esk8s cert create-ca), replace the Secret and restart "
                       "the pods"));
  } else if (c.not_after - now < std::chrono::hours(24 * kCaExpiryWarningDays)) {
    out.push_back(make(Severity::kWarning, "tls.ca-expiring", object,
                       "the CA in ca.crt expires at " + format_rfc3339(c.not_after, 0) + " (" +
                           describe_time_left(c.not_after - now) + ")",
                       "member certificates never outlive the CA, and when it expires every "
                       "member's certificate stops verifying at once",
                       "rotate the CA now: put old and new CA in the trust bundle, then switch "
                       "the signing CA (docs/OPERATIONS.md)"));
  }
}

void check_tls(const Workload& w, const NamespaceObjects& ns, const Clock::time_point now,
               std::vector<Finding>& out) {
  const std::string mode = w.setting("ESK8S_TLS_MODE", "local-ca");
  std::set<std::string> seen;
  for (const SecretVolume& v : secret_volumes(w)) {
    if (!seen.insert(v.secret).second) continue;
    const std::string object = "Secret " + ns.name + "/" + v.secret;
    if (ns.missing_secrets.count(v.secret)) {
      if (!v.optional) {
        out.push_back(make(Severity::kError, "volumes.secret-missing", object,
                           "Secret " + v.secret + " of volume " + v.volume + " does not exist",
                           "pods mounting a missing Secret fail with CreateContainerConfigError "
                           "and never start",
                           "create Secret " + v.secret + " in namespace " + ns.name +
                               " (for the local-ca CA: esk8s cert create-ca --out ca/, then "
                               "kubectl -n " +
                               ns.name + " create secret generic " + v.secret +
                               " --from-file=ca/ca.crt --from-file=ca/ca.key; the same CA in "
                               "every namespace of the cluster)"));
      }
      continue;
    }
    if (auto err = ns.secret_errors.find(v.secret); err != ns.secret_errors.end()) {
      out.push_back(make(Severity::kInfo, "tls.secret-unreadable", object,
                         "Secret " + v.secret + " not checked: " + err->second,
                         "certificates in it may be expired or name the wrong members",
                         "run the doctor as a user who may get secrets in namespace " + ns.name));
      continue;
    }
    auto it = ns.secrets.find(v.secret);
    if (it == ns.secrets.end()) continue;
    const json& data = object_at(it->second, "data");
    auto decoded = [&](const char* key) -> std::optional<std::string> {
      std::string b64 = string_at(data, key);
      if (b64.empty()) return std::nullopt;
      return esk8s::base64_decode(b64);
    };
    if (mode == "files") {
      if (auto crt = decoded("tls.crt")) {
        auto info = tls::inspect_cert(*crt);
        if (!info) {
          out.push_back(make(Severity::kError, "tls.certificate-unparsable", object,
                             "tls.crt is not a PEM certificate: " + info.status().message(),
                             "ESK8S_TLS_MODE=files reads the member certificate from it, so the "
                             "member cannot start",
                             "put the PEM certificate chain into tls.crt"));
        } else if (info->is_ca) {
          check_ca(object, info.value(), now, out);  // a CA handed out as tls.crt (cert-manager)
        } else {
          check_leaf(w, object, info.value(), now, out);
        }
      }
    }
    if (data.contains("ca.key")) {
      if (auto ca = decoded("ca.crt")) {
        auto info = tls::inspect_cert(*ca);
        if (!info) {
          out.push_back(make(Severity::kError, "tls.certificate-unparsable", object,
                             "ca.crt is not a PEM certificate: " + info.status().message(),
                             "ESK8S_TLS_MODE=local-ca signs member certificates with this CA, "
                             "so members cannot start",
                             "recreate the Secret from esk8s cert create-ca's output"));
        } else {
          check_ca(object, info.value(), now, out);
        }
      }
    }
  }
}

// ---- live state ----

void check_endpoints(const Workload& w, const NamespaceObjects& ns, std::vector<Finding>& out) {
  const std::string svc = w.service_name();
  if (svc.empty() || find_named(ns.services, svc) == nullptr ||
      ns.unavailable.count("endpointslices")) {
    return;
  }
  std::vector<std::string> not_ready;
  size_t total = 0;
  for (const json& s : ns.endpointslices) {
    if (string_at(object_at(object_at(s, "metadata"), "labels"), "kubernetes.io/service-name") !=
        svc) {
      continue;
    }
    for (const json& e : array_at(s, "endpoints")) {
      const json& cond = object_at(e, "conditions");
      if (bool_at(cond, "terminating")) continue;
      ++total;
      if (cond.contains("ready") && cond["ready"] == false) {
        std::string who = string_at(object_at(e, "targetRef"), "name");
        if (who.empty()) who = string_at(e, "hostname");
        if (who.empty() && !array_at(e, "addresses").empty()) who = e["addresses"][0].dump();
        not_ready.push_back(who);
      }
    }
  }
  const std::string object = "Service " + ns.name + "/" + svc;
  if (total == 0 && w.replicas() > 0 && !owned_pods(w, ns).empty()) {
    out.push_back(make(Severity::kWarning, "endpoints.none", object,
                       "the Service's EndpointSlices list no endpoints although pods exist",
                       "discovery reads the members from these EndpointSlices, so no member "
                       "finds a peer",
                       "check that the Service's selector matches the pod labels and that "
                       "publishNotReadyAddresses is true"));
  }
  if (!not_ready.empty()) {
    std::sort(not_ready.begin(), not_ready.end());
    out.push_back(make(Severity::kWarning, "endpoints.not-ready", object,
                       std::to_string(not_ready.size()) + " of " + std::to_string(total) +
                           " endpoint(s) are not Ready: " + joined(not_ready),
                       "a member that is not Ready gets no client traffic and holds up rolling "
                       "updates and drains",
                       "kubectl -n " + ns.name + " describe pod " + not_ready.front() +
                           " and read its /health/ready answer (port http)"));
  }
}

// A member the scheduler cannot place: the pod's PodScheduled condition is False (reason
// Unschedulable, or whatever the scheduler wrote) while the pod is Pending. The message quotes
// the scheduler, and the fix follows what it names.
std::string unschedulable_fix(const Workload& w, const Cluster& c, const std::string& pod,
                              const std::string& message) {
  const std::string scale = "kubectl -n " + w.namespace_name + " scale statefulset " + w.name;
  if (message.find("anti-affinity") != std::string::npos) {
    return "add a node for it (required anti-affinity on kubernetes.io/hostname gives every member "
           "a node of its own), or reduce spec.replicas to what the nodes can hold (" +
           scale + " --replicas=N with N odd, and ESK8S_CLUSTER_SIZE equal to the members), or "
           "relax the anti-affinity to preferredDuringScheduling (then two members may share a "
           "node, and losing it costs two votes)";
  }
  if (message.find("were unschedulable") != std::string::npos) {
    return "uncordon the nodes once their maintenance is over (kubectl uncordon NODE) or add a "
           "node; the member is scheduled as soon as a node accepts it";
  }
  if (message.find("Insufficient") != std::string::npos) {
    return "add nodes or capacity, or lower the container's resources.requests if they are larger "
           "than a member needs";
  }
  return "kubectl -n " + w.namespace_name + " describe pod " + pod +
         " shows the scheduler's events; give it the nodes or capacity they name, or reduce "
         "spec.replicas (" +
         describe_members(c) + ")";
}

void check_unschedulable(const Workload& w, const Cluster& c, const NamespaceObjects& ns,
                         std::vector<Finding>& out) {
  for (const json* p : owned_pods(w, ns)) {
    const json& status = object_at(*p, "status");
    const std::string phase = string_at(status, "phase");
    if (!phase.empty() && phase != "Pending") continue;
    for (const json& cond : array_at(status, "conditions")) {
      if (string_at(cond, "type") != "PodScheduled" || string_at(cond, "status") != "False") {
        continue;
      }
      const std::string pod = name_of(*p);
      const std::string reason = string_at(cond, "reason");
      const std::string said = string_at(cond, "message");
      out.push_back(make(
          Severity::kError, "pods.unschedulable", "Pod " + ns.name + "/" + pod,
          "pod " + pod + " is Pending: the scheduler cannot place it (" +
              escape_untrusted(reason.empty() ? "no reason given" : reason, 64) + ")" +
              (said.empty() ? "" : ": " + escape_untrusted(said, kMaxSchedulerMessage)),
          "a member that is never scheduled never runs: the cluster has fewer members than the " +
              std::to_string(c.replicas()) +
              " it was sized for, so it survives fewer failures, and with a majority unscheduled "
              "it has no quorum at all",
          unschedulable_fix(w, c, pod, said)));
      break;
    }
  }
}

struct MemberView {
  std::string ns, pod;
  std::set<std::string> alive;  // identities in state alive or suspect (gossip's "live")
};

// "esdb-0" from esdb-0.esdb.esdb-a.svc.cluster.local; "esdb-a/esdb-0" when the cluster spans
// namespaces.
std::string short_name(const Cluster& c, const std::string& identity) {
  const size_t first = identity.find('.');
  const std::string pod = identity.substr(0, first);
  if (!c.multi_namespace() || first == std::string::npos) return pod;
  const size_t second = identity.find('.', first + 1);
  if (second == std::string::npos) return pod;
  return identity.substr(second + 1, identity.find('.', second + 1) - second - 1) + "/" + pod;
}

std::string describe_set(const Cluster& c, const std::set<std::string>& s) {
  std::vector<std::string> names;
  for (const auto& i : s) names.push_back(short_name(c, i));
  std::sort(names.begin(), names.end());
  return "{" + joined(names) + "}";
}

// The workload of the cluster that runs `pod` in `ns`.
const Workload* workload_of(const Cluster& c, const std::string& ns, const std::string& pod) {
  for (const Workload& w : c.workloads) {
    if (w.namespace_name == ns && pod.rfind(w.name + "-", 0) == 0) return &w;
  }
  return nullptr;
}

// The views of the members the doctor could read; unreadable answers become findings.
std::vector<MemberView> member_views(const Cluster& c, std::vector<Finding>& out) {
  std::vector<MemberView> views;
  for (const MemberFetch& f : c.members) {
    if (!f.reachable) continue;
    json body = f.body.size() <= discovery::kMaxObjectBytes ? json::parse(f.body, nullptr, false)
                                                            : json(json::value_t::discarded);
    if (f.status != 200 || !body.is_object() || !body.contains("members") ||
        !body["members"].is_array()) {
      out.push_back(make(
          Severity::kWarning, "members.bad-answer",
          "Pod " + f.target.namespace_name + "/" + f.target.pod,
          f.target.url + " answered HTTP " + std::to_string(f.status) + " without a members list",
          "the doctor cannot see this member's view of the cluster",
          "check that ESK8S_HTTP_PORT is the port esk8s serves /members on"));
      continue;
    }
    MemberView v{f.target.namespace_name, f.target.pod, {}};
    for (const json& m : body["members"]) {
      std::string state = string_at(m, "state");
      if (state == "alive" || state == "suspect") v.alive.insert(string_at(m, "identity"));
    }
    views.push_back(std::move(v));
  }
  return views;
}

// The size a member counts its quorum against: its ESK8S_CLUSTER_SIZE, else (unset: esk8s takes
// its own StatefulSet's replicas) the cluster's members in all, which is what it should be.
int quorum_size(const Cluster& c, const Workload* w) {
  if (w != nullptr) {
    if (auto configured = parse_int(w->setting("ESK8S_CLUSTER_SIZE"))) return *configured;
  }
  return c.replicas();
}

void check_members(const Cluster& c, std::vector<Finding>& out) {
  std::vector<std::string> unreachable;
  std::string first_error;
  for (const MemberFetch& f : c.members) {
    if (f.reachable) continue;
    unreachable.push_back(pod_label(c, f.target.namespace_name, f.target.pod));
    if (first_error.empty()) first_error = f.error;
  }
  const std::vector<MemberView> views = member_views(c, out);
  if (!unreachable.empty()) {
    out.push_back(make(Severity::kInfo, "members.unreachable", c.object(),
                       "live checks skipped for " + joined(unreachable) +
                           ": not reachable from here (" + first_error + ")",
                       "the doctor compares the members' own /members views only when it can "
                       "reach the pods' HTTP port",
                       "run doctor in the cluster (a pod that can reach port " +
                           c.workloads.front().setting("ESK8S_HTTP_PORT",
                                                       std::to_string(kDefaultHttpPort)) +
                           " of the members) for the live checks"));
  }
  for (const MemberView& v : views) {
    const int size = quorum_size(c, workload_of(c, v.ns, v.pod));
    if (size <= 0) continue;
    gossip::QuorumView q{static_cast<uint32_t>(size), 0};
    if (v.alive.size() >= q.needed()) continue;
    out.push_back(make(Severity::kError, "members.no-quorum", "Pod " + v.ns + "/" + v.pod,
                       v.pod + " sees " + std::to_string(v.alive.size()) + " of " +
                           std::to_string(size) + " members alive " + describe_set(c, v.alive) +
                           ", fewer than the quorum of " + std::to_string(q.needed()),
                       "a member without a quorum in its view is not Ready and cannot take part "
                       "in the cluster",
                       "check that the gossip port (2114) is open between the pods "
                       "(NetworkPolicies), that the certificates verify (esk8s cert inspect) and "
                       "that discovery finds the peers (esk8s discover)"));
  }
  bool disagree = false;
  for (const MemberView& v : views) disagree = disagree || v.alive != views.front().alive;
  if (disagree) {
    std::vector<std::string> parts;
    for (const MemberView& v : views) {
      parts.push_back(pod_label(c, v.ns, v.pod) + " sees " + describe_set(c, v.alive));
    }
    out.push_back(make(Severity::kWarning, "members.views-disagree", c.object(),
                       "the members disagree on who is alive: " + joined(parts, "; "),
                       "members that disagree count different quorums; a partition, a blocked "
                       "gossip port or a certificate one side refuses is the usual cause",
                       "re-run in a few seconds; if it persists, check NetworkPolicies and the "
                       "gossip port between the pods named, and the members' logs for TLS "
                       "refusals"));
  }
}

// ---- the cluster as a whole ----

// Members of one cluster must watch each other's namespaces, and the namespaces they watch must
// hold members and be readable for the doctor to judge the cluster.
void check_peer_namespaces(const Cluster& c,
                           const std::map<std::string, NamespaceObjects>& namespaces,
                           std::vector<Finding>& out) {
  for (const std::string& ns : c.namespaces) {
    auto unread = c.unread.find(ns);
    if (unread != c.unread.end()) {
      out.push_back(make(Severity::kWarning, "cluster.namespace-unread", "Namespace " + ns,
                         "members watch namespace " + ns + " (ESK8S_PEER_NAMESPACES), which the "
                                                           "doctor could not read: " +
                             unread->second,
                         "the members there are unknown to the doctor, so the cluster's size, "
                         "budgets and views were judged without them",
                         "run the doctor as a user who may list statefulsets, pods and "
                         "configmaps in namespace " +
                             ns));
    }
  }
  for (const Workload& w : c.workloads) {
    const std::vector<std::string> watched = watched_namespaces(w);
    std::set<std::string> reported;
    for (const Workload& v : c.workloads) {
      const std::string& other = v.namespace_name;
      if (std::find(watched.begin(), watched.end(), other) != watched.end() ||
          !reported.insert(other).second) {
        continue;
      }
      out.push_back(make(
          Severity::kError, "cluster.peer-namespaces", w.object(),
          "the members of " + w.object() + " do not watch namespace " + other + ", where " +
              v.object() + " runs members of the same cluster (ESK8S_PEER_NAMESPACES is \"" +
              w.setting("ESK8S_PEER_NAMESPACES") + "\")",
          "a member discovers only the namespaces it watches and by default admits only their "
          "members as gossip peers (ESK8S_ALLOWED_PEERS), so the two sides do not form one "
          "cluster",
          "add " + other + " to ESK8S_PEER_NAMESPACES in " +
              where_set(w, "ESK8S_PEER_NAMESPACES") + " and restart the pods"));
    }
    for (size_t i = 1; i < watched.size(); ++i) {
      const std::string& peer = watched[i];
      if (c.unread.count(peer) || !namespaces.count(peer)) continue;
      if (std::any_of(c.workloads.begin(), c.workloads.end(),
                      [&](const Workload& v) { return v.namespace_name == peer; })) {
        continue;
      }
      out.push_back(make(Severity::kWarning, "cluster.peer-namespace-empty", w.object(),
                         "ESK8S_PEER_NAMESPACES names namespace " + peer +
                             ", which runs no esk8s StatefulSet of Service " + service_of(w),
                         "the members watch it for nothing, and members meant to run there are "
                         "missing from the cluster's quorum",
                         "deploy the members of " + peer + ", or remove " + peer +
                             " from ESK8S_PEER_NAMESPACES in " +
                             where_set(w, "ESK8S_PEER_NAMESPACES")));
    }
  }
}

// Gossip refuses messages carrying another cluster name, and the default differs per namespace.
void check_cluster_name(const Cluster& c, std::vector<Finding>& out) {
  if (c.workloads.size() < 2) return;
  std::vector<std::string> parts, where;
  std::set<std::string> names;
  std::string suggested;  // the first name set explicitly, else the first workload's
  bool explicit_name = false;
  for (const Workload& w : c.workloads) {
    auto it = w.settings.find("ESK8S_CLUSTER_NAME");
    if (it != w.settings.end() && !it->second) return;  // from a Secret: not knowable
    const std::string name =
        w.setting("ESK8S_CLUSTER_NAME",
                  service_of(w) + "." + w.setting("ESK8S_NAMESPACE", w.namespace_name));
    names.insert(name);
    if (suggested.empty() || (w.has_setting("ESK8S_CLUSTER_NAME") && !explicit_name)) {
      suggested = name;
      explicit_name = w.has_setting("ESK8S_CLUSTER_NAME");
    }
    parts.push_back(w.namespace_name + "/" + w.name + ": " + name);
    where.push_back(where_set(w, "ESK8S_CLUSTER_NAME"));
  }
  if (names.size() < 2) return;
  out.push_back(make(Severity::kError, "cluster.name-mismatch", c.object(),
                     "the members' cluster names differ: " + joined(parts) +
                         " (unset, ESK8S_CLUSTER_NAME is <service>.<namespace>)",
                     "gossip refuses messages carrying another cluster name, so each namespace "
                     "forms a cluster of its own, each counting a quorum of ESK8S_CLUSTER_SIZE",
                     "set ESK8S_CLUSTER_NAME to one value (e.g. " +
                         suggested + ") in " + joined(where) + " and restart the pods"));
}

// Every member's ESK8S_CLUSTER_SIZE against the members of all StatefulSets of the cluster.
void check_size(const Cluster& c, const std::map<std::string, NamespaceObjects>& namespaces,
                std::vector<Finding>& out) {
  const int total = c.replicas();
  // The members that exist: a fix never names a smaller size (a size below them lets two halves
  // each count a quorum).
  size_t exist = static_cast<size_t>(std::max(total, 0));
  size_t pods = 0;
  std::set<std::string> alive;
  for (const Workload& w : c.workloads) {
    if (auto ns = namespaces.find(w.namespace_name); ns != namespaces.end()) {
      pods += owned_pods(w, ns->second).size();
    }
  }
  std::vector<Finding> ignored;
  for (const MemberView& v : member_views(c, ignored)) alive.insert(v.alive.begin(), v.alive.end());
  exist = std::max({exist, pods, alive.size()});
  const std::string floor = std::to_string(exist);

  if (total > 0 && total % 2 == 0) {
    gossip::QuorumView q{static_cast<uint32_t>(total), 0};
    out.push_back(make(Severity::kWarning, "replicas.even", c.object(),
                       (c.workloads.size() == 1 ? "replicas is " + std::to_string(total)
                                                : describe_members(c)) +
                           ", an even number",
                       "a majority of " + std::to_string(total) + " is " +
                           std::to_string(q.needed()) + ", so it tolerates " +
                           std::to_string(total - static_cast<int>(q.needed())) +
                           " failure(s), no more than " + std::to_string(total - 1) +
                           " members would, and a clean split in half leaves no side a quorum",
                       c.workloads.size() == 1
                           ? "use an odd number of replicas (3 or 5) and set ESK8S_CLUSTER_SIZE "
                             "to it"
                           : "use an odd number of members in all (3 or 5) and set "
                             "ESK8S_CLUSTER_SIZE to it in every namespace"));
  }
  const std::string every = c.workloads.size() == 1 ? "" : " (the same in every namespace)";
  const std::string why =
      "quorum is a majority of ESK8S_CLUSTER_SIZE: with more members than that two halves can "
      "each count a quorum (split brain), with fewer the cluster tolerates fewer failures or "
      "never reaches a quorum";
  for (const Workload& w : c.workloads) {
    auto it = w.settings.find("ESK8S_CLUSTER_SIZE");
    if (it != w.settings.end() && !it->second) continue;  // from a Secret: not knowable
    const std::string src = where_set(w, "ESK8S_CLUSTER_SIZE");
    if (!w.has_setting("ESK8S_CLUSTER_SIZE")) {
      if (c.workloads.size() == 1 || w.replicas() == total) continue;
      out.push_back(make(Severity::kError, "replicas.cluster-size", w.object(),
                         "ESK8S_CLUSTER_SIZE is unset, so the members of " + w.object() +
                             " count a quorum of its own spec.replicas (" +
                             std::to_string(w.replicas()) + "), but " + describe_members(c),
                         why,
                         "set ESK8S_CLUSTER_SIZE=\"" + floor + "\" in the ConfigMap of " +
                             w.object() + "'s envFrom" + every + " and restart the pods"));
      continue;
    }
    const std::string text = w.setting("ESK8S_CLUSTER_SIZE");
    auto size = parse_int(text);
    if (size && *size == total) continue;
    if (size && *size > total && !c.unread.empty()) continue;  // members may be in those
    std::string fix = "set ESK8S_CLUSTER_SIZE=\"" + floor + "\" in " + src + every +
                      (c.workloads.size() == 1 ? " (or remove it: esk8s then follows "
                                                 "spec.replicas)"
                                               : "") +
                      " and restart the pods";
    if (size && *size >= static_cast<int>(exist)) {
      // More than exist: scaling up is the fix; a smaller size only when fewer are meant, and
      // never the value it already has.
      const std::string scale = "scale the StatefulSet" +
                                std::string(c.workloads.size() == 1 ? "" : "s") + " up to " +
                                text + " members in all";
      fix = *size == static_cast<int>(exist)
                ? scale
                : scale + ", or, if the cluster is meant to have " + floor + ", " + fix;
    }
    out.push_back(make(Severity::kError, "replicas.cluster-size", w.object(),
                       "ESK8S_CLUSTER_SIZE=" + text + " (" + src + ") but " + describe_members(c),
                       why, fix));
  }
}

// A PodDisruptionBudget counts only its own namespace: the budgets of several namespaces may
// together let a majority go.
void check_budgets_across(const Cluster& c,
                          const std::map<std::string, NamespaceObjects>& namespaces,
                          std::vector<Finding>& out) {
  if (!c.multi_namespace()) return;
  const int minority = (c.replicas() - 1) / 2;
  int sum = 0;
  std::vector<std::string> parts;
  for (const Workload& w : c.workloads) {
    auto ns = namespaces.find(w.namespace_name);
    if (ns == namespaces.end() || ns->second.unavailable.count("poddisruptionbudgets")) return;
    int allowed = w.replicas();  // no budget: every pod may go
    for (const Budget& b : budgets_of(w, ns->second)) {
      if (b.down) allowed = std::min(allowed, std::max(0, *b.down));
    }
    sum += allowed;
    parts.push_back(w.namespace_name + ": " + std::to_string(allowed));
  }
  if (sum <= minority) return;
  out.push_back(make(Severity::kWarning, "pdb.spans-namespaces", c.object(),
                     "the disruption budgets of the namespaces (" + joined(parts) +
                         ") together let " + std::to_string(sum) + " of " +
                         std::to_string(c.replicas()) +
                         " members be evicted at once, more than the " + std::to_string(minority) +
                         " the cluster can spare",
                     "a PodDisruptionBudget counts only the pods of its own namespace, so drains "
                     "in two namespaces at the same time are each allowed, and only the preStop "
                     "hook's /health/disruptable stands between them and a lost quorum",
                     "drain the nodes of one namespace at a time, and keep the preStop hook "
                     "(--pre-stop) on every member"));
}

// Two members of the cluster on one node, whichever namespaces they are in.
void check_same_node(const Cluster& c, const std::map<std::string, NamespaceObjects>& namespaces,
                     std::vector<Finding>& out) {
  std::map<std::string, std::vector<std::string>> by_node;
  for (const Workload& w : c.workloads) {
    auto ns = namespaces.find(w.namespace_name);
    if (ns == namespaces.end()) continue;
    for (const json* p : owned_pods(w, ns->second)) {
      std::string node = string_at(object_at(*p, "spec"), "nodeName");
      if (!node.empty()) by_node[node].push_back(pod_label(c, w.namespace_name, name_of(*p)));
    }
  }
  for (const auto& [node, pods] : by_node) {
    if (pods.size() < 2) continue;
    out.push_back(make(Severity::kError, "placement.same-node", c.object(),
                       "pods " + joined(pods) + " all run on node " + node,
                       "losing node " + node + " costs " + std::to_string(pods.size()) +
                           " votes at once, which can take the cluster below its quorum",
                       "add the required anti-affinity on kubernetes.io/hostname, then delete "
                       "all but one of these pods one at a time so they are rescheduled on "
                       "other nodes"));
  }
}

}  // namespace

std::vector<Workload> find_workloads(const NamespaceObjects& ns) {
  std::vector<Workload> out;
  for (const json& sts : ns.statefulsets) {
    Workload w;
    w.namespace_name = ns.name;
    w.name = name_of(sts);
    w.statefulset = sts;
    for (const json& c : array_at(w.pod_spec(), "containers")) {
      std::map<std::string, std::optional<std::string>> settings;
      std::map<std::string, std::string> sources;
      std::vector<std::string> missing;
      const std::string container_env = "the env of container " + string_at(c, "name");
      for (const json& from : array_at(c, "envFrom")) {
        const json& ref = object_at(from, "configMapRef");
        const std::string cm_name = string_at(ref, "name");
        if (cm_name.empty()) continue;
        const json* cm = find_named(ns.configmaps, cm_name);
        if (cm == nullptr) {
          if (!bool_at(ref, "optional")) missing.push_back(cm_name);
          continue;
        }
        const std::string prefix = string_at(from, "prefix");
        for (const auto& [k, v] : object_at(*cm, "data").items()) {
          const std::string key = prefix + k;
          if (key.rfind(kEsk8sPrefix, 0) != 0) continue;
          settings[key] = v.is_string() ? v.get<std::string>() : "";
          sources[key] = "ConfigMap " + ns.name + "/" + cm_name;
        }
      }
      for (const json& e : array_at(c, "env")) {
        const std::string key = string_at(e, "name");
        if (key.rfind(kEsk8sPrefix, 0) != 0) continue;
        sources[key] = container_env;
        if (e.contains("value")) {
          settings[key] = string_at(e, "value");
          continue;
        }
        const json& cm_ref = object_at(object_at(e, "valueFrom"), "configMapKeyRef");
        const json* cm = find_named(ns.configmaps, string_at(cm_ref, "name"));
        if (cm != nullptr && object_at(*cm, "data").contains(string_at(cm_ref, "key"))) {
          settings[key] = string_at(object_at(*cm, "data"), string_at(cm_ref, "key").c_str());
          sources[key] = "ConfigMap " + ns.name + "/" + string_at(cm_ref, "name");
        } else {
          settings[key] =
              e.contains("valueFrom") ? std::nullopt : std::optional<std::string>(std::string());
        }
      }
      if (settings.empty()) continue;
      w.container = c;
      w.settings = std::move(settings);
      w.setting_sources = std::move(sources);
      w.missing_configmaps = std::move(missing);
      out.push_back(std::move(w));
      break;
    }
  }
  return out;
}

Finding no_workload_finding(const NamespaceObjects& ns) {
  return make(Severity::kError, "workload.none", "Namespace " + ns.name,
              "no StatefulSet in namespace " + ns.name +
                  " runs esk8s (a container with ESK8S_* settings in env or an envFrom "
                  "ConfigMap)",
              "there is nothing for the doctor to check here, and if the members run elsewhere "
              "(a Deployment, another namespace) they get no stable identities",
              "pass the members' namespace with --namespace, or deploy them as a StatefulSet "
              "(examples/kubernetes/)");
}

std::vector<std::string> referenced_secrets(const Workload& w) {
  std::vector<std::string> out;
  for (const SecretVolume& v : secret_volumes(w)) {
    if (std::find(out.begin(), out.end(), v.secret) == out.end()) out.push_back(v.secret);
  }
  return out;
}

std::vector<std::string> watched_namespaces(const Workload& w) {
  std::vector<std::string> out = {w.setting("ESK8S_NAMESPACE", w.namespace_name)};
  for (const std::string& ns : split_list(w.setting("ESK8S_PEER_NAMESPACES"))) {
    if (std::find(out.begin(), out.end(), ns) == out.end()) out.push_back(ns);
  }
  return out;
}

std::vector<Cluster> assemble_clusters(const std::vector<Workload>& workloads,
                                       const std::map<std::string, std::string>& unreadable) {
  const size_t n = workloads.size();
  std::vector<size_t> group(n);
  for (size_t i = 0; i < n; ++i) group[i] = i;
  auto root = [&](size_t i) {
    while (group[i] != i) i = group[i] = group[group[i]];
    return i;
  };
  auto watches = [&](size_t i, size_t j) {
    const auto ns = watched_namespaces(workloads[i]);
    return std::find(ns.begin(), ns.end(), workloads[j].namespace_name) != ns.end();
  };
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      if (service_of(workloads[i]) == service_of(workloads[j]) &&
          (watches(i, j) || watches(j, i))) {
        group[root(j)] = root(i);
      }
    }
  }
  std::map<size_t, Cluster> by_root;
  for (size_t i = 0; i < n; ++i) by_root[root(i)].workloads.push_back(workloads[i]);
  std::vector<Cluster> out;
  for (auto& [r, c] : by_root) {
    std::sort(c.workloads.begin(), c.workloads.end(), [](const Workload& a, const Workload& b) {
      return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
    });
    std::set<std::string> all;
    for (const Workload& w : c.workloads) {
      all.insert(w.namespace_name);
      for (const std::string& ns : watched_namespaces(w)) all.insert(ns);
    }
    c.namespaces.assign(all.begin(), all.end());
    for (const std::string& ns : c.namespaces) {
      if (auto why = unreadable.find(ns); why != unreadable.end()) c.unread[ns] = why->second;
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const Cluster& a, const Cluster& b) {
    const Workload &x = a.workloads.front(), &y = b.workloads.front();
    return std::tie(x.namespace_name, x.name) < std::tie(y.namespace_name, y.name);
  });
  return out;
}

namespace {

// Applies rbac/role.yaml (ServiceAccount esdb, Role and RoleBinding esk8s-discovery) to `ns` for
// service account `sa`; "" when a name could not stand in a shell command.
std::string role_command(const std::string& ns, const std::string& sa) {
  if (!shell_safe(ns) || !shell_safe(sa)) return "";
  return "sed -e 's/NAMESPACE/" + ns + "/g'" +
         (sa == "esdb" ? "" : " -e 's/name: esdb$/name: " + sa + "/'") +
         " rbac/role.yaml | kubectl apply -f -";
}

// Applies the esk8s-discovery ClusterRole and the RoleBinding esk8s-discovery-from-MEMBER in
// `peer` for the service account `sa` of namespace `member`.
std::string peer_binding_command(const std::string& peer, const std::string& member,
                                 const std::string& sa) {
  if (!shell_safe(peer) || !shell_safe(member) || !shell_safe(sa)) return "";
  return "kubectl apply -f rbac/clusterrole.yaml && sed -e 's/PEER_NAMESPACE/" + peer +
         "/g' -e 's/MEMBER_NAMESPACE/" + member + "/g' -e 's/SERVICE_ACCOUNT/" + sa +
         "/g' rbac/rolebinding-per-namespace.yaml | kubectl apply -f -";
}

// Applies rbac/csr.yaml (ClusterRole esk8s-csr, ClusterRoleBinding esk8s-csr-NAMESPACE).
std::string csr_command(const std::string& ns, const std::string& sa) {
  if (!shell_safe(ns) || !shell_safe(sa)) return "";
  return "sed -e 's/SERVICE_ACCOUNT/" + sa + "/g' -e 's/NAMESPACE/" + ns +
         "/g' rbac/csr.yaml | kubectl apply -f -";
}

// Applies rbac/disruption-lease.yaml (Role esk8s-disruption-lease in the Lease's namespace and
// the RoleBinding esk8s-disruption-lease-from-MEMBER) for service account `sa` of `member`.
std::string lease_command(const std::string& lease_ns, const std::string& lease,
                          const std::string& member, const std::string& sa) {
  if (!shell_safe(lease_ns) || !shell_safe(lease) || !shell_safe(member) || !shell_safe(sa)) {
    return "";
  }
  return "sed -e 's/LEASE_NAMESPACE/" + lease_ns + "/g' -e 's/LEASE_NAME/" + lease +
         "/g' -e 's/MEMBER_NAMESPACE/" + member + "/g' -e 's/SERVICE_ACCOUNT/" + sa +
         "/g' rbac/disruption-lease.yaml | kubectl apply -f -";
}

}  // namespace

kube::PermissionNeeds permission_needs_of(const Workload& w) {
  kube::PermissionNeeds n;
  const std::vector<std::string> namespaces = watched_namespaces(w);
  n.own_namespace = namespaces.front();
  const bool kubernetes = w.setting("ESK8S_DISCOVERY", "kubernetes") == "kubernetes";
  if (kubernetes) n.discovery_namespaces = namespaces;
  n.own_workload = kubernetes && (w.setting("ESK8S_READY_MODE", "auto") == "auto" ||
                                  !w.has_setting("ESK8S_CLUSTER_SIZE"));
  n.csr = w.setting("ESK8S_TLS_MODE", "local-ca") == "kubernetes-csr";
  n.events = kubernetes && w.setting("ESK8S_EVENTS", "on") != "off";
  const std::string lease = w.setting("ESK8S_DISRUPTION_LEASE", "off");
  if (const size_t slash = lease.find('/'); lease != "off" && slash != std::string::npos) {
    n.lease_namespace = lease.substr(0, slash);
    n.lease_name = lease.substr(slash + 1);
  }
  return n;
}

std::vector<PermissionNeed> needed_permissions(const Workload& w) {
  const kube::PermissionNeeds needs = permission_needs_of(w);
  const std::string sa = w.service_account();
  std::vector<PermissionNeed> out;
  for (const kube::Permission& p : kube::required_permissions(needs)) {
    PermissionNeed n{p.verb, p.group, p.resource, p.namespace_name, p.rbac_file, "", "",
                     p.optional, p.name};
    switch (p.purpose) {
      case kube::PermissionPurpose::kDiscovery:
        n.reason =
            "discovery finds the members in the EndpointSlices of the headless Service; without "
            "them no member finds a peer";
        n.command = role_command(w.namespace_name, sa);
        break;
      case kube::PermissionPurpose::kPeerDiscovery:
        n.rbac_file = p.rbac_file + " (RoleBinding esk8s-discovery-from-" + w.namespace_name +
                      " in namespace " + p.namespace_name + ")";
        n.reason = "discovery finds the members of peer namespace " + p.namespace_name +
                   " in its EndpointSlices; without them they stay invisible";
        n.command = peer_binding_command(p.namespace_name, w.namespace_name, sa);
        break;
      case kube::PermissionPurpose::kOwnWorkload:
        n.reason =
            "esk8s reads the pod and its StatefulSet for ESK8S_READY_MODE=auto and the default "
            "ESK8S_CLUSTER_SIZE; without them readiness stays on bootstrap-latch and the cluster "
            "size cannot follow spec.replicas";
        n.command = role_command(w.namespace_name, sa);
        break;
      case kube::PermissionPurpose::kCsr:
        n.reason =
            "ESK8S_TLS_MODE=kubernetes-csr requests each member's certificate with a "
            "CertificateSigningRequest; without it no member gets a certificate";
        n.command = csr_command(w.namespace_name, sa);
        break;
      case kube::PermissionPurpose::kEvents:
        n.reason =
            "each member writes Kubernetes Events about what it saw (a member died, quorum lost, "
            "...) on its own pod, for kubectl describe pod; without it they are missing and the "
            "member logs it once, nothing else breaks";
        n.command = role_command(w.namespace_name, sa);
        break;
      case kube::PermissionPurpose::kDisruptionLease:
        n.reason = "the disruption guard (ESK8S_DISRUPTION_LEASE) takes the Lease " +
                   p.namespace_name + "/" + needs.lease_name +
                   " before /health/disruptable answers 200; without it no member ever becomes "
                   "disruptable and every drain waits";
        n.command = lease_command(p.namespace_name, needs.lease_name, w.namespace_name, sa);
        break;
    }
    out.push_back(std::move(n));
  }
  return out;
}

std::string service_account_user(const Workload& w) {
  return "system:serviceaccount:" + w.namespace_name + ":" + w.service_account();
}

json subject_access_review(const Workload& w, const PermissionNeed& need) {
  json attrs = {{"verb", need.verb}, {"group", need.group}, {"resource", need.resource}};
  if (!need.namespace_name.empty()) attrs["namespace"] = need.namespace_name;
  if (!need.name.empty()) attrs["name"] = need.name;
  return {{"apiVersion", "authorization.k8s.io/v1"},
          {"kind", "SubjectAccessReview"},
          {"spec",
           {{"user", service_account_user(w)},
            {"groups",
             {"system:serviceaccounts", "system:serviceaccounts:" + w.namespace_name,
              "system:authenticated"}},
            {"resourceAttributes", attrs}}}};
}

std::vector<MemberTarget> member_targets(const Workload& w, const NamespaceObjects& ns) {
  std::vector<MemberTarget> out;
  if (w.settings.count("ESK8S_HTTP_PORT") && !w.settings.at("ESK8S_HTTP_PORT")) return out;
  auto port = parse_int(w.setting("ESK8S_HTTP_PORT", std::to_string(kDefaultHttpPort)));
  if (!port || *port <= 0 || *port > 65535) return out;
  for (const json* p : owned_pods(w, ns)) {
    const std::string ip = string_at(object_at(*p, "status"), "podIP");
    if (ip.empty()) continue;
    const std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
    out.push_back(
        {name_of(*p), "http://" + host + ":" + std::to_string(*port) + "/members", ns.name});
  }
  return out;
}

std::vector<Finding> check_workload(const Workload& w, const Cluster& cluster,
                                    const NamespaceObjects& ns, const Observations& obs) {
  std::vector<Finding> out;
  for (const std::string& cm : w.missing_configmaps) {
    out.push_back(make(Severity::kError, "config.configmap-missing",
                       "ConfigMap " + ns.name + "/" + cm,
                       "ConfigMap " + cm + " named by envFrom of " + w.object() + " does not exist",
                       "pods whose envFrom names a missing ConfigMap fail with "
                       "CreateContainerConfigError and never start",
                       "apply ConfigMap " + cm + " (examples/kubernetes/base/config.yaml)"));
  }
  for (const auto& [resource, why] : ns.unavailable) {
    out.push_back(
        make(Severity::kInfo, "checks.skipped", "Namespace " + ns.name,
             "could not list " + resource + ": " + why,
             "the checks that read " + resource + " were skipped",
             "run the doctor as a user who may list " + resource + " in namespace " + ns.name));
  }
  check_storage(w, obs, out);
  check_pod_management(w, out);
  check_probes(w, out);
  check_placement(w, cluster, out);
  check_resources(w, out);
  check_pre_stop(w, out);
  check_service(w, ns, out);
  check_pdb(w, ns, cluster, out);
  if (obs.permissions) check_permissions(w, *obs.permissions, out);
  check_tls(w, ns, obs.now, out);
  check_endpoints(w, ns, out);
  check_unschedulable(w, cluster, ns, out);
  return out;
}

std::vector<Finding> check_cluster(const Cluster& cluster,
                                   const std::map<std::string, NamespaceObjects>& namespaces) {
  std::vector<Finding> out;
  if (cluster.workloads.empty()) return out;
  check_peer_namespaces(cluster, namespaces, out);
  check_cluster_name(cluster, out);
  check_size(cluster, namespaces, out);
  check_budgets_across(cluster, namespaces, out);
  check_same_node(cluster, namespaces, out);
  check_members(cluster, out);
  return out;
}

void sort_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    return static_cast<int>(a.severity) < static_cast<int>(b.severity);
  });
}

int exit_code(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kError; })
             ? 1
             : 0;
}

}  // namespace esk8s::cli::doctor
