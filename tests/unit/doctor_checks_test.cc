// esk8s doctor's checks, one fixture per pitfall: each test starts from the good objects of
// examples/kubernetes (overlays/single-namespace, rendered with kubectl kustomize and embedded
// in doctor_fixture.h) plus what a healthy cluster shows (three Ready pods on three nodes, agreeing /members
// views, every permission granted), introduces exactly one pitfall and asserts exactly one new
// finding with its severity and fix.
#include "tests/unit/doctor_fixture.h"

#include <sstream>

#include "cli/doctor_report.h"

namespace {

// The findings of `bad` that the good fixture does not have.
std::vector<Finding> added(const Fixture& bad) {
  const auto good = Fixture().findings();
  std::vector<Finding> out;
  for (const Finding& f : bad.findings()) {
    bool known = std::any_of(good.begin(), good.end(), [&](const Finding& g) {
      return g.check == f.check && g.object == f.object && g.message == f.message;
    });
    if (!known) out.push_back(f);
  }
  return out;
}

// Exactly one new finding, of `check` and `severity`, with a why and a fix.
Finding only(const Fixture& bad, const std::string& check, Severity severity) {
  auto fs = added(bad);
  REQUIRE_MESSAGE(fs.size() == 1, describe(fs));
  CHECK(fs[0].check == check);
  CHECK(fs[0].severity == severity);
  CHECK(!fs[0].why.empty());
  CHECK(!fs[0].fix.empty());
  return fs[0];
}

}  // namespace

TEST_CASE("doctor: the example manifests of a healthy cluster give no finding at all") {
  Fixture f;
  auto w = f.workload();
  CHECK(w.name == "esdb");
  CHECK(w.setting("ESK8S_CLUSTER_SIZE") == "3");
  CHECK(w.setting_sources.at("ESK8S_READY_MODE") == "ConfigMap esdb/esk8s-config");
  auto fs = f.findings();
  CHECK_MESSAGE(fs.empty(), describe(fs));
  CHECK(exit_code(fs) == 0);
}

TEST_CASE("doctor: a namespace without an esk8s StatefulSet is an error finding") {
  Fixture f;
  f.container()["envFrom"] = json::array();
  f.container()["env"] = json::array();
  CHECK(find_workloads(f.ns).empty());
  Finding nf = no_workload_finding(f.ns);
  CHECK(nf.severity == Severity::kError);
  CHECK(nf.object == "Namespace esdb");
  CHECK(contains(nf.fix, "--namespace"));
}

TEST_CASE("doctor: an esk8s container is found by its env alone, and env overrides envFrom") {
  Fixture f;
  f.container()["envFrom"] = json::array();
  f.container()["env"].push_back({{"name", "ESK8S_READY_MODE"}, {"value", "quorum"}});
  auto w = f.workload();
  CHECK(w.setting("ESK8S_READY_MODE") == "quorum");
  CHECK(w.has_setting("ESK8S_POD_NAME"));  // from the downward API: set, value unknown
  CHECK(w.setting("ESK8S_POD_NAME", "?") == "?");
  Fixture g;
  g.container()["env"].push_back({{"name", "ESK8S_CLUSTER_SIZE"}, {"value", "5"}});
  CHECK(g.workload().setting("ESK8S_CLUSTER_SIZE") == "5");
}

TEST_CASE("doctor: an envFrom ConfigMap that does not exist is an error") {
  Fixture f;
  f.container()["envFrom"].push_back({{"configMapRef", {{"name", "gone"}}}});
  Finding x = only(f, "config.configmap-missing", Severity::kError);
  CHECK(x.object == "ConfigMap esdb/gone");
}

TEST_CASE("doctor: a StatefulSet without volumeClaimTemplates loses its data, an error") {
  Fixture f;
  f.sts()["spec"].erase("volumeClaimTemplates");
  Finding x = only(f, "storage.no-volume-claim-templates", Severity::kError);
  CHECK(x.object == "StatefulSet esdb/esdb");
  CHECK(contains(x.why, "lost"));
}

TEST_CASE("doctor: a claim template without a class and no default StorageClass is a warning") {
  Fixture f;
  f.sts()["spec"]["volumeClaimTemplates"][0]["spec"].erase("storageClassName");
  only(f, "storage.no-default-class", Severity::kWarning);
}

