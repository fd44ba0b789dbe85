#include "tests/kubesim/rbac.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using kubesim::authorize;
using kubesim::Decision;
using kubesim::forbidden_message;
using kubesim::RbacObjects;
using kubesim::RequestAttributes;
using kubesim::rules_review_status;
using kubesim::service_account_user;
using kubesim::UserInfo;
using nlohmann::json;

namespace {

using Strings = std::vector<std::string>;

json policy_rule(Strings verbs, Strings groups, Strings resources, Strings names = {}) {
  json r = {{"verbs", verbs}, {"apiGroups", groups}, {"resources", resources}};
  if (!names.empty()) r["resourceNames"] = names;
  return r;
}

json url_rule(Strings verbs, Strings urls) { return {{"verbs", verbs}, {"nonResourceURLs", urls}}; }

json role(const std::string& ns, const std::string& name, json rules) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "Role"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"rules", rules}};
}

json cluster_role(const std::string& name, json rules) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRole"},
          {"metadata", {{"name", name}}},
          {"rules", rules}};
}

json role_ref(const std::string& kind, const std::string& name) {
  return {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", kind}, {"name", name}};
}

json role_binding(const std::string& ns, const std::string& name, const std::string& kind,
                  const std::string& role_name, json subjects) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "RoleBinding"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"roleRef", role_ref(kind, role_name)},
          {"subjects", subjects}};
}

json cluster_role_binding(const std::string& name, const std::string& role_name, json subjects,
                          const std::string& kind = "ClusterRole") {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRoleBinding"},
          {"metadata", {{"name", name}}},
          {"roleRef", role_ref(kind, role_name)},
          {"subjects", subjects}};
}

json user_subject(const std::string& name) {
  return {{"kind", "User"}, {"apiGroup", "rbac.authorization.k8s.io"}, {"name", name}};
}
json group_subject(const std::string& name) {
  return {{"kind", "Group"}, {"apiGroup", "rbac.authorization.k8s.io"}, {"name", name}};
}
json sa_subject(const std::string& name, const std::string& ns = "") {
  json s = {{"kind", "ServiceAccount"}, {"name", name}};
  if (!ns.empty()) s["namespace"] = ns;
  return s;
}

RequestAttributes resource_request(const std::string& verb, const std::string& group,
                                   const std::string& resource, const std::string& ns,
                                   const std::string& name = "",
                                   const std::string& subresource = "") {
  RequestAttributes a;
  a.verb = verb;
  a.api_group = group;
  a.resource = resource;
  a.namespace_name = ns;
  a.name = name;
  a.subresource = subresource;
  return a;
}

RequestAttributes path_request(const std::string& verb, const std::string& path) {
  RequestAttributes a;
  a.resource_request = false;
  a.verb = verb;
  a.path = path;
  return a;
}

bool allowed(const UserInfo& u, const RequestAttributes& a, const RbacObjects& o) {
  return authorize(u, a, o).allowed;
}

// The esdb service account in prod, allowed to read pods and endpointslices through a Role.
RbacObjects esdb_objects() {
  RbacObjects o;
  o.roles.push_back(role(
      "prod", "esdb",
      json::array({policy_rule({"get", "list", "watch"}, {""}, {"pods"}),
                   policy_rule({"list", "watch"}, {"discovery.k8s.io"}, {"endpointslices"})})));
  o.role_bindings.push_back(
      role_binding("prod", "esdb", "Role", "esdb", json::array({sa_subject("esdb")})));
  return o;
}

}  // namespace

TEST_CASE("rbac: service_account_user builds the name and the three groups Kubernetes gives") {
  UserInfo u = service_account_user("prod", "esdb");
  CHECK(u.name == "system:serviceaccount:prod:esdb");
  CHECK(u.groups ==
        Strings{"system:serviceaccounts", "system:serviceaccounts:prod", "system:authenticated"});
}

TEST_CASE("rbac: with no objects every request is denied with an empty reason") {
  RbacObjects none;
  Decision d = authorize(UserInfo{"admin", {"system:authenticated"}},
                         resource_request("get", "", "pods", "prod", "p"), none);
  CHECK_FALSE(d.allowed);
  CHECK(d.reason.empty());
  CHECK_FALSE(allowed(UserInfo{"admin", {}}, path_request("get", "/version"), none));
}

TEST_CASE("rbac: a RoleBinding grants a Role's rules only in its own namespace") {
  RbacObjects o = esdb_objects();
  UserInfo prod = service_account_user("prod", "esdb");
  CHECK(allowed(prod, resource_request("get", "", "pods", "prod", "esdb-0"), o));
  CHECK(allowed(prod, resource_request("list", "discovery.k8s.io", "endpointslices", "prod"), o));
  // Another namespace, and cluster scope (list across all namespaces), are not granted.
  CHECK_FALSE(allowed(prod, resource_request("get", "", "pods", "staging", "esdb-0"), o));
  CHECK_FALSE(allowed(prod, resource_request("list", "", "pods", ""), o));
  // Verbs the Role does not list are not granted.
  CHECK_FALSE(allowed(prod, resource_request("delete", "", "pods", "prod", "esdb-0"), o));
  CHECK_FALSE(
      allowed(prod, resource_request("get", "discovery.k8s.io", "endpointslices", "prod", "x"), o));
}

