// The one list of required permissions (kube/permissions.h) for several configurations, and that
// each of its three users -- the plugin's RBAC self-check, `esk8s discover` and `esk8s doctor` --
// reports a permission of that list when it is missing.
#include "doctor_fixture.h"

#include <string>
#include <vector>

#include "cli/discover_command.h"
#include "discovery/kubernetes_source.h"
#include "kube/permissions.h"
#include "plugin/permission_needs.h"

using esk8s::kube::Permission;
using esk8s::kube::PermissionNeeds;
using esk8s::kube::PermissionPurpose;
using esk8s::kube::required_permissions;

namespace {

// "verb resource.group ns[/name]" per permission, to compare whole lists at once.
std::vector<std::string> lines(const std::vector<Permission>& ps) {
  std::vector<std::string> out;
  for (const Permission& p : ps) {
    out.push_back(p.verb + " " + p.resource_name() + " " + p.namespace_name +
                  (p.name.empty() ? "" : "/" + p.name) + (p.optional ? " optional" : ""));
  }
  return out;
}

esk8s::plugin::Config base_config() {
  esk8s::plugin::Config c;
  c.namespace_name = "esdb";
  c.cluster_size = 3;
  c.ready_mode = esk8s::plugin::ReadyMode::kAuto;
  c.events = true;
  return c;
}

}  // namespace

TEST_CASE("permissions: the default configuration needs discovery, pod, StatefulSet, Events") {
  const auto ps = required_permissions(esk8s::plugin::permission_needs(base_config()));
  CHECK(lines(ps) == std::vector<std::string>{
                         "list endpointslices.discovery.k8s.io esdb",
                         "watch endpointslices.discovery.k8s.io esdb",
                         "get pods esdb",
                         "get statefulsets.apps esdb",
                         "create events.events.k8s.io esdb optional",
                         "patch events.events.k8s.io esdb optional",
                     });
  CHECK(ps[0].rbac_file == "rbac/role.yaml");
  CHECK(ps[0].purpose == PermissionPurpose::kDiscovery);
}

TEST_CASE("permissions: peer namespaces, kubernetes-csr, the Lease and Events off") {
  esk8s::plugin::Config c = base_config();
  c.peer_namespaces = {"dr"};
  c.ready_mode = esk8s::plugin::ReadyMode::kQuorum;  // with a cluster size: no pod reads
  c.tls_mode = esk8s::plugin::TlsMode::kKubernetesCsr;
  c.events = false;
  c.disruption_lease_namespace = "esdb";
  c.disruption_lease_name = "esk8s-disruption";
  const auto ps = required_permissions(esk8s::plugin::permission_needs(c));
  CHECK(lines(ps) == std::vector<std::string>{
                         "list endpointslices.discovery.k8s.io esdb",
                         "watch endpointslices.discovery.k8s.io esdb",
                         "list endpointslices.discovery.k8s.io dr",
                         "watch endpointslices.discovery.k8s.io dr",
                         "create certificatesigningrequests.certificates.k8s.io ",
                         "get certificatesigningrequests.certificates.k8s.io ",
                         "watch certificatesigningrequests.certificates.k8s.io ",
                         "create leases.coordination.k8s.io esdb",
                         "get leases.coordination.k8s.io esdb/esk8s-disruption",
                         "update leases.coordination.k8s.io esdb/esk8s-disruption",
                     });
  CHECK(ps[2].purpose == PermissionPurpose::kPeerDiscovery);
  CHECK(ps[2].rbac_file == "rbac/clusterrole.yaml and rbac/rolebinding-per-namespace.yaml");
  CHECK(ps[4].where() == "cluster-wide");
  CHECK(ps[4].rbac_file == "rbac/csr.yaml");
  CHECK(ps[8].rbac_file == "rbac/disruption-lease.yaml");
}

