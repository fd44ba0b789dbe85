#include "cli/doctor_checks.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "cli/time_text.h"
#include "common/base64.h"
#include "discovery/endpointslice_parse.h"
#include "gossip/quorum.h"
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
  return {
      s, std::move(check), std::move(object), std::move(message), std::move(why), std::move(fix)};
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

void check_placement(const Workload& w, const NamespaceObjects& ns, std::vector<Finding>& out) {
  const json& terms = array_at(object_at(object_at(w.pod_spec(), "affinity"), "podAntiAffinity"),
                               "requiredDuringSchedulingIgnoredDuringExecution");
  bool spread = false;
  for (const json& t : terms) {
    spread = spread || (string_at(t, "topologyKey") == "kubernetes.io/hostname" &&
                        selector_matches(object_at(t, "labelSelector"), template_labels(w)));
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
  }
  std::map<std::string, std::vector<std::string>> by_node;
  for (const json* p : owned_pods(w, ns)) {
    std::string node = string_at(object_at(*p, "spec"), "nodeName");
    if (!node.empty()) by_node[node].push_back(name_of(*p));
  }
  for (const auto& [node, pods] : by_node) {
    if (pods.size() < 2) continue;
    out.push_back(make(Severity::kError, "placement.same-node", w.object(),
                       "pods " + joined(pods) + " all run on node " + node,
                       "losing node " + node + " costs " + std::to_string(pods.size()) +
                           " votes at once, which can take the cluster below its quorum",
                       "add the required anti-affinity on kubernetes.io/hostname, then delete "
                       "all but one of these pods one at a time so they are rescheduled on "
                       "other nodes"));
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

void check_replicas(const Workload& w, std::vector<Finding>& out) {
  const int replicas = w.replicas();
  if (replicas > 0 && replicas % 2 == 0) {
    gossip::QuorumView q{static_cast<uint32_t>(replicas), 0};
    out.push_back(make(Severity::kWarning, "replicas.even", w.object(),
                       "replicas is " + std::to_string(replicas) + ", an even number",
                       "a majority of " + std::to_string(replicas) + " is " +
                           std::to_string(q.needed()) + ", so it tolerates " +
                           std::to_string(replicas - static_cast<int>(q.needed())) +
                           " failure(s), no more than " + std::to_string(replicas - 1) +
                           " members would, and a clean split in half leaves no side a quorum",
                       "use an odd number of replicas (3 or 5) and set ESK8S_CLUSTER_SIZE to it"));
  }
  if (!w.has_setting("ESK8S_CLUSTER_SIZE")) return;
  const std::string text = w.setting("ESK8S_CLUSTER_SIZE");
  auto size = parse_int(text);
  if (text.empty() || (size && *size == replicas)) return;
  out.push_back(
      make(Severity::kError, "replicas.cluster-size", w.object(),
           "ESK8S_CLUSTER_SIZE=" + text + " (" + where_set(w, "ESK8S_CLUSTER_SIZE") +
               ") but spec.replicas is " + std::to_string(replicas),
           "quorum is a majority of ESK8S_CLUSTER_SIZE: with more members than that two halves can "
           "each count a quorum (split brain), with fewer the cluster may never reach one",
           "set ESK8S_CLUSTER_SIZE=\"" + std::to_string(replicas) + "\" in " +
               where_set(w, "ESK8S_CLUSTER_SIZE") +
               " (or remove it: esk8s then follows spec.replicas) and restart the pods"));
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

void check_pdb(const Workload& w, const NamespaceObjects& ns, std::vector<Finding>& out) {
  if (ns.unavailable.count("poddisruptionbudgets")) return;
  const int replicas = w.replicas();
  bool any = false;
  for (const json& pdb : ns.pdbs) {
    const json& spec = object_at(pdb, "spec");
    if (!selector_matches(object_at(spec, "selector"), template_labels(w))) continue;
    any = true;
    const std::string object = "PodDisruptionBudget " + ns.name + "/" + name_of(pdb);
    std::optional<int> down;
    std::string field;
    if (spec.contains("maxUnavailable")) {
      down = pdb_count(spec["maxUnavailable"], replicas);
      field = "maxUnavailable: " + (spec["maxUnavailable"].is_string()
                                        ? spec["maxUnavailable"].get<std::string>()
                                        : spec["maxUnavailable"].dump());
    } else if (spec.contains("minAvailable")) {
      auto min = pdb_count(spec["minAvailable"], replicas);
      if (min) down = std::max(0, replicas - *min);
      field = "minAvailable: " + (spec["minAvailable"].is_string()
                                      ? spec["minAvailable"].get<std::string>()
                                      : spec["minAvailable"].dump());
    }
    if (!down) continue;
    const int minority = (replicas - 1) / 2;
    const int quorum = replicas / 2 + 1;
    if (*down > minority) {
      out.push_back(make(Severity::kError, "pdb.too-permissive", object,
                         field + " lets " + std::to_string(*down) + " of " +
                             std::to_string(replicas) + " members be evicted at once",
                         "voluntary disruptions (drains, upgrades) may then take down a majority "
                         "and the cluster loses its quorum",
                         "set maxUnavailable: " + std::to_string(std::max(1, minority)) +
                             " (or minAvailable: " + std::to_string(quorum) + ")"));
    } else if (*down <= 0 && replicas > 0) {
      out.push_back(make(Severity::kWarning, "pdb.blocks-drains", object,
                         field + " allows no member to be evicted",
                         "node drains and cluster upgrades then block forever on these pods",
                         "set maxUnavailable: 1; the preStop hook already waits until stopping "
                         "a member keeps the quorum"));
    }
  }
  if (!any) {
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
    out.push_back(make(Severity::kError, "rbac.missing", object,
                       report.user + " cannot " + n.verb + " " + resource + " " + where, n.reason,
                       "apply " + n.rbac_file + " for ServiceAccount " + w.service_account() +
                           " of namespace " + w.namespace_name));
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
                       "tls.crt expired at " + tls::format_utc(c.not_after) + " (" +
                           describe_time_left(c.not_after - now) + ")",
                       "peers refuse an expired certificate, so the member cannot gossip",
                       "renew the certificate now (cert-manager: check the Certificate's "
                       "status; by hand: esk8s cert create-node)"));
  } else if (c.not_after - now < std::chrono::hours(24 * kLeafExpiryWarningDays)) {
    out.push_back(make(Severity::kWarning, "tls.expiring", object,
                       "tls.crt expires at " + tls::format_utc(c.not_after) + " (" +
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
                       "the CA in ca.crt expired at " + tls::format_utc(c.not_after),
                       "no member certificate it signs verifies, so members cannot gossip",
                       "create a new CA (esk8s cert create-ca), replace the Secret and restart "
                       "the pods"));
  } else if (c.not_after - now < std::chrono::hours(24 * kCaExpiryWarningDays)) {
    out.push_back(make(Severity::kWarning, "tls.ca-expiring", object,
                       "the CA in ca.crt expires at " + tls::format_utc(c.not_after) + " (" +
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
                               " (for the local-ca CA: esk8s cert create-ca, then kubectl create "
                               "secret generic " +
                               v.secret + " --from-file=ca.crt --from-file=ca.key)"));
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

struct MemberView {
  std::string pod;
  std::set<std::string> alive;  // identities in state alive or suspect (gossip's "live")
};

std::string short_name(const std::string& identity) {
  return identity.substr(0, identity.find('.'));
}

std::string describe_set(const std::set<std::string>& s) {
  std::vector<std::string> names;
  for (const auto& i : s) names.push_back(short_name(i));
  return "{" + joined(names) + "}";
}

void check_members(const Workload& w, const std::vector<MemberFetch>& fetches,
                   std::vector<Finding>& out) {
  std::vector<std::string> unreachable;
  std::string first_error;
  std::vector<MemberView> views;
  for (const MemberFetch& f : fetches) {
    if (!f.reachable) {
      unreachable.push_back(f.target.pod);
      if (first_error.empty()) first_error = f.error;
      continue;
    }
    json body = f.body.size() <= discovery::kMaxObjectBytes ? json::parse(f.body, nullptr, false)
                                                            : json(json::value_t::discarded);
    if (f.status != 200 || !body.is_object() || !body.contains("members") ||
        !body["members"].is_array()) {
      out.push_back(make(
          Severity::kWarning, "members.bad-answer", "Pod " + w.namespace_name + "/" + f.target.pod,
          f.target.url + " answered HTTP " + std::to_string(f.status) + " without a members list",
          "the doctor cannot see this member's view of the cluster",
          "check that ESK8S_HTTP_PORT is the port esk8s serves /members on"));
      continue;
    }
    MemberView v{f.target.pod, {}};
    for (const json& m : body["members"]) {
      std::string state = string_at(m, "state");
      if (state == "alive" || state == "suspect") v.alive.insert(string_at(m, "identity"));
    }
    views.push_back(std::move(v));
  }
  if (!unreachable.empty()) {
    out.push_back(make(Severity::kInfo, "members.unreachable", w.object(),
                       "live checks skipped for " + joined(unreachable) +
                           ": not reachable from here (" + first_error + ")",
                       "the doctor compares the members' own /members views only when it can "
                       "reach the pods' HTTP port",
                       "run doctor in the cluster (a pod that can reach port " +
                           w.setting("ESK8S_HTTP_PORT", std::to_string(kDefaultHttpPort)) +
                           " of the members) for the live checks"));
  }
  int size = w.replicas();
  if (auto configured = parse_int(w.setting("ESK8S_CLUSTER_SIZE"))) size = *configured;
  if (size <= 0) return;
  gossip::QuorumView q{static_cast<uint32_t>(size), 0};
  for (const MemberView& v : views) {
    if (v.alive.size() >= q.needed()) continue;
    out.push_back(make(Severity::kError, "members.no-quorum",
                       "Pod " + w.namespace_name + "/" + v.pod,
                       v.pod + " sees " + std::to_string(v.alive.size()) + " of " +
                           std::to_string(size) + " members alive " + describe_set(v.alive) +
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
    for (const MemberView& v : views) parts.push_back(v.pod + " sees " + describe_set(v.alive));
    out.push_back(make(Severity::kWarning, "members.views-disagree", w.object(),
                       "the members disagree on who is alive: " + joined(parts, "; "),
                       "members that disagree count different quorums; a partition, a blocked "
                       "gossip port or a certificate one side refuses is the usual cause",
                       "re-run in a few seconds; if it persists, check NetworkPolicies and the "
                       "gossip port between the pods named, and the members' logs for TLS "
                       "refusals"));
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

std::vector<PermissionNeed> needed_permissions(const Workload& w) {
  std::vector<PermissionNeed> out;
  const std::string own = w.setting("ESK8S_NAMESPACE", w.namespace_name);
  if (w.setting("ESK8S_DISCOVERY", "kubernetes") == "kubernetes") {
    std::vector<std::string> namespaces = {own};
    for (const std::string& ns : split_list(w.setting("ESK8S_PEER_NAMESPACES"))) {
      if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) {
        namespaces.push_back(ns);
      }
    }
    for (const std::string& ns : namespaces) {
      for (const char* verb : {"list", "watch"}) {
        out.push_back({verb, "discovery.k8s.io", "endpointslices", ns,
                       ns == own ? "rbac/role.yaml"
                                 : "rbac/clusterrole.yaml and rbac/rolebinding-per-namespace.yaml "
                                   "(a RoleBinding in namespace " +
                                       ns + ")",
                       ns == own ? "discovery finds the members in the EndpointSlices of the "
                                   "headless Service; without them no member finds a peer"
                                 : "discovery finds the members of peer namespace " + ns +
                                       " in its EndpointSlices; without them they stay invisible"});
      }
    }
    const bool auto_mode = w.setting("ESK8S_READY_MODE", "auto") == "auto";
    if (auto_mode || !w.has_setting("ESK8S_CLUSTER_SIZE")) {
      const std::string why =
          "esk8s reads the pod and its StatefulSet for ESK8S_READY_MODE=auto and the default "
          "ESK8S_CLUSTER_SIZE; without them readiness stays on bootstrap-latch and the cluster "
          "size cannot follow spec.replicas";
      out.push_back({"get", "", "pods", own, "rbac/role.yaml", why});
      out.push_back({"get", "apps", "statefulsets", own, "rbac/role.yaml", why});
    }
  }
  if (w.setting("ESK8S_TLS_MODE", "local-ca") == "kubernetes-csr") {
    for (const char* verb : {"create", "get", "watch"}) {
      out.push_back({verb, "certificates.k8s.io", "certificatesigningrequests", "", "rbac/csr.yaml",
                     "ESK8S_TLS_MODE=kubernetes-csr requests each member's certificate with a "
                     "CertificateSigningRequest; without it no member gets a certificate"});
    }
  }
  return out;
}

std::string service_account_user(const Workload& w) {
  return "system:serviceaccount:" + w.namespace_name + ":" + w.service_account();
}

json subject_access_review(const Workload& w, const PermissionNeed& need) {
  json attrs = {{"verb", need.verb}, {"group", need.group}, {"resource", need.resource}};
  if (!need.namespace_name.empty()) attrs["namespace"] = need.namespace_name;
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
    out.push_back({name_of(*p), "http://" + host + ":" + std::to_string(*port) + "/members"});
  }
  return out;
}

std::vector<Finding> check_workload(const Workload& w, const NamespaceObjects& ns,
                                    const Observations& obs) {
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
  check_placement(w, ns, out);
  check_resources(w, out);
  check_replicas(w, out);
  check_pre_stop(w, out);
  check_service(w, ns, out);
  check_pdb(w, ns, out);
  if (obs.permissions) check_permissions(w, *obs.permissions, out);
  check_tls(w, ns, obs.now, out);
  check_endpoints(w, ns, out);
  check_members(w, obs.members, out);
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
