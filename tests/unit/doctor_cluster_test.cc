// esk8s doctor on clusters that span namespaces (issue 18): the example multi-namespace layout
// (esdb-a runs esdb-0 and esdb-1, esdb-b runs esdb-0, ESK8S_CLUSTER_SIZE=3 everywhere, each
// namespace naming the other in ESK8S_PEER_NAMESPACES) is judged as one cluster of three, and a
// fix never names a cluster size below the members that exist. Built from doctor_fixture.h's
// good objects with the overlay's patches applied.
#include "tests/unit/doctor_fixture.h"

#include <set>

namespace {

// The overlay's member/ component and peers.yaml, applied to one namespace's fixture.
void join_cluster(Fixture& f, const std::string& peer) {
  f.config()["ESK8S_PEER_NAMESPACES"] = peer;
  f.config()["ESK8S_CLUSTER_NAME"] = "esdb.esdb-a";
  f.sts()["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
         ["requiredDuringSchedulingIgnoredDuringExecution"][0]["namespaces"] = {"esdb-a", "esdb-b"};
  f.grant_all();  // now also list+watch in the peer namespace
}

// A /members answer of `pod` in `ns` that sees `alive` (identities) alive.
MemberFetch view(const std::string& ns, int pod, int net, const std::vector<std::string>& alive) {
  MemberFetch f;
  f.target = {"esdb-" + std::to_string(pod),
              "http://10.0." + std::to_string(net) + "." + std::to_string(10 + pod) +
                  ":2115/members",
              ns};
  f.reachable = true;
  f.status = 200;
  json j = {{"self", identity(pod, ns)}, {"members", json::array()}};
  for (const std::string& id : alive) j["members"].push_back({{"identity", id}, {"state", "alive"}});
  f.body = j.dump();
  return f;
}

const std::vector<std::string> kAllThree = {identity(0, "esdb-a"), identity(1, "esdb-a"),
                                            identity(0, "esdb-b")};

// The multi-namespace example, healthy: every member sees all three alive.
struct Multi {
  Fixture a{"esdb-a", 2, 1};
  Fixture b{"esdb-b", 1, 2};
  std::vector<MemberFetch> members = {view("esdb-a", 0, 1, kAllThree),
                                      view("esdb-a", 1, 1, kAllThree),
                                      view("esdb-b", 0, 2, kAllThree)};
  std::map<std::string, std::string> unreadable;
  bool read_a = true;  // false: the doctor could not read esdb-a

  Multi() {
    join_cluster(a, "esdb-b");
    join_cluster(b, "esdb-a");
  }

  // What the doctor reports for the namespaces it read, as doctor_command runs the checks.
  std::vector<Finding> findings() const {
    std::map<std::string, NamespaceObjects> read = {{"esdb-b", b.ns}};
    std::vector<Workload> workloads = {b.workload()};
    if (read_a) {
      read["esdb-a"] = a.ns;
      workloads.push_back(a.workload());
    }
    std::vector<Finding> out;
    for (Cluster& c : assemble_clusters(workloads, unreadable)) {
      for (const MemberFetch& m : members) {
        if (read.count(m.target.namespace_name)) c.members.push_back(m);
      }
      for (const Workload& w : c.workloads) {
        const Fixture& f = w.namespace_name == "esdb-a" ? a : b;
        auto found = check_workload(w, c, f.ns, f.obs);
        out.insert(out.end(), found.begin(), found.end());
      }
      auto whole = check_cluster(c, read);
      out.insert(out.end(), whole.begin(), whole.end());
    }
    return out;
  }
};

std::vector<Finding> of_check(const std::vector<Finding>& fs, const std::string& check) {
  std::vector<Finding> out;
  for (const Finding& f : fs) {
    if (f.check == check) out.push_back(f);
  }
  return out;
}

std::set<std::string> checks_of(const std::vector<Finding>& fs) {
  std::set<std::string> out;
  for (const Finding& f : fs) out.insert(f.check);
  return out;
}

}  // namespace

TEST_CASE("doctor: the multi-namespace example is one cluster of three with no error") {
  Multi m;
  auto clusters = assemble_clusters({m.a.workload(), m.b.workload()}, {});
  REQUIRE(clusters.size() == 1);
  CHECK(clusters[0].replicas() == 3);
  CHECK(clusters[0].namespaces == std::vector<std::string>{"esdb-a", "esdb-b"});
  CHECK(clusters[0].object() == "StatefulSets esdb-a/esdb, esdb-b/esdb");
  auto fs = m.findings();
  CHECK_MESSAGE(exit_code(fs) == 0, describe(fs));
  // The only finding: budgets cannot span namespaces (the overlay documents it).
  CHECK_MESSAGE(checks_of(fs) == std::set<std::string>{"pdb.spans-namespaces"}, describe(fs));
  auto spans = of_check(fs, "pdb.spans-namespaces");
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].severity == Severity::kWarning);
  CHECK(contains(spans[0].message, "(esdb-a: 1, esdb-b: 1) together let 2 of 3 members"));
  CHECK(contains(spans[0].fix, "one namespace at a time"));
}