TEST_CASE("permissions: static discovery reads nothing of the API but what TLS needs") {
  esk8s::plugin::Config c = base_config();
  c.discovery = esk8s::plugin::DiscoveryMode::kStatic;
  c.cluster_size.reset();
  CHECK(required_permissions(esk8s::plugin::permission_needs(c)).empty());
  c.tls_mode = esk8s::plugin::TlsMode::kKubernetesCsr;
  CHECK(required_permissions(esk8s::plugin::permission_needs(c)).size() == 3);
  PermissionNeeds only_pods;
  only_pods.own_namespace = "a";
  only_pods.own_workload = true;
  CHECK(lines(required_permissions(only_pods)) ==
        std::vector<std::string>{"get pods a", "get statefulsets.apps a"});
}

TEST_CASE("permissions: the plugin's self-check names a missing permission of the list") {
  PermissionNeeds needs;
  needs.own_namespace = "esdb";
  needs.discovery_namespaces = {"esdb", "dr"};
  std::vector<esk8s::discovery::PermissionCheck> checks;
  for (Permission& p : required_permissions(needs)) checks.push_back({p, true, ""});
  checks[3].allowed = false;  // watch endpointslices in dr
  auto missing = esk8s::discovery::KubernetesSource::describe_missing(
      checks, "system:serviceaccount:esdb:esdb", true);
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].rfind(
            "cannot watch endpointslices.discovery.k8s.io in namespace \"dr\" as "
            "system:serviceaccount:esdb:esdb; apply ",
            0) == 0);
}

TEST_CASE("permissions: esk8s discover words a missing permission of the list") {
  esk8s::plugin::Config c = base_config();
  c.disruption_lease_namespace = "esdb";
  c.disruption_lease_name = "guard";
  const auto ps = required_permissions(esk8s::plugin::permission_needs(c));
  const Permission& lease_get = ps.at(ps.size() - 2);
  REQUIRE(lease_get.resource == "leases");
  CHECK(esk8s::cli::missing_permission_sentence(c, lease_get, "u") ==
        "cannot get leases.coordination.k8s.io in namespace \"esdb\" as u (needed for "
        "ESK8S_DISRUPTION_LEASE=esdb/guard: the disruption guard's Lease); apply "
        "rbac/disruption-lease.yaml");
  const Permission& pods = ps.at(2);
  REQUIRE(pods.resource == "pods");
  CHECK(contains(esk8s::cli::missing_permission_sentence(c, pods, "u"),
                 "cannot get pods in namespace \"esdb\" as u (needed for ESK8S_READY_MODE=auto)"));
}

TEST_CASE("permissions: esk8s doctor checks the Lease and reports it missing with a command") {
  Fixture f;
  f.config()["ESK8S_DISRUPTION_LEASE"] = "esdb/esk8s-disruption";
  f.grant_all();
  const auto needs = needed_permissions(f.workload());
  const auto from_list =
      required_permissions(esk8s::cli::doctor::permission_needs_of(f.workload()));
  REQUIRE(needs.size() == from_list.size());
  for (size_t i = 0; i < needs.size(); ++i) {
    CHECK(needs[i].verb == from_list[i].verb);
    CHECK(needs[i].resource == from_list[i].resource);
    CHECK(needs[i].namespace_name == from_list[i].namespace_name);
  }
  bool seen = false;
  for (auto& r : f.obs.permissions->results) {
    if (r.need.resource == "leases" && r.need.verb == "update") {
      r.allowed = false;
      seen = true;
      CHECK(r.need.name == "esk8s-disruption");
      CHECK(subject_access_review(f.workload(), r.need)["spec"]["resourceAttributes"]["name"] ==
            "esk8s-disruption");
    }
  }
  REQUIRE(seen);
  const std::vector<Finding> findings = f.findings();
  INFO(describe(findings));
  int missing = 0;
  for (const Finding& x : findings) {
    if (x.check != "rbac.missing") continue;
    ++missing;
    CHECK(x.severity == Severity::kError);
    CHECK(x.message ==
          "system:serviceaccount:esdb:esdb cannot update leases.coordination.k8s.io in "
          "namespace \"esdb\"");
    CHECK(contains(x.fix, "rbac/disruption-lease.yaml"));
    CHECK(contains(x.command, "LEASE_NAME/esk8s-disruption/g"));
  }
  CHECK(missing == 1);
}