TEST_CASE("rbac: a RoleBinding finds its Role only in the binding's own namespace") {
  RbacObjects o;
  // The Role exists, but in another namespace than the binding.
  o.roles.push_back(role("other", "reader", json::array({policy_rule({"get"}, {""}, {"pods"})})));
  o.role_bindings.push_back(
      role_binding("prod", "reader", "Role", "reader", json::array({user_subject("alice")})));
  UserInfo alice{"alice", {}};
  CHECK_FALSE(allowed(alice, resource_request("get", "", "pods", "prod", "p"), o));
  CHECK_FALSE(allowed(alice, resource_request("get", "", "pods", "other", "p"), o));
  // Once a Role of that name exists in the binding's namespace, it applies.
  o.roles.push_back(role("prod", "reader", json::array({policy_rule({"get"}, {""}, {"pods"})})));
  CHECK(allowed(alice, resource_request("get", "", "pods", "prod", "p"), o));
  CHECK_FALSE(allowed(alice, resource_request("get", "", "pods", "other", "p"), o));
}

TEST_CASE("rbac: a RoleBinding to a ClusterRole grants its rules only in the binding's namespace") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("pod-reader", json::array({policy_rule({"get", "list"}, {""}, {"pods"})})));
  o.role_bindings.push_back(role_binding("prod", "read-pods", "ClusterRole", "pod-reader",
                                         json::array({user_subject("alice")})));
  UserInfo alice{"alice", {}};
  CHECK(allowed(alice, resource_request("list", "", "pods", "prod"), o));
  CHECK_FALSE(allowed(alice, resource_request("list", "", "pods", "staging"), o));
  CHECK_FALSE(allowed(alice, resource_request("list", "", "pods", ""), o));
  Decision d = authorize(alice, resource_request("get", "", "pods", "prod", "p"), o);
  CHECK(
      d.reason ==
      R"(RBAC: allowed by RoleBinding "read-pods/prod" of ClusterRole "pod-reader" to User "alice")");
}