TEST_CASE("doctor: the old advice on a multi-namespace cluster is gone (size 1, maxUnavailable "
          "1 of 1, even replicas)") {
  Multi m;
  auto fs = m.findings();
  for (const char* check : {"replicas.cluster-size", "replicas.even", "pdb.too-permissive",
                            "pdb.no-spare-member"}) {
    CHECK_MESSAGE(of_check(fs, check).empty(), check << ":\n" << describe(fs));
  }
  for (const Finding& f : fs) CHECK_MESSAGE(!contains(f.fix, "ESK8S_CLUSTER_SIZE=\"1\""), f.fix);
}

TEST_CASE("doctor: one namespace whose peer namespace cannot be read gets no size advice") {
  Multi m;
  m.read_a = false;
  m.unreadable["esdb-a"] = "HTTP 403: forbidden";
  auto fs = m.findings();
  CHECK_MESSAGE(exit_code(fs) == 0, describe(fs));
  CHECK(of_check(fs, "replicas.cluster-size").empty());
  CHECK(of_check(fs, "pdb.no-spare-member").empty());  // ESK8S_CLUSTER_SIZE=3 counts them
  auto unread = of_check(fs, "cluster.namespace-unread");
  REQUIRE_MESSAGE(unread.size() == 1, describe(fs));
  CHECK(unread[0].object == "Namespace esdb-a");
  CHECK(contains(unread[0].message, "HTTP 403: forbidden"));
}

TEST_CASE("doctor: a cluster-size fix never names a size below the members that exist") {
  Multi m;
  m.a.config()["ESK8S_CLUSTER_SIZE"] = "1";
  m.b.config()["ESK8S_CLUSTER_SIZE"] = "1";
  auto sizes = of_check(m.findings(), "replicas.cluster-size");
  REQUIRE(sizes.size() == 2);
  for (const Finding& f : sizes) {
    CHECK(f.severity == Severity::kError);
    CHECK(contains(f.message, "the cluster has 3 members in all (esdb-a/esdb: 2, esdb-b/esdb: 1)"));
    CHECK(contains(f.fix, "ESK8S_CLUSTER_SIZE=\"3\""));
  }
  // One namespace, size 2 under 3 replicas, while a fourth member (a pod the StatefulSet no
  // longer counts) is still alive in the views: the fix names 4, never 3 or 2.
  Fixture f;
  f.config()["ESK8S_CLUSTER_SIZE"] = "2";
  std::vector<std::string> four = {identity(0), identity(1), identity(2), identity(3)};
  for (int i = 0; i < 3; ++i) f.members[i] = view("esdb", i, 0, four);
  auto x = of_check(f.findings(), "replicas.cluster-size");
  REQUIRE(x.size() == 1);
  CHECK(contains(x[0].fix, "ESK8S_CLUSTER_SIZE=\"4\""));
  // Above the members: scale up first; lowering names the members that exist.
  Fixture g;
  g.config()["ESK8S_CLUSTER_SIZE"] = "5";
  auto y = of_check(g.findings(), "replicas.cluster-size");
  REQUIRE(y.size() == 1);
  CHECK(contains(y[0].fix, "scale the StatefulSet up to 5 members"));
  CHECK(contains(y[0].fix, "ESK8S_CLUSTER_SIZE=\"3\""));
  // Size 4 over 3 replicas while 4 members are alive: scale up, and never "set it to 4".
  Fixture h;
  h.config()["ESK8S_CLUSTER_SIZE"] = "4";
  for (int i = 0; i < 3; ++i) h.members[i] = view("esdb", i, 0, four);
  auto z = of_check(h.findings(), "replicas.cluster-size");
  REQUIRE(z.size() == 1);
  CHECK(z[0].fix == "scale the StatefulSet up to 4 members in all");
}

TEST_CASE("doctor: ESK8S_CLUSTER_SIZE unset in a cluster spanning namespaces is an error") {
  Multi m;
  m.b.config().erase("ESK8S_CLUSTER_SIZE");
  m.b.grant_all();
  auto fs = m.findings();
  auto x = of_check(fs, "replicas.cluster-size");
  REQUIRE_MESSAGE(x.size() == 1, describe(fs));
  CHECK(x[0].object == "StatefulSet esdb-b/esdb");
  CHECK(contains(x[0].message, "count a quorum of its own spec.replicas (1)"));
  CHECK(contains(x[0].fix, "ESK8S_CLUSTER_SIZE=\"3\""));
}

