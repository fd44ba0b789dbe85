#include "tests/kubesim/resources.h"

#include <algorithm>
#include <set>

namespace kubesim {

namespace {

const std::vector<std::string> kCrud = {"create", "delete", "deletecollection", "get",
                                        "list",   "patch",  "update",           "watch"};

ResourceType make(std::string group, std::string kind, std::string plural, bool namespaced,
                  std::vector<std::string> short_names = {},
                  std::vector<std::string> subresources = {}, bool all = false) {
  ResourceType t;
  t.group = std::move(group);
  t.version = "v1";
  t.kind = std::move(kind);
  t.plural = std::move(plural);
  t.singular = t.kind;
  std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(), ::tolower);
  t.namespaced = namespaced;
  t.verbs = kCrud;
  t.short_names = std::move(short_names);
  t.subresources = std::move(subresources);
  t.all_category = all;
  return t;
}

ResourceType review(std::string kind, std::string plural, bool namespaced = false) {
  ResourceType t = make("authorization.k8s.io", std::move(kind), std::move(plural), namespaced);
  t.verbs = {"create"};
  t.create_only = true;
  return t;
}

}  // namespace

bool ResourceType::has_subresource(const std::string& s) const {
  return std::find(subresources.begin(), subresources.end(), s) != subresources.end();
}

ResourceRegistry::ResourceRegistry() {
  types_ = {
      make("", "Namespace", "namespaces", false, {"ns"}, {"status"}),
      make("", "Node", "nodes", false, {"no"}, {"status"}),
      make("", "Pod", "pods", true, {"po"}, {"status"}, true),
      make("", "Service", "services", true, {"svc"}, {"status"}, true),
      make("", "ServiceAccount", "serviceaccounts", true, {"sa"}),
      make("", "ConfigMap", "configmaps", true, {"cm"}),
      make("", "Secret", "secrets", true),
      make("", "Event", "events", true, {"ev"}),
      make("", "PersistentVolumeClaim", "persistentvolumeclaims", true, {"pvc"}, {"status"}),
      make("apps", "StatefulSet", "statefulsets", true, {"sts"}, {"status"}, true),
      make("apps", "Deployment", "deployments", true, {"deploy"}, {"status"}, true),
      make("apps", "ControllerRevision", "controllerrevisions", true),
      make("discovery.k8s.io", "EndpointSlice", "endpointslices", true),
      make("rbac.authorization.k8s.io", "Role", "roles", true),
      make("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", true),
      make("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", false),
      make("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", false),
      make("certificates.k8s.io", "CertificateSigningRequest", "certificatesigningrequests", false,
           {"csr"}, {"approval", "status"}),
      make("policy", "PodDisruptionBudget", "poddisruptionbudgets", true, {"pdb"}, {"status"}),
      make("coordination.k8s.io", "Lease", "leases", true),
      make("storage.k8s.io", "StorageClass", "storageclasses", false, {"sc"}),
      make("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", false,
           {"crd", "crds"}, {"status"}),
      review("SelfSubjectAccessReview", "selfsubjectaccessreviews"),
      review("SelfSubjectRulesReview", "selfsubjectrulesreviews"),
      review("SubjectAccessReview", "subjectaccessreviews"),
      [] {
        ResourceType t = review("SelfSubjectReview", "selfsubjectreviews");
        t.group = "authentication.k8s.io";
        return t;
      }(),
  };
  for (auto& t : types_) {
    if (t.kind == "Pod") {
      t.field_labels = {"spec.nodeName",           "spec.restartPolicy", "spec.schedulerName",
                        "spec.serviceAccountName", "status.phase",       "status.podIP",
                        "status.nominatedNodeName"};
    }
    if (t.kind == "Event") {
      t.field_labels = {"involvedObject.kind",
                        "involvedObject.namespace",
                        "involvedObject.name",
                        "involvedObject.uid",
                        "involvedObject.apiVersion",
                        "involvedObject.resourceVersion",
                        "involvedObject.fieldPath",
                        "reason",
                        "reportingComponent",
                        "source",
                        "type"};
    }
    if (t.kind == "Secret") t.field_labels = {"type"};
    t.tracks_generation = t.kind == "StatefulSet" || t.kind == "Deployment" ||
                          t.kind == "PodDisruptionBudget" || t.kind == "CustomResourceDefinition";
    if (t.kind == "CertificateSigningRequest") t.field_labels = {"spec.signerName"};
  }
}