TEST_CASE("rbac: a ClusterRoleBinding grants in every namespace and at cluster scope") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("node-reader",
                   json::array({policy_rule({"get", "list", "watch"}, {""}, {"nodes", "pods"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("ops-nodes", "node-reader", json::array({group_subject("ops")})));
  UserInfo bob{"bob", {"ops", "system:authenticated"}};
  CHECK(allowed(bob, resource_request("list", "", "nodes", ""), o));
  CHECK(allowed(bob, resource_request("get", "", "nodes", "", "node-1"), o));
  CHECK(allowed(bob, resource_request("list", "", "pods", "prod"), o));
  CHECK(allowed(bob, resource_request("list", "", "pods", "kube-system"), o));
  CHECK(allowed(bob, resource_request("list", "", "pods", ""), o));
  CHECK_FALSE(allowed(bob, resource_request("delete", "", "nodes", "", "node-1"), o));
  Decision d = authorize(bob, resource_request("list", "", "nodes", ""), o);
  CHECK(
      d.reason ==
      R"(RBAC: allowed by ClusterRoleBinding "ops-nodes" of ClusterRole "node-reader" to Group "ops")");
}

TEST_CASE("rbac: ClusterRoleBindings are evaluated before RoleBindings, first match names it") {
  RbacObjects o = esdb_objects();
  o.cluster_roles.push_back(
      cluster_role("view", json::array({policy_rule({"get", "list", "watch"}, {"*"}, {"*"})})));
  o.cluster_role_bindings.push_back(cluster_role_binding(
      "sa-view", "view", json::array({group_subject("system:serviceaccounts")})));
  Decision d = authorize(service_account_user("prod", "esdb"),
                         resource_request("get", "", "pods", "prod", "esdb-0"), o);
  CHECK(d.allowed);
  CHECK(
      d.reason ==
      R"(RBAC: allowed by ClusterRoleBinding "sa-view" of ClusterRole "view" to Group "system:serviceaccounts")");
}

TEST_CASE(
    "rbac: missing roles, unsupported kinds and a ClusterRoleBinding to a Role grant nothing") {
  RbacObjects o;
  o.roles.push_back(role("prod", "exists", json::array({policy_rule({"*"}, {"*"}, {"*"})})));
  o.role_bindings.push_back(
      role_binding("prod", "a", "Role", "missing", json::array({user_subject("alice")})));
  o.role_bindings.push_back(
      role_binding("prod", "b", "ClusterRole", "missing", json::array({user_subject("alice")})));
  o.role_bindings.push_back(
      role_binding("prod", "c", "Policy", "exists", json::array({user_subject("alice")})));
  // roleRef kind Role from a ClusterRoleBinding: there is no namespace to find the Role in.
  o.cluster_role_bindings.push_back(
      cluster_role_binding("d", "exists", json::array({user_subject("alice")}), "Role"));
  UserInfo alice{"alice", {}};
  CHECK_FALSE(allowed(alice, resource_request("get", "", "pods", "prod", "p"), o));
  CHECK_FALSE(allowed(alice, resource_request("list", "", "pods", ""), o));
}

TEST_CASE("rbac: a User subject matches the user's name only, a Group subject its groups") {
  RbacObjects o;
  o.roles.push_back(role("prod", "r", json::array({policy_rule({"get"}, {""}, {"pods"})})));
  o.role_bindings.push_back(role_binding(
      "prod", "users", "Role", "r", json::array({user_subject("alice"), group_subject("qa")})));
  auto get = resource_request("get", "", "pods", "prod", "p");
  CHECK(allowed(UserInfo{"alice", {}}, get, o));
  CHECK(allowed(UserInfo{"carol", {"qa"}}, get, o));
  CHECK_FALSE(allowed(UserInfo{"bob", {"dev"}}, get, o));
  // A user named like the group, or in a group named like the user, does not match.
  CHECK_FALSE(allowed(UserInfo{"qa", {}}, get, o));
  CHECK_FALSE(allowed(UserInfo{"dave", {"alice"}}, get, o));
  // Unknown subject kinds match nobody.
  RbacObjects odd;
  odd.roles = o.roles;
  odd.role_bindings.push_back(role_binding(
      "prod", "odd", "Role", "r", json::array({json{{"kind", "Robot"}, {"name", "alice"}}})));
  CHECK_FALSE(allowed(UserInfo{"alice", {}}, get, odd));
  // The reason names the first subject that matched.
  Decision d = authorize(UserInfo{"carol", {"qa"}}, get, o);
  CHECK(d.reason == R"(RBAC: allowed by RoleBinding "users/prod" of Role "r" to Group "qa")");
}

TEST_CASE("rbac: a ServiceAccount subject's namespace defaults to the RoleBinding's") {
  RbacObjects o = esdb_objects();
  Decision d = authorize(service_account_user("prod", "esdb"),
                         resource_request("get", "", "pods", "prod", "esdb-0"), o);
  CHECK(d.allowed);
  CHECK(d.reason ==
        R"(RBAC: allowed by RoleBinding "esdb/prod" of Role "esdb" to ServiceAccount "esdb/prod")");
  // The same account name in another namespace is another user.
  CHECK_FALSE(allowed(service_account_user("staging", "esdb"),
                      resource_request("get", "", "pods", "prod", "esdb-0"), o));
  // A plain user who merely carries the name is not the service account.
  CHECK_FALSE(allowed(UserInfo{"esdb", {}}, resource_request("get", "", "pods", "prod", "p"), o));
}

TEST_CASE("rbac: a ServiceAccount subject with an explicit namespace matches that account only") {
  RbacObjects o;
  o.roles.push_back(role("prod", "r", json::array({policy_rule({"get"}, {""}, {"pods"})})));
  // A binding in prod granting prod's Role to a service account of the ci namespace.
  o.role_bindings.push_back(
      role_binding("prod", "ci", "Role", "r", json::array({sa_subject("deployer", "ci")})));
  auto get = resource_request("get", "", "pods", "prod", "p");
  CHECK_FALSE(allowed(service_account_user("prod", "deployer"), get, o));
  Decision d = authorize(service_account_user("ci", "deployer"), get, o);
  CHECK(d.allowed);
  CHECK(d.reason ==
        R"(RBAC: allowed by RoleBinding "ci/prod" of Role "r" to ServiceAccount "deployer/ci")");
}

TEST_CASE("rbac: a ClusterRoleBinding's ServiceAccount subject needs an explicit namespace") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("lister", json::array({policy_rule({"list"}, {""}, {"nodes"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("no-ns", "lister", json::array({sa_subject("esdb")})));
  auto list = resource_request("list", "", "nodes", "");
  CHECK_FALSE(allowed(service_account_user("prod", "esdb"), list, o));
  CHECK_FALSE(allowed(service_account_user("", "esdb"), list, o));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("with-ns", "lister", json::array({sa_subject("esdb", "prod")})));
  Decision d = authorize(service_account_user("prod", "esdb"), list, o);
  CHECK(d.allowed);
  CHECK(
      d.reason ==
      R"(RBAC: allowed by ClusterRoleBinding "with-ns" of ClusterRole "lister" to ServiceAccount "esdb/prod")");
}

TEST_CASE("rbac: service accounts are matched through their groups too") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("ns-reader", json::array({policy_rule({"get"}, {""}, {"configmaps"})})));
  // Every service account of prod, via the per-namespace group, in the prod namespace.
  o.role_bindings.push_back(
      role_binding("prod", "prod-sas", "ClusterRole", "ns-reader",
                   json::array({group_subject("system:serviceaccounts:prod")})));
  // Every authenticated user, in the shared namespace.
  o.role_bindings.push_back(role_binding("shared", "everyone", "ClusterRole", "ns-reader",
                                         json::array({group_subject("system:authenticated")})));
  auto in = [](const std::string& ns) {
    return resource_request("get", "", "configmaps", ns, "cm");
  };
  CHECK(allowed(service_account_user("prod", "esdb"), in("prod"), o));
  CHECK(allowed(service_account_user("prod", "other"), in("prod"), o));
  CHECK_FALSE(allowed(service_account_user("staging", "esdb"), in("prod"), o));
  CHECK(allowed(service_account_user("staging", "esdb"), in("shared"), o));
}

TEST_CASE("rbac: verbs and apiGroups match literally or by \"*\"") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("r", json::array({policy_rule({"*"}, {"apps"}, {"statefulsets"}),
                                     policy_rule({"get"}, {"*"}, {"widgets"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("b", "r", json::array({user_subject("u")})));
  UserInfo u{"u", {}};
  for (const char* verb : {"get", "list", "watch", "create", "update", "patch", "delete",
                           "deletecollection", "escalate"}) {
    CAPTURE(verb);
    CHECK(allowed(u, resource_request(verb, "apps", "statefulsets", "prod"), o));
  }
  // The API group must match: core statefulsets do not exist, but RBAC only compares strings.
  CHECK_FALSE(allowed(u, resource_request("get", "", "statefulsets", "prod", "s"), o));
  CHECK_FALSE(
      allowed(u, resource_request("get", "apps.example.com", "statefulsets", "prod", "s"), o));
  CHECK(allowed(u, resource_request("get", "", "widgets", "prod", "w"), o));
  CHECK(allowed(u, resource_request("get", "example.com", "widgets", "prod", "w"), o));
  CHECK_FALSE(allowed(u, resource_request("list", "example.com", "widgets", "prod"), o));
  // Matching is case-sensitive.
  CHECK_FALSE(allowed(u, resource_request("GET", "", "widgets", "prod", "w"), o));
}

TEST_CASE("rbac: \"*\" in resources matches every resource and every subresource") {
  RbacObjects o;
  o.cluster_roles.push_back(cluster_role("all", json::array({policy_rule({"get"}, {""}, {"*"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("b", "all", json::array({user_subject("u")})));
  UserInfo u{"u", {}};
  CHECK(allowed(u, resource_request("get", "", "pods", "prod", "p"), o));
  CHECK(allowed(u, resource_request("get", "", "pods", "prod", "p", "log"), o));
  CHECK(allowed(u, resource_request("get", "", "nodes", "", "n", "proxy"), o));
}

TEST_CASE("rbac: subresources need \"<resource>/<subresource>\" or \"*/<subresource>\"") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("r", json::array({policy_rule({"get", "update"}, {""}, {"pods"}),
                                     policy_rule({"update", "patch"}, {""}, {"pods/status"}),
                                     policy_rule({"get", "update"}, {"apps"}, {"*/scale"}),
                                     policy_rule({"get"}, {""}, {"services/*"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("b", "r", json::array({user_subject("u")})));
  UserInfo u{"u", {}};
  // "pods" does not reach pods' subresources...
  CHECK(allowed(u, resource_request("update", "", "pods", "prod", "p"), o));
  CHECK_FALSE(allowed(u, resource_request("get", "", "pods", "prod", "p", "log"), o));
  // ...and "pods/status" does not reach the pods themselves.
  CHECK(allowed(u, resource_request("update", "", "pods", "prod", "p", "status"), o));
  CHECK_FALSE(allowed(u, resource_request("patch", "", "pods", "prod", "p"), o));
  // "*/scale" is the scale subresource of any resource, but not the resources.
  CHECK(allowed(u, resource_request("update", "apps", "deployments", "prod", "d", "scale"), o));
  CHECK(allowed(u, resource_request("get", "apps", "statefulsets", "prod", "s", "scale"), o));
  CHECK_FALSE(allowed(u, resource_request("get", "apps", "deployments", "prod", "d"), o));
  CHECK_FALSE(allowed(u, resource_request("get", "apps", "deployments", "prod", "d", "status"), o));
  // "*/scale" must be the whole subresource, not a suffix of it.
  CHECK_FALSE(
      allowed(u, resource_request("get", "apps", "deployments", "prod", "d", "rescale"), o));
  // "services/*" is not a wildcard in Kubernetes: it matches neither a subresource nor services.
  CHECK_FALSE(allowed(u, resource_request("get", "", "services", "prod", "s", "proxy"), o));
  CHECK_FALSE(allowed(u, resource_request("get", "", "services", "prod", "s"), o));
}

TEST_CASE("rbac: resourceNames allow named requests only, never list, watch or create") {
  RbacObjects o;
  o.roles.push_back(role(
      "prod", "r",
      json::array({policy_rule({"get", "list", "watch", "update", "create", "deletecollection"},
                               {""}, {"configmaps"}, {"esdb-config", "esdb-leader"})})));
  o.role_bindings.push_back(
      role_binding("prod", "b", "Role", "r", json::array({user_subject("u")})));
  UserInfo u{"u", {}};
  CHECK(allowed(u, resource_request("get", "", "configmaps", "prod", "esdb-config"), o));
  CHECK(allowed(u, resource_request("update", "", "configmaps", "prod", "esdb-leader"), o));
  CHECK_FALSE(allowed(u, resource_request("get", "", "configmaps", "prod", "other"), o));
  CHECK_FALSE(allowed(u, resource_request("list", "", "configmaps", "prod"), o));
  CHECK_FALSE(allowed(u, resource_request("watch", "", "configmaps", "prod"), o));
  CHECK_FALSE(allowed(u, resource_request("create", "", "configmaps", "prod"), o));
  CHECK_FALSE(allowed(u, resource_request("deletecollection", "", "configmaps", "prod"), o));
  // A list or watch restricted to one object (fieldSelector metadata.name=...) carries the name
  // in its attributes, and is then allowed.
  CHECK(allowed(u, resource_request("watch", "", "configmaps", "prod", "esdb-config"), o));
  // Without resourceNames any name, and no name, is allowed.
  RbacObjects any = o;
  any.roles[0] =
      role("prod", "r", json::array({policy_rule({"get", "list"}, {""}, {"configmaps"})}));
  CHECK(allowed(u, resource_request("get", "", "configmaps", "prod", "other"), any));
  CHECK(allowed(u, resource_request("list", "", "configmaps", "prod"), any));
}

TEST_CASE("rbac: nonResourceURLs match exactly, by \"*\", or by a prefix ending in \"*\"") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("urls", json::array({url_rule({"get"}, {"/version", "/healthz/*", "/apis*"}),
                                        url_rule({"post"}, {"/metrics/**"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("b", "urls", json::array({group_subject("system:authenticated")})));
  UserInfo u{"u", {"system:authenticated"}};
  CHECK(allowed(u, path_request("get", "/version"), o));
  CHECK_FALSE(allowed(u, path_request("get", "/version/"), o));
  CHECK_FALSE(allowed(u, path_request("post", "/version"), o));
  CHECK(allowed(u, path_request("get", "/healthz/etcd"), o));
  CHECK(allowed(u, path_request("get", "/healthz/"), o));
  CHECK_FALSE(allowed(u, path_request("get", "/healthz"), o));
  CHECK(allowed(u, path_request("get", "/apis"), o));
  CHECK(allowed(u, path_request("get", "/apis/apps/v1"), o));
  CHECK(allowed(u, path_request("get", "/apisx"), o));
  CHECK_FALSE(allowed(u, path_request("get", "/api"), o));
  // Every trailing "*" is trimmed to form the prefix.
  CHECK(allowed(u, path_request("post", "/metrics/x"), o));
  CHECK_FALSE(allowed(u, path_request("post", "/metricsx"), o));
  Decision d = authorize(u, path_request("get", "/version"), o);
  CHECK(
      d.reason ==
      R"(RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "urls" to Group "system:authenticated")");

  RbacObjects star;
  star.cluster_roles.push_back(cluster_role("all", json::array({url_rule({"*"}, {"*"})})));
  star.cluster_role_bindings.push_back(
      cluster_role_binding("b", "all", json::array({user_subject("u")})));
  CHECK(allowed(u, path_request("get", "/anything/at/all"), star));
  CHECK(allowed(u, path_request("put", "/"), star));
}

TEST_CASE("rbac: non-resource URLs are granted only through ClusterRoleBindings") {
  RbacObjects o;
  o.cluster_roles.push_back(
      cluster_role("version", json::array({url_rule({"get"}, {"/version"})})));
  o.roles.push_back(role("prod", "version", json::array({url_rule({"get"}, {"/version"})})));
  o.role_bindings.push_back(
      role_binding("prod", "a", "ClusterRole", "version", json::array({user_subject("u")})));
  o.role_bindings.push_back(
      role_binding("prod", "b", "Role", "version", json::array({user_subject("u")})));
  UserInfo u{"u", {}};
  RequestAttributes version = path_request("get", "/version");
  CHECK_FALSE(allowed(u, version, o));
  // Even if the caller fills in a namespace, a non-resource request is cluster-scoped.
  version.namespace_name = "prod";
  CHECK_FALSE(allowed(u, version, o));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("c", "version", json::array({user_subject("u")})));
  CHECK(allowed(u, version, o));
}

TEST_CASE("rbac: resource rules and non-resource rules do not grant each other's requests") {
  RbacObjects o;
  o.cluster_roles.push_back(cluster_role(
      "r", json::array({policy_rule({"*"}, {"*"}, {"*"}), url_rule({"get"}, {"/healthz"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("b", "r", json::array({user_subject("u")})));
  UserInfo u{"u", {}};
  CHECK(allowed(u, resource_request("delete", "apps", "deployments", "prod", "d"), o));
  CHECK(allowed(u, path_request("get", "/healthz"), o));
  CHECK_FALSE(allowed(u, path_request("get", "/version"), o));
  CHECK_FALSE(allowed(u, path_request("post", "/healthz"), o));
  // A request for a resource called "healthz" is not the /healthz URL.
  RbacObjects urls_only;
  urls_only.cluster_roles.push_back(cluster_role("r", json::array({url_rule({"*"}, {"*"})})));
  urls_only.cluster_role_bindings = o.cluster_role_bindings;
  CHECK_FALSE(allowed(u, resource_request("get", "", "healthz", "", "x"), urls_only));
}

TEST_CASE("rbac: malformed objects never throw and grant nothing, well-formed ones still apply") {
  UserInfo u{"u", {"g"}};
  auto get = resource_request("get", "", "pods", "prod", "p");
  const json good_rule = policy_rule({"get"}, {""}, {"pods"});

  RbacObjects o;
  // Garbage of every JSON type in every list.
  for (auto* list : {&o.roles, &o.cluster_roles, &o.role_bindings, &o.cluster_role_bindings}) {
    list->push_back(json());
    list->push_back(json(42));
    list->push_back(json("Role"));
    list->push_back(json::array({1, 2}));
    list->push_back(json::object());
  }
  // Bindings whose metadata, roleRef or subjects are the wrong shape.
  o.cluster_roles.push_back(cluster_role("cr", json::array({good_rule})));
  json b = cluster_role_binding("x", "cr", json::array({user_subject("u")}));
  json no_meta = b;
  no_meta.erase("metadata");
  json name_number = b;
  name_number["metadata"]["name"] = 7;
  json ref_string = b;
  ref_string["roleRef"] = "cr";
  json ref_name_null = b;
  ref_name_null["roleRef"]["name"] = nullptr;
  json subjects_object = b;
  subjects_object["subjects"] = user_subject("u");
  json subject_name_array = b;
  subject_name_array["subjects"] = json::array({{{"kind", "User"}, {"name", {"u"}}}});
  json subject_not_object = b;
  subject_not_object["subjects"] = json::array({"u"});
  json sa_ns_number = b;
  sa_ns_number["subjects"] =
      json::array({{{"kind", "ServiceAccount"}, {"name", "u"}, {"namespace", 1}}});
  for (const json& bad : {no_meta, name_number, ref_string, ref_name_null, subjects_object,
                          subject_name_array, subject_not_object, sa_ns_number}) {
    o.cluster_role_bindings.push_back(bad);
  }
  // A RoleBinding without a namespace cannot be placed anywhere.
  json rb = role_binding("prod", "rb", "ClusterRole", "cr", json::array({user_subject("u")}));
  rb["metadata"].erase("namespace");
  o.role_bindings.push_back(rb);
  CHECK_FALSE(allowed(u, get, o));
  CHECK_FALSE(allowed(u, path_request("get", "/version"), o));
  CHECK_NOTHROW(rules_review_status(u, "prod", o));
  CHECK(rules_review_status(u, "prod", o)["resourceRules"].empty());

  // Roles whose rules are malformed: each malformed rule is dropped, the good one still counts.
  RbacObjects r;
  json bad_rules = json::array({
      json(5),
      json{{"verbs", "get"}, {"apiGroups", {""}}, {"resources", {"pods"}}},
      json{{"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"pods", 3}}},
      // A malformed resourceNames must not widen the rule to every name.
      json{{"verbs", {"get"}},
           {"apiGroups", {""}},
           {"resources", {"secrets"}},
           {"resourceNames", "s"}},
      json{{"verbs", {"get"}}, {"nonResourceURLs", {{"/version"}}}},
      json{{"verbs", nullptr}, {"apiGroups", {""}}, {"resources", {"pods"}}},
      json{{"apiGroups", {""}}, {"resources", {"pods"}}},
  });
  r.cluster_roles.push_back(cluster_role("bad", bad_rules));
  r.cluster_roles.push_back(json{{"metadata", {{"name", "rules-object"}}}, {"rules", good_rule}});
  r.cluster_roles.push_back(json{{"metadata", {{"name", "no-rules"}}}});
  r.cluster_role_bindings.push_back(
      cluster_role_binding("bad", "bad", json::array({user_subject("u")})));
  r.cluster_role_bindings.push_back(
      cluster_role_binding("obj", "rules-object", json::array({user_subject("u")})));
  r.cluster_role_bindings.push_back(
      cluster_role_binding("none", "no-rules", json::array({user_subject("u")})));
  CHECK_FALSE(allowed(u, get, r));
  CHECK_FALSE(allowed(u, resource_request("get", "", "secrets", "prod", "x"), r));
  CHECK_FALSE(allowed(u, path_request("get", "/version"), r));
  json status = rules_review_status(u, "prod", r);
  // Only the rule with null verbs (an empty list, like Go's nil) and the one without verbs are
  // well-formed; they grant nothing but are listed, as the real API lists them.
  CHECK(status["resourceRules"] ==
        json::parse(R"([{"verbs":[],"apiGroups":[""],"resources":["pods"]},
                        {"verbs":[],"apiGroups":[""],"resources":["pods"]}])"));
  CHECK(status["nonResourceRules"] == json::array());

  // A well-formed binding next to all that garbage still works.
  o.cluster_role_bindings.push_back(b);
  Decision d = authorize(u, get, o);
  CHECK(d.allowed);
  CHECK(d.reason == R"(RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "cr" to User "u")");
}

TEST_CASE("rbac: forbidden_message reproduces kube-apiserver's 403 messages") {
  UserInfo sa = service_account_user("prod", "esdb");
  UserInfo x{"x", {}};
  CHECK(
      forbidden_message(sa,
                        resource_request("list", "discovery.k8s.io", "endpointslices", "prod")) ==
      R"(endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:prod:esdb" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "prod")");
  CHECK(
      forbidden_message(x, resource_request("get", "", "pods", "prod", "esdb-0")) ==
      R"(pods "esdb-0" is forbidden: User "x" cannot get resource "pods" in API group "" in the namespace "prod")");
  CHECK(
      forbidden_message(x, resource_request("list", "", "nodes", "")) ==
      R"(nodes is forbidden: User "x" cannot list resource "nodes" in API group "" at the cluster scope)");
  CHECK(
      forbidden_message(x, resource_request("update", "", "pods", "prod", "esdb-0", "status")) ==
      R"(pods "esdb-0" is forbidden: User "x" cannot update resource "pods/status" in API group "" in the namespace "prod")");
  CHECK(forbidden_message(x, path_request("get", "/version")) ==
        R"(forbidden: User "x" cannot get path "/version")");
  // A named cluster-scoped object of a named group.
  CHECK(
      forbidden_message(x, resource_request("delete", "rbac.authorization.k8s.io", "clusterroles",
                                            "", "admin")) ==
      R"(clusterroles.rbac.authorization.k8s.io "admin" is forbidden: User "x" cannot delete resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope)");
}

TEST_CASE("rbac: forbidden_message quotes like Go's %q and escapes HTML after \"forbidden: \"") {
  UserInfo odd{"a\"b\\c<d>&", {}};
  CHECK(forbidden_message(odd, path_request("get", "/x<y>")) ==
        R"(forbidden: User "a\"b\\c&lt;d&gt;&amp;" cannot get path "/x&lt;y&gt;")");
  // The name before "is forbidden" is quoted but not HTML-escaped; control characters are escaped.
  CHECK(
      forbidden_message(UserInfo{"u\n", {}}, resource_request("get", "", "pods", "p", "<n>\t")) ==
      R"(pods "<n>\t" is forbidden: User "u\n" cannot get resource "pods" in API group "" in the namespace "p")");
  // Valid UTF-8 is kept; invalid bytes are escaped.
  CHECK(forbidden_message(UserInfo{"jos\xc3\xa9\xff", {}}, path_request("get", "/")) ==
        "forbidden: User \"jos\xc3\xa9\\xff\" cannot get path \"/\"");
  // Truncated and overlong sequences and DEL are escaped byte by byte; 4-byte characters kept.
  CHECK(forbidden_message(UserInfo{"\xe2\x82|\xc0\xaf|\x7f|\xf0\x9f\x98\x80", {}},
                          path_request("get", "/")) ==
        "forbidden: User \"\\xe2\\x82|\\xc0\\xaf|\\x7f|\xf0\x9f\x98\x80\" cannot get path \"/\"");
}

TEST_CASE("rbac: rules_review_status lists the rules that apply in the namespace, in order") {
  RbacObjects o = esdb_objects();
  o.roles.push_back(role("prod", "leader",
                         json::array({policy_rule({"get", "update"}, {"coordination.k8s.io"},
                                                  {"leases"}, {"esdb-leader"})})));
  o.role_bindings.push_back(
      role_binding("prod", "leader", "Role", "leader", json::array({sa_subject("esdb", "prod")})));
  // Bindings that do not apply: another namespace, another subject.
  o.roles.push_back(role("staging", "esdb", json::array({policy_rule({"*"}, {""}, {"secrets"})})));
  o.role_bindings.push_back(
      role_binding("staging", "esdb", "Role", "esdb", json::array({sa_subject("esdb")})));
  o.role_bindings.push_back(
      role_binding("prod", "admins", "Role", "esdb", json::array({group_subject("admins")})));
  o.cluster_roles.push_back(cluster_role(
      "system:discovery",
      json::array({url_rule({"get"}, {"/api", "/api/*", "/apis", "/apis/*", "/version"})})));
  o.cluster_roles.push_back(cluster_role(
      "self-review",
      json::array({policy_rule({"create"}, {"authorization.k8s.io"},
                               {"selfsubjectaccessreviews", "selfsubjectrulesreviews"})})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("system:discovery", "system:discovery",
                           json::array({group_subject("system:authenticated")})));
  o.cluster_role_bindings.push_back(cluster_role_binding(
      "self-review", "self-review", json::array({group_subject("system:authenticated")})));

  UserInfo sa = service_account_user("prod", "esdb");
  json expected = json::parse(R"({
    "resourceRules": [
      {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
       "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
      {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]},
      {"verbs": ["list", "watch"], "apiGroups": ["discovery.k8s.io"],
       "resources": ["endpointslices"]},
      {"verbs": ["get", "update"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
       "resourceNames": ["esdb-leader"]}
    ],
    "nonResourceRules": [
      {"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/version"]}
    ],
    "incomplete": false
  })");
  CHECK(rules_review_status(sa, "prod", o) == expected);

  // In another namespace only the ClusterRoleBindings' rules apply to this account.
  json in_kube_system = rules_review_status(sa, "kube-system", o);
  CHECK(in_kube_system["resourceRules"].size() == 1);
  CHECK(in_kube_system["resourceRules"][0]["resources"][0] == "selfsubjectaccessreviews");
  CHECK(in_kube_system["nonResourceRules"] == expected["nonResourceRules"]);
  CHECK(in_kube_system["incomplete"] == false);
  CHECK_FALSE(in_kube_system.contains("evaluationError"));
}

TEST_CASE("rbac: rules_review_status of a user with no bindings has empty lists") {
  json status = rules_review_status(UserInfo{"nobody", {}}, "prod", esdb_objects());
  CHECK(status == json::parse(R"({"resourceRules":[],"nonResourceRules":[],"incomplete":false})"));
}

TEST_CASE("rbac: rules_review_status puts a rule with resources and URLs in both lists") {
  RbacObjects o;
  json both = policy_rule({"get"}, {""}, {"pods"});
  both["nonResourceURLs"] = {"/healthz"};
  o.cluster_roles.push_back(cluster_role("both", json::array({both})));
  o.cluster_role_bindings.push_back(
      cluster_role_binding("b", "both", json::array({user_subject("u")})));
  json status = rules_review_status(UserInfo{"u", {}}, "prod", o);
  CHECK(status["resourceRules"] ==
        json::parse(R"([{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}])"));
  CHECK(status["nonResourceRules"] ==
        json::parse(R"([{"verbs":["get"],"nonResourceURLs":["/healthz"]}])"));
}

TEST_CASE("rbac: rules_review_status reports missing roles in evaluationError, still complete") {
  RbacObjects o = esdb_objects();
  o.role_bindings.push_back(
      role_binding("prod", "gone", "Role", "gone", json::array({sa_subject("esdb")})));
  UserInfo sa = service_account_user("prod", "esdb");
  json one = rules_review_status(sa, "prod", o);
  CHECK(one["resourceRules"].size() == 2);
  CHECK(one["incomplete"] == false);
  CHECK(one["evaluationError"] == R"(role.rbac.authorization.k8s.io "gone" not found)");

  // Several distinct errors are bracketed, duplicates collapsed, in evaluation order.
  o.cluster_role_bindings.push_back(
      cluster_role_binding("c", "gone-cluster", json::array({sa_subject("esdb", "prod")})));
  o.role_bindings.push_back(
      role_binding("prod", "gone-again", "Role", "gone", json::array({sa_subject("esdb")})));
  o.role_bindings.push_back(
      role_binding("prod", "weird", "Thing", "t", json::array({sa_subject("esdb")})));
  json many = rules_review_status(sa, "prod", o);
  CHECK(
      many["evaluationError"] ==
      R"([clusterrole.rbac.authorization.k8s.io "gone-cluster" not found, role.rbac.authorization.k8s.io "gone" not found, unsupported role reference kind: "Thing"])");
  // A binding that does not apply to the user does not report its missing role.
  CHECK_FALSE(rules_review_status(UserInfo{"nobody", {}}, "prod", o).contains("evaluationError"));
  // authorize() is unaffected: found rules still allow, and the errors are not a reason.
  CHECK(allowed(sa, resource_request("get", "", "pods", "prod", "esdb-0"), o));
  CHECK(authorize(sa, resource_request("get", "", "secrets", "prod", "s"), o).reason.empty());
}
