#include "kube/permissions.h"

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"

namespace esk8s::kube {

using nlohmann::json;

std::string Permission::resource_name() const {
  return group.empty() ? resource : resource + "." + group;
}

std::string Permission::where() const {
  return namespace_name.empty() ? "cluster-wide" : "in namespace \"" + namespace_name + "\"";
}

std::vector<Permission> required_permissions(const PermissionNeeds& needs) {
  std::vector<Permission> out;
  auto add = [&](std::string verb, std::string group, std::string resource, std::string ns,
                 PermissionPurpose purpose, std::string rbac_file, bool optional = false,
                 std::string name = "") {
    out.push_back({std::move(verb), std::move(group), std::move(resource), std::move(ns),
                   std::move(name), purpose, std::move(rbac_file), optional});
  };
  const std::vector<std::string>& watched = needs.discovery_namespaces;
  for (size_t i = 0; i < watched.size(); ++i) {
    const bool own = watched[i] == needs.own_namespace;
    for (const char* verb : {"list", "watch"}) {
      add(verb, "discovery.k8s.io", "endpointslices", watched[i],
          own ? PermissionPurpose::kDiscovery : PermissionPurpose::kPeerDiscovery,
          own ? "rbac/role.yaml"
              : "rbac/clusterrole.yaml and rbac/rolebinding-per-namespace.yaml");
    }
  }
  if (needs.own_workload) {
    add("get", "", "pods", needs.own_namespace, PermissionPurpose::kOwnWorkload,
        "rbac/role.yaml");
    add("get", "apps", "statefulsets", needs.own_namespace, PermissionPurpose::kOwnWorkload,
        "rbac/role.yaml");
  }
  if (needs.csr) {
    for (const char* verb : {"create", "get", "watch"}) {
      add(verb, "certificates.k8s.io", "certificatesigningrequests", "", PermissionPurpose::kCsr,
          "rbac/csr.yaml");
    }
  }
  if (needs.events) {
    for (const char* verb : {"create", "patch"}) {
      add(verb, "events.k8s.io", "events", needs.own_namespace, PermissionPurpose::kEvents,
          "rbac/role.yaml", true);
    }
  }
  if (!needs.lease_name.empty()) {
    // Kubernetes cannot restrict create to a name; get and update are restricted to the Lease.
    add("create", "coordination.k8s.io", "leases", needs.lease_namespace,
        PermissionPurpose::kDisruptionLease, "rbac/disruption-lease.yaml");
    for (const char* verb : {"get", "update"}) {
      add(verb, "coordination.k8s.io", "leases", needs.lease_namespace,
          PermissionPurpose::kDisruptionLease, "rbac/disruption-lease.yaml", false,
          needs.lease_name);
    }
  }
  return out;
}

void review_access(KubeClient& client, AccessCheck& check) {
  const Permission& p = check.permission;
  json attributes = {{"verb", p.verb}, {"group", p.group}, {"resource", p.resource}};
  if (!p.namespace_name.empty()) attributes["namespace"] = p.namespace_name;
  if (!p.name.empty()) attributes["name"] = p.name;
  json review = {{"apiVersion", "authorization.k8s.io/v1"},
                 {"kind", "SelfSubjectAccessReview"},
                 {"spec", {{"resourceAttributes", attributes}}}};
  auto r = client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review.dump());
  json body = json::parse(r.body, nullptr, false);
  if ((r.status == 201 || r.status == 200) && body.is_object()) {
    auto status = body.find("status");
    if (status != body.end() && status->is_object()) {
      auto allowed = status->find("allowed");
      check.allowed = allowed != status->end() && allowed->is_boolean() && allowed->get<bool>();
    }
    return;
  }
  check.error = describe_failure(r);
}

}  // namespace esk8s::kube