std::optional<ResourceType> ResourceRegistry::find(const std::string& group,
                                                   const std::string& version,
                                                   const std::string& plural) const {
  std::lock_guard lock(mu_);
  for (const auto& t : types_) {
    if (t.group == group && t.version == version && t.plural == plural) return t;
  }
  return std::nullopt;
}

std::optional<ResourceType> ResourceRegistry::find_kind(const std::string& group_version,
                                                        const std::string& kind) const {
  std::lock_guard lock(mu_);
  for (const auto& t : types_) {
    if (t.group_version() == group_version && t.kind == kind) return t;
  }
  return std::nullopt;
}

bool ResourceRegistry::register_crd(const nlohmann::json& crd) {
  try {
    const auto& spec = crd.at("spec");
    const auto& names = spec.at("names");
    std::vector<ResourceType> added;
    for (const auto& v : spec.at("versions")) {
      if (v.contains("served") && !v["served"].get<bool>()) continue;
      ResourceType t = make(
          spec.at("group").get<std::string>(), names.at("kind").get<std::string>(),
          names.at("plural").get<std::string>(), spec.value("scope", "Namespaced") == "Namespaced");
      t.version = v.at("name").get<std::string>();
      t.tracks_generation = true;
      t.singular = names.value("singular", t.singular);
      if (names.contains("shortNames"))
        t.short_names = names["shortNames"].get<std::vector<std::string>>();
      if (v.contains("subresources") && v["subresources"].contains("status"))
        t.subresources = {"status"};
      added.push_back(std::move(t));
    }
    if (added.empty()) return false;
    std::lock_guard lock(mu_);
    for (auto& t : added) {
      std::erase_if(types_, [&](const ResourceType& o) {
        return o.group == t.group && o.version == t.version && o.plural == t.plural;
      });
      types_.push_back(std::move(t));
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void ResourceRegistry::unregister_crd(const nlohmann::json& crd) {
  try {
    std::string group = crd.at("spec").at("group").get<std::string>();
    std::string plural = crd.at("spec").at("names").at("plural").get<std::string>();
    std::lock_guard lock(mu_);
    std::erase_if(types_,
                  [&](const ResourceType& o) { return o.group == group && o.plural == plural; });
  } catch (const std::exception&) {
  }
}

std::vector<ResourceType> ResourceRegistry::all() const {
  std::lock_guard lock(mu_);
  return types_;
}

nlohmann::json ResourceRegistry::api_versions(const std::string& server_address) const {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

nlohmann::json ResourceRegistry::api_group_list() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> order;
  std::map<std::string, std::set<std::string>> versions;
  for (const auto& t : types_) {
    if (t.group.empty()) continue;
    if (!versions.count(t.group)) order.push_back(t.group);
    versions[t.group].insert(t.version);
  }
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : order) {
    nlohmann::json vs = nlohmann::json::array();
    for (const auto& v : versions[g]) vs.push_back({{"groupVersion", g + "/" + v}, {"version", v}});
    groups.push_back({{"name", g}, {"versions", vs}, {"preferredVersion", vs.back()}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

nlohmann::json ResourceRegistry::api_resource_list(const std::string& group,
                                                   const std::string& version) const {
  std::lock_guard lock(mu_);
  nlohmann::json resources = nlohmann::json::array();
  bool any = false;
  for (const auto& t : types_) {
    if (t.group != group || t.version != version) continue;
    any = true;
    nlohmann::json r = {{"name", t.plural},
                        {"singularName", t.singular},
                        {"namespaced", t.namespaced},
                        {"kind", t.kind},
                        {"verbs", t.verbs}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (t.all_category) r["categories"] = {"all"};
    resources.push_back(r);
    for (const auto& sub : t.subresources) {
      resources.push_back({{"name", t.plural + "/" + sub},
                           {"singularName", ""},
                           {"namespaced", t.namespaced},
                           {"kind", t.kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (!any) return nullptr;
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

}  // namespace kubesim
