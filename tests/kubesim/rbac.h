// RBAC authorization for kubesim, the Kubernetes API server simulator the tests run esk8s
// against. It decides requests the way kube-apiserver's RBAC authorizer does, from the
// rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and ClusterRoleBinding objects the
// simulator stores as JSON, and renders what the real server returns around that decision: the
// message of a 403 Status and the status of a SelfSubjectRulesReview.
//
// Contract (Kubernetes semantics, https://kubernetes.io/docs/reference/access-authn-authz/rbac/):
//  - Deny by default; rules only add permissions; there are no deny rules.
//  - A ClusterRoleBinding grants its ClusterRole's rules in every namespace and at cluster scope.
//    A RoleBinding in namespace N grants the rules of the Role named by roleRef in N, or of the
//    ClusterRole named by roleRef, to requests in namespace N only. Missing roles grant nothing;
//    a ClusterRoleBinding whose roleRef is a Role grants nothing (there is no Role to find).
//  - Subjects: User matches the user's name, Group one of the user's groups, ServiceAccount the
//    user "system:serviceaccount:<namespace>:<name>", where namespace defaults to the
//    RoleBinding's (a ServiceAccount subject of a ClusterRoleBinding needs an explicit namespace).
//  - Rule matching follows Kubernetes' evaluation helpers exactly: verbs and apiGroups match
//    literally or by "*"; resources match "*" (any resource and any subresource), the literal
//    "<resource>" (no subresource) or "<resource>/<subresource>", or "*/<subresource>".
//    "<resource>/*" is NOT a wildcard in Kubernetes and matches only a subresource literally named
//    "*". A non-empty resourceNames requires the request's name to be listed, so it never allows a
//    request without a name (list, watch, create, deletecollection).
//  - Non-resource requests (resource_request == false) are cluster-scoped, whatever
//    namespace_name says: only ClusterRoleBindings can allow them. nonResourceURLs match "*", the
//    exact path, or a path starting with the entry minus its trailing "*"s ("/healthz/*" matches
//    "/healthz/etcd" but not "/healthz").
//  - Malformed objects (missing fields, wrong JSON types) never throw: a binding, subject or rule
//    that is malformed is skipped and grants nothing; the well-formed parts still apply.
//
// Not modelled, on purpose:
//  - ClusterRole aggregationRule is ignored: in a real cluster a controller copies the selected
//    roles' rules into `rules`; here only the stored `rules` count.
//  - The system:masters group: kube-apiserver allows it in a separate authorizer placed before
//    RBAC, so authorize() does not; a caller modelling the whole authorizer chain checks it first.
//  - Other authorizers (Node, Webhook, ABAC).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kubesim {

struct UserInfo {
  std::string name;                 // "admin", "system:serviceaccount:prod:esdb"
  std::vector<std::string> groups;  // e.g. "system:serviceaccounts", "system:authenticated"
};

// The user a service account's token authenticates as: name
// "system:serviceaccount:<ns>:<name>", groups "system:serviceaccounts",
// "system:serviceaccounts:<ns>" and "system:authenticated" (in that order).
UserInfo service_account_user(const std::string& ns, const std::string& name);

struct RequestAttributes {
  bool resource_request = true;  // false for non-resource URLs such as /version, /api, /healthz
  std::string verb;              // get list watch create update patch delete deletecollection
                                 // (resource requests); get post put ... (non-resource requests)
  std::string api_group;         // "" for core, "apps", "discovery.k8s.io", ...
  std::string resource;          // plural, e.g. "endpointslices"
  std::string subresource;       // "", "status", "scale", ...
  std::string namespace_name;    // "" for cluster-scoped requests
  std::string name;              // "" for list/watch/create without a name
  std::string path;              // request path; used by non-resource requests
};

// The RBAC objects as stored by the API server, as rbac.authorization.k8s.io/v1 JSON. The vector
// an object is in gives its kind (its own "kind" field is not consulted). Bindings are evaluated
// in vector order, ClusterRoleBindings first, as the real authorizer does with its listers.
struct RbacObjects {
  std::vector<nlohmann::json> roles, cluster_roles, role_bindings, cluster_role_bindings;
};

struct Decision {
  bool allowed = false;
  // When allowed, the real authorizer's reason naming the first binding that allowed it, e.g.
  //   RBAC: allowed by RoleBinding "esdb/prod" of Role "esdb" to ServiceAccount "esdb/prod"
  // (a RoleBinding is "<name>/<namespace>", a ServiceAccount "<name>/<namespace>"). Empty when
  // denied.
  std::string reason;
};

// Decides `attrs` for `user` from `objects` as the RBAC authorizer does (see the contract above).
Decision authorize(const UserInfo& user, const RequestAttributes& attrs,
                   const RbacObjects& objects);

// The `message` of the 403 Status kube-apiserver returns when `attrs` is denied for `user`:
//   <qualified resource>[ "<name>"] is forbidden: User "<user>" cannot <verb> resource
//     "<resource>[/<subresource>]" in API group "<group>" (in the namespace "<ns>"|at the cluster
//     scope)
//   forbidden: User "<user>" cannot <verb> path "<path>"        (non-resource requests)
// where the qualified resource is "<resource>.<group>", or "<resource>" for the core group.
// Quoted values are quoted as Go's %q does, and "&", "<", ">" in the part after "forbidden: " are
// HTML-escaped, as the real server does.
std::string forbidden_message(const UserInfo& user, const RequestAttributes& attrs);

// The `status` of a SelfSubjectRulesReview (authorization.k8s.io/v1) for `user` in namespace `ns`:
// every rule of every binding that applies to the user in `ns` (ClusterRoleBindings, then the
// RoleBindings in `ns`), in evaluation order and without merging, as
//   {"resourceRules":[{"verbs":[...],"apiGroups":[...],"resources":[...],"resourceNames":[...]}],
//    "nonResourceRules":[{"verbs":[...],"nonResourceURLs":[...]}], "incomplete":false}
// A rule with resources becomes a resourceRule, a rule with nonResourceURLs a nonResourceRule.
// As in the v1 API, "verbs" and the two lists are always present while apiGroups, resources,
// resourceNames and nonResourceURLs are omitted when empty. "evaluationError" is present when a
// binding that applies names a role that does not exist (e.g.
// `role.rbac.authorization.k8s.io "esdb" not found`; several distinct errors are joined as
// "[a, b]"); the rules found are still listed and "incomplete" stays false, as with the real RBAC
// authorizer. The real API rejects an empty namespace with 400; here `ns == ""` lists only the
// ClusterRoleBindings' rules, and the caller is expected to reject it first.
nlohmann::json rules_review_status(const UserInfo& user, const std::string& ns,
                                   const RbacObjects& objects);

}  // namespace kubesim