TEST_CASE("doctor: a claim template getting a default class that is not SSD-like is a warning") {
  Fixture f;
  f.sts()["spec"]["volumeClaimTemplates"][0]["spec"].erase("storageClassName");
  f.obs.storage_classes.push_back(
      {{"metadata",
        {{"name", "standard"},
         {"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
       {"provisioner", "kubernetes.io/aws-ebs"},
       {"parameters", {{"type", "st1"}}}});
  Finding x = only(f, "storage.default-class-not-ssd", Severity::kWarning);
  CHECK(contains(x.message, "StorageClass standard"));
  // The same default class with gp3 disks is fine.
  f.obs.storage_classes.back()["parameters"]["type"] = "gp3";
  CHECK(added(f).empty());
}

TEST_CASE("doctor: OrderedReady with ESK8S_READY_MODE=quorum is the startup deadlock, an error") {
  Fixture f;
  f.sts()["spec"].erase("podManagementPolicy");  // the API default is OrderedReady
  f.config()["ESK8S_READY_MODE"] = "quorum";
  Finding x = only(f, "statefulset.ordered-ready-quorum", Severity::kError);
  CHECK(contains(x.why, "38418"));
  CHECK(contains(x.fix, "ConfigMap esdb/esk8s-config"));
}

TEST_CASE("doctor: OrderedReady with ESK8S_READY_MODE auto or bootstrap-latch is info at most") {
  for (const char* mode : {"auto", "bootstrap-latch"}) {
    Fixture f;
    f.sts()["spec"]["podManagementPolicy"] = "OrderedReady";
    f.config()["ESK8S_READY_MODE"] = mode;
    only(f, "statefulset.ordered-ready", Severity::kInfo);
  }
}

TEST_CASE("doctor: a readiness probe that is not /health/ready is a warning") {
  Fixture f;
  f.container()["readinessProbe"]["httpGet"]["path"] = "/health/startup";
  Finding x = only(f, "probes.readinessProbe", Severity::kWarning);
  CHECK(contains(x.message, "/health/startup"));
}

TEST_CASE("doctor: a missing startup probe is a warning") {
  Fixture f;
  f.container().erase("startupProbe");
  only(f, "probes.startupProbe", Severity::kWarning);
}

TEST_CASE("doctor: a liveness probe on /health/ready is a warning") {
  Fixture f;
  f.container()["livenessProbe"]["httpGet"]["path"] = "/health/ready";
  only(f, "probes.livenessProbe", Severity::kWarning);
}

TEST_CASE("doctor: no required anti-affinity on kubernetes.io/hostname is a warning") {
  Fixture f;
  f.sts()["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
         ["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] =
      "topology.kubernetes.io/zone";
  only(f, "placement.anti-affinity", Severity::kWarning);
}

TEST_CASE("doctor: two members scheduled on the same node are an error") {
  Fixture f;
  f.ns.pods[2]["spec"]["nodeName"] = "node-a";
  Finding x = only(f, "placement.same-node", Severity::kError);
  CHECK(contains(x.message, "esdb-0, esdb-2"));
  CHECK(contains(x.message, "node-a"));
}

TEST_CASE("doctor: a container without resource requests is a warning") {
  Fixture f;
  f.container().erase("resources");
  Finding x = only(f, "resources", Severity::kWarning);
  CHECK(contains(x.message, "requests.cpu"));
}

TEST_CASE("doctor: an even number of replicas is a warning") {
  Fixture f;
  f.sts()["spec"]["replicas"] = 4;
  f.config()["ESK8S_CLUSTER_SIZE"] = "4";
  // The three running pods still see a quorum of 4 (3), so nothing else changes.
  Finding x = only(f, "replicas.even", Severity::kWarning);
  CHECK(contains(x.fix, "odd"));
}

TEST_CASE("doctor: ESK8S_CLUSTER_SIZE different from replicas is an error") {
  Fixture f;
  f.config()["ESK8S_CLUSTER_SIZE"] = "5";
  // The members' views (3 alive) still reach the quorum of 5 (3): only the mismatch is new.
  Finding x = only(f, "replicas.cluster-size", Severity::kError);
  CHECK(contains(x.message, "ESK8S_CLUSTER_SIZE=5"));
  CHECK(contains(x.fix, "ESK8S_CLUSTER_SIZE=\"3\""));
}

TEST_CASE("doctor: no preStop hook with --pre-stop is a warning") {
  Fixture f;
  f.container().erase("lifecycle");
  only(f, "lifecycle.pre-stop", Severity::kWarning);
}

TEST_CASE("doctor: a missing headless Service is an error") {
  Fixture f;
  f.ns.services.erase(f.ns.services.begin());
  Finding x = only(f, "service.missing", Severity::kError);
  CHECK(x.object == "Service esdb/esdb");
}

TEST_CASE("doctor: a governing Service with a cluster IP is an error") {
  Fixture f;
  f.headless()["spec"]["clusterIP"] = "10.96.0.12";
  Finding x = only(f, "service.not-headless", Severity::kError);
  CHECK(contains(x.message, "10.96.0.12"));
}

TEST_CASE("doctor: a headless Service without publishNotReadyAddresses is an error") {
  Fixture f;
  f.headless()["spec"].erase("publishNotReadyAddresses");
  Finding x = only(f, "service.publish-not-ready", Severity::kError);
  CHECK(x.why ==
        "DNS and EndpointSlices list only Ready pods, so members cannot find each other to "
        "become Ready");
  CHECK(contains(x.fix, "publishNotReadyAddresses\":true"));
}

TEST_CASE("doctor: service ports without names are a warning") {
  Fixture f;
  f.headless()["spec"]["ports"] = json::array({{{"port", 2114}}});
  only(f, "service.port-names", Severity::kWarning);
}

TEST_CASE("doctor: no PodDisruptionBudget selecting the pods is a warning") {
  Fixture f;
  f.ns.pdbs.clear();
  only(f, "pdb.missing", Severity::kWarning);
}

TEST_CASE("doctor: a PodDisruptionBudget letting a majority go is an error") {
  Fixture f;
  f.ns.pdbs[0]["spec"]["maxUnavailable"] = 2;
  Finding x = only(f, "pdb.too-permissive", Severity::kError);
  CHECK(x.object == "PodDisruptionBudget esdb/esdb");
  CHECK(contains(x.fix, "maxUnavailable: 1"));
  Fixture g;
  g.ns.pdbs[0]["spec"].erase("maxUnavailable");
  g.ns.pdbs[0]["spec"]["minAvailable"] = 1;
  only(g, "pdb.too-permissive", Severity::kError);
  Fixture h;
  h.ns.pdbs[0]["spec"]["maxUnavailable"] = "50%";  // ceil(1.5) = 2 of 3
  only(h, "pdb.too-permissive", Severity::kError);
}

TEST_CASE("doctor: the needed permissions follow discovery, peer namespaces and the TLS mode") {
  Fixture f;
  auto base = needed_permissions(f.workload());
  // list+watch endpointslices, get pods, get statefulsets, create+patch events (optional)
  REQUIRE(base.size() == 6);
  CHECK(base[0].verb == "list");
  CHECK(base[0].namespace_name == "esdb");
  CHECK(base[0].rbac_file == "rbac/role.yaml");
  f.config()["ESK8S_PEER_NAMESPACES"] = "dr";
  f.config()["ESK8S_TLS_MODE"] = "kubernetes-csr";
  f.config()["ESK8S_READY_MODE"] = "quorum";  // with ESK8S_CLUSTER_SIZE: no pod/sts reads
  auto more = needed_permissions(f.workload());
  REQUIRE(more.size() == 9);
  CHECK(more[7].resource == "events");
  CHECK(more[7].optional);
  f.config()["ESK8S_EVENTS"] = "off";
  CHECK(needed_permissions(f.workload()).size() == 7);
  CHECK(more[2].namespace_name == "dr");
  CHECK(contains(more[2].rbac_file, "rbac/rolebinding-per-namespace.yaml"));
  CHECK(more[4].resource == "certificatesigningrequests");
  CHECK(more[4].namespace_name.empty());
  CHECK(more[4].rbac_file == "rbac/csr.yaml");
  json sar = subject_access_review(f.workload(), more[0]);
  CHECK(sar["spec"]["user"] == "system:serviceaccount:esdb:esdb");
  CHECK(sar["spec"]["groups"][1] == "system:serviceaccounts:esdb");
  CHECK(sar["spec"]["resourceAttributes"]["group"] == "discovery.k8s.io");
}

TEST_CASE("doctor: a missing permission is one error naming verb, resource, namespace and file") {
  Fixture f;
  for (auto& r : f.obs.permissions->results) {
    if (r.need.verb == "watch" && r.need.resource == "endpointslices") r.allowed = false;
  }
  Finding x = only(f, "rbac.missing", Severity::kError);
  CHECK(x.message ==
        "system:serviceaccount:esdb:esdb cannot watch endpointslices.discovery.k8s.io in "
        "namespace \"esdb\"");
  CHECK(contains(x.fix, "rbac/role.yaml"));
}

TEST_CASE("doctor: a missing events permission is a warning naming the Role, never an error") {
  Fixture f;
  for (auto& r : f.obs.permissions->results) {
    if (r.need.resource == "events" && r.need.verb == "create") r.allowed = false;
  }
  Finding x = only(f, "rbac.events-missing", Severity::kWarning);
  CHECK(x.message ==
        "system:serviceaccount:esdb:esdb cannot create events.events.k8s.io in namespace \"esdb\"");
  CHECK(contains(x.fix, "rbac/role.yaml"));
  CHECK(contains(x.fix, "ESK8S_EVENTS=off"));
  CHECK(exit_code(f.findings()) == 0);
}

TEST_CASE("doctor: RBAC that cannot be reviewed is a warning saying the check was skipped") {
  Fixture f;
  f.obs.permissions->results.clear();
  f.obs.permissions->skipped = "the doctor's user may not create subjectaccessreviews";
  Finding x = only(f, "rbac.skipped", Severity::kWarning);
  CHECK(contains(x.message, "not checked"));
}

// files mode: the members' certificate in a mounted Secret.
struct FilesFixture : Fixture {
  esk8s::tls::CertAndKey ca = test_ca();
  FilesFixture() {
    config()["ESK8S_TLS_MODE"] = "files";
    config()["ESK8S_TLS_DIR"] = "/etc/esk8s/tls";
    auto& spec = sts()["spec"]["template"]["spec"];
    spec["volumes"].push_back({{"name", "tls"}, {"secret", {{"secretName", "esdb-tls"}}}});
    use({identity(0), identity(1), identity(2)}, {}, 30 * 24h);
  }
  void use(std::vector<std::string> dns, std::vector<std::string> ips,
           std::chrono::seconds validity) {
    esk8s::tls::CertSpec spec;
    spec.common_name = dns.empty() ? "x" : dns.front();
    spec.dns_names = std::move(dns);
    spec.ip_addresses = std::move(ips);
    spec.validity = validity;
    auto leaf = esk8s::tls::issue(spec, ca);
    REQUIRE(leaf.is_ok());
    ns.secrets["esdb-tls"] =
        secret({{"tls.crt", leaf->cert_pem}, {"tls.key", leaf->key_pem}, {"ca.crt", ca.cert_pem}});
  }
};

TEST_CASE("doctor: files mode with a good certificate gives no finding") {
  FilesFixture f;
  auto fs = f.findings();
  CHECK_MESSAGE(fs.empty(), describe(fs));
}

TEST_CASE("doctor: a certificate with a pod IP SAN is an error") {
  FilesFixture f;
  f.use({identity(0), identity(1), identity(2)}, {"10.0.0.10"}, 30 * 24h);
  Finding x = only(f, "tls.ip-san", Severity::kError);
  CHECK(x.object == "Secret esdb/esdb-tls");
  CHECK(contains(x.message, "10.0.0.10"));
}

TEST_CASE("doctor: a certificate missing a pod's identity SAN is an error") {
  FilesFixture f;
  f.use({identity(0), identity(1)}, {}, 30 * 24h);
  Finding x = only(f, "tls.identity-san", Severity::kError);
  CHECK(contains(x.message, identity(2)));
}

TEST_CASE("doctor: a certificate naming the pods only by wildcard is an error") {
  FilesFixture f;
  f.use({"*.esdb.esdb.svc.cluster.local"}, {}, 30 * 24h);
  Finding x = only(f, "tls.wildcard-identity", Severity::kError);
  CHECK(contains(x.why, "wildcard"));
}

TEST_CASE("doctor: a certificate expiring within 7 days is a warning, an expired one an error") {
  FilesFixture f;
  f.obs.now = kNow + 25 * 24h;
  only(f, "tls.expiring", Severity::kWarning);
  f.obs.now = kNow + 31 * 24h;
  only(f, "tls.expired", Severity::kError);
}

TEST_CASE("doctor: a CA certificate in a files-mode tls.crt is checked as a CA, not a member") {
  FilesFixture f;
  f.ns.secrets["esdb-tls"] = secret({{"tls.crt", f.ca.cert_pem}, {"tls.key", f.ca.key_pem}});
  CHECK_MESSAGE(added(f).empty(), describe(added(f)));
}

TEST_CASE("doctor: the local-ca CA is checked for expiry only") {
  Fixture f;
  auto ca = test_ca(10 * 24h);
  f.ns.secrets["esk8s-ca"] = secret({{"ca.crt", ca.cert_pem}, {"ca.key", ca.key_pem}});
  Finding x = only(f, "tls.ca-expiring", Severity::kWarning);
  CHECK(x.object == "Secret esdb/esk8s-ca");
}

TEST_CASE("doctor: a missing CA Secret keeps the pods from starting, an error") {
  Fixture f;
  f.ns.secrets.clear();
  f.ns.missing_secrets.insert("esk8s-ca");
  Finding x = only(f, "volumes.secret-missing", Severity::kError);
  CHECK(contains(x.fix, "esk8s cert create-ca"));
  CHECK(contains(x.fix, "kubectl -n esdb create secret generic esk8s-ca"));
}

TEST_CASE("doctor: endpoints that are not ready are a warning naming them") {
  Fixture f;
  f.ns.endpointslices[0]["endpoints"][1] = endpoint(1, false);
  Finding x = only(f, "endpoints.not-ready", Severity::kWarning);
  CHECK(contains(x.message, "1 of 3"));
  CHECK(contains(x.message, "esdb-1"));
}

TEST_CASE("doctor: members whose views disagree are a warning") {
  Fixture f;
  f.members[2] = f.fetch(2, {0, 2});  // esdb-2 misses esdb-1 but still has a quorum
  Finding x = only(f, "members.views-disagree", Severity::kWarning);
  CHECK(contains(x.message, "esdb-2 sees {esdb-0, esdb-2}"));
}

TEST_CASE("doctor: a member that sees no quorum is an error") {
  Fixture f;
  f.members = {f.fetch(0, {0}), f.fetch(1, {0, 1, 2}), f.fetch(2, {0, 1, 2})};
  auto fs = added(f);
  REQUIRE_MESSAGE(fs.size() == 2, describe(fs));  // no quorum, and so the views disagree
  CHECK(fs[0].check == "members.no-quorum");
  CHECK(fs[0].severity == Severity::kError);
  CHECK(fs[0].object == "Pod esdb/esdb-0");
  CHECK(contains(fs[0].message, "sees 1 of 3 members alive"));
  CHECK(fs[1].check == "members.views-disagree");
}

TEST_CASE("doctor: pods not reachable from the doctor are info, never an error") {
  Fixture f;
  for (auto& m : f.members) {
    m.reachable = false;
    m.body.clear();
    m.error = "Connection timed out";
  }
  Finding x = only(f, "members.unreachable", Severity::kInfo);
  CHECK(contains(x.message, "not reachable from here"));
  CHECK(contains(x.fix, "run doctor in the cluster"));
  CHECK(exit_code(f.findings()) == 0);
}

TEST_CASE("doctor: member targets are the pods' IPs on ESK8S_HTTP_PORT") {
  Fixture f;
  auto t = member_targets(f.workload(), f.ns);
  REQUIRE(t.size() == 3);
  CHECK(t[0].pod == "esdb-0");
  CHECK(t[0].url == "http://10.0.0.10:2115/members");
  f.config()["ESK8S_HTTP_PORT"] = "8080";
  f.ns.pods[1]["status"].erase("podIP");
  t = member_targets(f.workload(), f.ns);
  REQUIRE(t.size() == 2);
  CHECK(t[1].url == "http://10.0.0.12:8080/members");
}

namespace {

// What the real scheduler writes on a member it cannot place: Pending, no node, no IP, and
// PodScheduled False with its reason and message.
json unschedulable_pod(int i, const std::string& message) {
  json p = pod(i, "");
  p["spec"].erase("nodeName");
  p["status"] = {{"phase", "Pending"},
                 {"conditions",
                  {{{"type", "PodScheduled"},
                    {"status", "False"},
                    {"reason", "Unschedulable"},
                    {"message", message}}}}};
  return p;
}

const char* const kAntiAffinityMessage =
    "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 "
    "nodes are available: 3 No preemption victims found for incoming pod.";

}  // namespace

TEST_CASE("doctor: a fourth member that anti-affinity keeps Pending on three nodes is an error "
          "quoting the scheduler") {
  Fixture f;
  f.sts()["spec"]["replicas"] = 4;
  f.ns.pods.push_back(unschedulable_pod(3, kAntiAffinityMessage));
  std::vector<Finding> pending;
  for (const Finding& x : added(f)) {
    if (x.check == "pods.unschedulable") pending.push_back(x);
  }
  REQUIRE_MESSAGE(pending.size() == 1, describe(added(f)));
  const Finding& x = pending[0];
  CHECK(x.severity == Severity::kError);
  CHECK(x.object == "Pod esdb/esdb-3");
  CHECK(x.message == std::string("pod esdb-3 is Pending: the scheduler cannot place it "
                                 "(Unschedulable): ") +
                         kAntiAffinityMessage);
  CHECK(contains(x.why, "fewer members than the 4 it was sized for"));
  CHECK(contains(x.fix, "add a node"));
  CHECK(contains(x.fix, "kubectl -n esdb scale statefulset esdb --replicas=N"));
  CHECK(contains(x.fix, "relax the anti-affinity"));
  CHECK(exit_code(f.findings()) == 1);
}

TEST_CASE("doctor: a member Pending on cordoned nodes is named with the scheduler's reason") {
  Fixture f;
  // esdb-2's node was drained: its replacement waits, the others see two alive (a quorum).
  f.ns.pods[2] = unschedulable_pod(
      2, "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod "
         "anti-affinity rules.");
  f.ns.endpointslices[0]["endpoints"].erase(2);
  f.members = {f.fetch(0, {0, 1}), f.fetch(1, {0, 1})};
  Finding x = only(f, "pods.unschedulable", Severity::kError);
  CHECK(x.object == "Pod esdb/esdb-2");
  CHECK(contains(x.message, "1 node(s) were unschedulable"));
  CHECK(contains(x.fix, "add a node"));

  // Scheduled but still starting is not this finding; neither is a Running pod.
  f.ns.pods[2]["status"]["conditions"][0]["status"] = "True";
  CHECK(added(f).empty());
}

TEST_CASE("doctor: the scheduler's message is quoted escaped and bounded, its other reasons get "
          "their own fix") {
  Fixture f;
  f.ns.pods[2] = unschedulable_pod(2, "0/3 nodes are available: 3 Insufficient memory.\n\x1b[2J" +
                                          std::string(2000, 'x'));
  f.ns.endpointslices[0]["endpoints"].erase(2);
  f.members = {f.fetch(0, {0, 1}), f.fetch(1, {0, 1})};
  Finding x = only(f, "pods.unschedulable", Severity::kError);
  CHECK(!contains(x.message, "\n"));
  CHECK(!contains(x.message, "\x1b"));
  CHECK(x.message.size() < 600);
  CHECK(contains(x.fix, "lower the container's resources.requests"));
}

TEST_CASE("doctor: the JSON report has findings with every field and a summary, errors first") {
  Fixture f;
  f.ns.pdbs.clear();
  f.headless()["spec"].erase("publishNotReadyAddresses");
  auto fs = f.findings();
  sort_findings(fs);
  json j = render_json(fs, {{"esdb"}, {"esdb/esdb"}});
  REQUIRE(j["findings"].size() == 2);
  CHECK(j["findings"][0]["severity"] == "error");
  CHECK(j["findings"][0]["check"] == "service.publish-not-ready");
  for (const char* k : {"severity", "check", "object", "message", "why", "fix"}) {
    CHECK(j["findings"][1].contains(k));
  }
  CHECK(j["summary"]["errors"] == 1);
  CHECK(j["summary"]["warnings"] == 1);
  CHECK(j["summary"]["exit_code"] == 1);
  std::ostringstream table;
  render_table(fs, {{"esdb"}, {"esdb/esdb"}}, false, table);
  CHECK(contains(table.str(), "ERROR    service.publish-not-ready"));
  CHECK(contains(table.str(), "1 error, 1 warning, 0 info"));
  CHECK(!contains(table.str(), "\033["));
}