TEST_CASE("doctor: members that do not watch a namespace of their cluster are an error") {
  Multi m;
  m.b.config().erase("ESK8S_PEER_NAMESPACES");
  m.b.grant_all();
  auto fs = m.findings();
  auto x = of_check(fs, "cluster.peer-namespaces");
  REQUIRE_MESSAGE(x.size() == 1, describe(fs));
  CHECK(x[0].severity == Severity::kError);
  CHECK(x[0].object == "StatefulSet esdb-b/esdb");
  CHECK(contains(x[0].fix, "add esdb-a to ESK8S_PEER_NAMESPACES"));
}

TEST_CASE("doctor: a peer namespace without members is a warning") {
  Multi m;
  m.a.config()["ESK8S_PEER_NAMESPACES"] = "esdb-b,esdb-c";
  m.a.grant_all();
  auto clusters = assemble_clusters({m.a.workload(), m.b.workload()}, {});
  REQUIRE(clusters.size() == 1);
  NamespaceObjects empty;
  empty.name = "esdb-c";
  auto fs = check_cluster(clusters[0], {{"esdb-a", m.a.ns}, {"esdb-b", m.b.ns}, {"esdb-c", empty}});
  auto x = of_check(fs, "cluster.peer-namespace-empty");
  REQUIRE_MESSAGE(x.size() == 1, describe(fs));
  CHECK(contains(x[0].message, "names namespace esdb-c"));
}

TEST_CASE("doctor: namespaces with different cluster names are an error") {
  Multi m;
  m.b.config().erase("ESK8S_CLUSTER_NAME");  // default esdb.esdb-b
  auto fs = m.findings();
  auto x = of_check(fs, "cluster.name-mismatch");
  REQUIRE_MESSAGE(x.size() == 1, describe(fs));
  CHECK(contains(x[0].message, "esdb-b/esdb: esdb.esdb-b"));
  CHECK(contains(x[0].fix, "e.g. esdb.esdb-a"));
}

TEST_CASE("doctor: an even number of members is counted over all namespaces") {
  Multi m;
  m.b.sts()["spec"]["replicas"] = 2;
  m.a.config()["ESK8S_CLUSTER_SIZE"] = "4";
  m.b.config()["ESK8S_CLUSTER_SIZE"] = "4";
  auto fs = m.findings();
  auto x = of_check(fs, "replicas.even");
  REQUIRE_MESSAGE(x.size() == 1, describe(fs));
  CHECK(x[0].object == "StatefulSets esdb-a/esdb, esdb-b/esdb");
  CHECK(contains(x[0].message, "4 members in all"));
}

TEST_CASE("doctor: a budget is judged against the whole cluster, and one member has none to "
          "spare") {
  Multi m;
  m.a.ns.pdbs[0]["spec"]["maxUnavailable"] = 2;  // 2 of the cluster's 3
  auto x = of_check(m.findings(), "pdb.too-permissive");
  REQUIRE(x.size() == 1);
  CHECK(x[0].object == "PodDisruptionBudget esdb-a/esdb");
  CHECK(contains(x[0].fix, "maxUnavailable: 1"));
  // A cluster of one: no budget makes it safe, and the fix is not the value it already has.
  Fixture one("esdb", 1);
  one.config()["ESK8S_CLUSTER_SIZE"] = "1";
  auto fs = one.findings();
  CHECK(of_check(fs, "pdb.too-permissive").empty());
  auto spare = of_check(fs, "pdb.no-spare-member");
  REQUIRE_MESSAGE(spare.size() == 1, describe(fs));
  CHECK(spare[0].severity == Severity::kWarning);
  CHECK(!contains(spare[0].fix, "maxUnavailable: 1"));
}

TEST_CASE("doctor: anti-affinity that does not look across the cluster's namespaces is a "
          "warning") {
  Multi m;
  m.a.sts()["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
           ["requiredDuringSchedulingIgnoredDuringExecution"][0]
               .erase("namespaces");
  auto x = of_check(m.findings(), "placement.anti-affinity-namespaces");
  REQUIRE(x.size() == 1);
  CHECK(x[0].object == "StatefulSet esdb-a/esdb");
  CHECK(contains(x[0].fix, "esdb-a, esdb-b"));
}

TEST_CASE("doctor: two members of different namespaces on one node are an error") {
  Multi m;
  m.b.ns.pods[0]["spec"]["nodeName"] = "node-1-0";  // esdb-a/esdb-0's node
  auto x = of_check(m.findings(), "placement.same-node");
  REQUIRE(x.size() == 1);
  CHECK(contains(x[0].message, "pods esdb-a/esdb-0, esdb-b/esdb-0 all run on node node-1-0"));
}

TEST_CASE("doctor: the members' views are compared over all namespaces of the cluster") {
  Multi m;
  m.members[2] = view("esdb-b", 0, 2, {identity(0, "esdb-b")});  // esdb-b's member is alone
  auto fs = m.findings();
  auto alone = of_check(fs, "members.no-quorum");
  REQUIRE_MESSAGE(alone.size() == 1, describe(fs));
  CHECK(alone[0].object == "Pod esdb-b/esdb-0");
  CHECK(contains(alone[0].message, "sees 1 of 3 members alive {esdb-b/esdb-0}"));
  auto disagree = of_check(fs, "members.views-disagree");
  REQUIRE(disagree.size() == 1);
  CHECK_MESSAGE(contains(disagree[0].message, "esdb-a/esdb-1 sees {esdb-a/esdb-0, esdb-a/esdb-1, "
                                              "esdb-b/esdb-0}"),
                disagree[0].message);
}

TEST_CASE("doctor: workloads form one cluster only with the same Service and a watched "
          "namespace") {
  Multi m;
  Fixture other("esdb-c", 3, 3);  // watches only itself: a cluster of its own
  Fixture renamed("esdb-b", 3, 4);
  renamed.config()["ESK8S_SERVICE"] = "events";  // in a namespace esdb-a watches, another Service
  renamed.headless()["metadata"]["name"] = "events";
  renamed.sts()["spec"]["serviceName"] = "events";
  auto clusters = assemble_clusters(
      {other.workload(), m.b.workload(), renamed.workload(), m.a.workload()}, {});
  REQUIRE(clusters.size() == 3);
  CHECK(clusters[0].object() == "StatefulSets esdb-a/esdb, esdb-b/esdb");
  CHECK(clusters[1].object() == "StatefulSet esdb-b/esdb");
  CHECK(clusters[1].workloads[0].setting("ESK8S_SERVICE") == "events");
  CHECK(clusters[2].object() == "StatefulSet esdb-c/esdb");
  CHECK(watched_namespaces(m.a.workload()) == std::vector<std::string>{"esdb-a", "esdb-b"});
}

TEST_CASE("doctor: a missing peer permission names the per-namespace binding and a command "
          "applying it; the own namespace names rbac/role.yaml") {
  Multi m;
  auto needs = needed_permissions(m.a.workload());
  // list+watch in esdb-a and esdb-b, get pods and statefulsets, create+patch events in esdb-a
  REQUIRE(needs.size() == 8);
  CHECK(needs[6].resource == "events");
  CHECK(needs[6].namespace_name == "esdb-a");
  CHECK(needs[0].rbac_file == "rbac/role.yaml");
  CHECK(needs[0].command == "sed -e 's/NAMESPACE/esdb-a/g' rbac/role.yaml | kubectl apply -f -");
  CHECK(needs[2].namespace_name == "esdb-b");
  CHECK(needs[2].rbac_file ==
        "rbac/clusterrole.yaml and rbac/rolebinding-per-namespace.yaml (RoleBinding "
        "esk8s-discovery-from-esdb-a in namespace esdb-b)");
  CHECK(needs[2].command ==
        "kubectl apply -f rbac/clusterrole.yaml && sed -e 's/PEER_NAMESPACE/esdb-b/g' -e "
        "'s/MEMBER_NAMESPACE/esdb-a/g' -e 's/SERVICE_ACCOUNT/esdb/g' "
        "rbac/rolebinding-per-namespace.yaml | kubectl apply -f -");
  for (auto& r : m.a.obs.permissions->results) r.allowed = r.need.namespace_name != "esdb-b";
  auto missing = of_check(m.findings(), "rbac.missing");
  REQUIRE(missing.size() == 2);
  CHECK(missing[0].command == needs[2].command);
  // Another service account: role.yaml's account is renamed too; a name that is not a plain
  // object name gets no command at all.
  m.a.sts()["spec"]["template"]["spec"]["serviceAccountName"] = "events";
  CHECK(needed_permissions(m.a.workload())[0].command ==
        "sed -e 's/NAMESPACE/esdb-a/g' -e 's/name: esdb$/name: events/' rbac/role.yaml | kubectl "
        "apply -f -");
  m.a.sts()["spec"]["template"]["spec"]["serviceAccountName"] = "x';reboot;'";
  CHECK(needed_permissions(m.a.workload())[0].command.empty());
}
