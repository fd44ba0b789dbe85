// The fixture of the `esk8s doctor` check tests (doctor_checks_test.cc, doctor_cluster_test.cc):
// the good objects of examples/kubernetes (overlays/single-namespace, rendered with kubectl
// kustomize and embedded below) plus what a healthy cluster shows (Ready pods on their own nodes,
// agreeing /members views, every permission granted), and helpers that find what a change to it
// adds. Included by one test file each: everything is in an unnamed namespace.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "cli/doctor_checks.h"
#include "common/base64.h"
#include "tls/x509.h"

using namespace esk8s::cli::doctor;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// kubectl kustomize examples/kubernetes/overlays/single-namespace: the ConfigMap, the Services,
// the StatefulSet and the PodDisruptionBudget (JSON).
const char* const kGoodManifests = R"json(
[{"apiVersion":"v1","data":{"ESK8S_CLIENT_SERVICES":"esdb-client","ESK8S_CLUSTER_SIZE":"3",
"ESK8S_DISCOVERY":"kubernetes","ESK8S_PRESET":"lan","ESK8S_READY_MODE":"auto",
"ESK8S_SERVICE":"esdb","ESK8S_TLS_CA_DIR":"/etc/esk8s/ca","ESK8S_TLS_MODE":"local-ca",
"ESK8S_TLS_OUT_DIR":"/var/lib/esdb/tls"},"kind":"ConfigMap","metadata":{"name":"esk8s-config",
"namespace":"esdb"}},{"apiVersion":"v1","kind":"Service","metadata":{"name":"esdb",
"namespace":"esdb"},"spec":{"clusterIP":"None","ports":[{"name":"gossip","port":2114,
"targetPort":"gossip"},{"name":"http","port":2115,"targetPort":"http"}],
"publishNotReadyAddresses":true,"selector":{"app.kubernetes.io/name":"esdb"}}},
{"apiVersion":"v1","kind":"Service","metadata":{"name":"esdb-client","namespace":"esdb"},
"spec":{"ports":[{"name":"http","port":2115,"targetPort":"http"}],
"selector":{"app.kubernetes.io/name":"esdb"}}},{"apiVersion":"apps/v1","kind":"StatefulSet",
"metadata":{"labels":{"app.kubernetes.io/name":"esdb","app.kubernetes.io/part-of":"esk8s"},
"name":"esdb","namespace":"esdb"},"spec":{"podManagementPolicy":"Parallel","replicas":3,
"selector":{"matchLabels":{"app.kubernetes.io/name":"esdb"}},"serviceName":"esdb",
"template":{"metadata":{"labels":{"app.kubernetes.io/name":"esdb"}},
"spec":{"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app.kubernetes.io/name":"esdb"}},
"topologyKey":"kubernetes.io/hostname"}]}},"containers":[{"command":["esk8s-node"],
"env":[{"name":"ESK8S_POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
{"name":"ESK8S_NAMESPACE","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}},
{"name":"ESK8S_BIND_ADDRESS","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}],
"envFrom":[{"configMapRef":{"name":"esk8s-config"}}],"image":"esk8s/esk8s-node:dev",
"lifecycle":{"preStop":{"exec":{"command":["esk8s-node","--pre-stop","--timeout","60"]}}},
"livenessProbe":{"failureThreshold":3,"httpGet":{"path":"/health/live","port":"http"},
"periodSeconds":5},"name":"node","ports":[{"containerPort":2114,"name":"gossip"},
{"containerPort":2115,"name":"http"}],"readinessProbe":{"failureThreshold":2,
"httpGet":{"path":"/health/ready","port":"http"},"periodSeconds":2},
"resources":{"limits":{"memory":"1Gi"},"requests":{"cpu":"500m","memory":"1Gi"}},
"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},
"readOnlyRootFilesystem":true},"startupProbe":{"failureThreshold":30,
"httpGet":{"path":"/health/startup","port":"http"},"periodSeconds":2},
"volumeMounts":[{"mountPath":"/etc/esk8s/ca","name":"ca","readOnly":true},
{"mountPath":"/var/lib/esdb","name":"data"}]}],"securityContext":{"fsGroup":10001,
"runAsGroup":10001,"runAsNonRoot":true,"runAsUser":10001,
"seccompProfile":{"type":"RuntimeDefault"}},"serviceAccountName":"esdb",
"terminationGracePeriodSeconds":90,
"topologySpreadConstraints":[{"labelSelector":{"matchLabels":{"app.kubernetes.io/name":"esdb"}},
"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone",
"whenUnsatisfiable":"ScheduleAnyway"}],"volumes":[{"name":"ca","secret":{"defaultMode":288,
"secretName":"esk8s-ca"}}]}},"updateStrategy":{"type":"RollingUpdate"},
"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],
"resources":{"requests":{"storage":"10Gi"}},"storageClassName":"fast-ssd"}}]}},
{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"esdb",
"namespace":"esdb"},"spec":{"maxUnavailable":1,
"selector":{"matchLabels":{"app.kubernetes.io/name":"esdb"}}}}]
)json";

const auto kNow = std::chrono::system_clock::now();

json by_kind(const std::string& kind, const std::string& name) {
  for (const json& o : json::parse(kGoodManifests)) {
    if (o["kind"] == kind && o["metadata"]["name"] == name) return o;
  }
  FAIL("fixture has no " << kind << " " << name);
  return {};
}

// Pod esdb-<i> of the StatefulSet, with IP 10.0.<net>.<10+i>.
json pod(int i, const std::string& node, int net = 0) {
  std::string name = "esdb-" + std::to_string(i);
  return {
      {"metadata",
       {{"name", name},
        {"labels", {{"app.kubernetes.io/name", "esdb"}}},
        {"ownerReferences", {{{"kind", "StatefulSet"}, {"name", "esdb"}, {"controller", true}}}}}},
      {"spec", {{"nodeName", node}}},
      {"status", {{"podIP", "10.0." + std::to_string(net) + "." + std::to_string(10 + i)}}}};
}

json endpoint(int i, bool ready, int net = 0) {
  return {{"addresses", {"10.0." + std::to_string(net) + "." + std::to_string(10 + i)}},
          {"hostname", "esdb-" + std::to_string(i)},
          {"targetRef", {{"kind", "Pod"}, {"name", "esdb-" + std::to_string(i)}}},
          {"conditions", {{"ready", ready}, {"serving", ready}, {"terminating", false}}}};
}

std::string identity(int i, const std::string& ns = "esdb") {
  return "esdb-" + std::to_string(i) + ".esdb." + ns + ".svc.cluster.local";
}

std::string members_json(const std::string& self, const std::vector<int>& alive) {
  json j = {{"self", self}, {"members", json::array()}};
  for (int i : {0, 1, 2}) {
    bool up = std::find(alive.begin(), alive.end(), i) != alive.end();
    j["members"].push_back({{"identity", identity(i)},
                            {"state", up ? "alive" : "dead"},
                            {"isSelf", identity(i) == self}});
  }
  return j.dump();
}

json secret(std::map<std::string, std::string> files) {
  json data = json::object();
  for (const auto& [k, v] : files) data[k] = esk8s::base64_encode(v);
  return {{"metadata", {{"name", "x"}}}, {"data", data}};
}

esk8s::tls::CertAndKey test_ca(std::chrono::seconds validity = 3650 * 24h) {
  auto ca =
      esk8s::tls::make_self_signed_ca("doctor test CA", esk8s::tls::KeyType::kEcdsaP256, validity);
  REQUIRE(ca.is_ok());
  return ca.value();
}

// A healthy deployment: the good manifests, three Ready pods on three nodes, the CA Secret, an
// SSD StorageClass, every permission granted and three agreeing /members views. Other
// namespaces and sizes (a part of a cluster spanning namespaces) take `name`, `replicas` and
// `net` (pod IPs 10.0.<net>.x, nodes node-<net>-<i>; the default keeps node-a, node-b, node-c).
struct Fixture {
  NamespaceObjects ns;
  Observations obs;
  std::vector<MemberFetch> members;
  int net = 0;

  explicit Fixture(const std::string& name = "esdb", int replicas = 3, int net_ = 0) : net(net_) {
    ns.name = name;
    ns.configmaps = {by_kind("ConfigMap", "esk8s-config")};
    ns.services = {by_kind("Service", "esdb"), by_kind("Service", "esdb-client")};
    ns.statefulsets = {by_kind("StatefulSet", "esdb")};
    ns.statefulsets[0]["spec"]["replicas"] = replicas;
    ns.pdbs = {by_kind("PodDisruptionBudget", "esdb")};
    json slice = {
        {"metadata", {{"name", "esdb-abc"}, {"labels", {{"kubernetes.io/service-name", "esdb"}}}}},
        {"endpoints", json::array()}};
    for (int i = 0; i < replicas; ++i) {
      const std::string node = net == 0 && i < 3 ? std::string("node-") + char('a' + i)
                                                 : "node-" + std::to_string(net) + "-" +
                                                       std::to_string(i);
      ns.pods.push_back(pod(i, node, net));
      slice["endpoints"].push_back(endpoint(i, true, net));
      if (name == "esdb") members.push_back(fetch(i, {0, 1, 2}));
    }
    ns.endpointslices = {slice};
    auto ca = test_ca();
    ns.secrets["esk8s-ca"] = secret({{"ca.crt", ca.cert_pem}, {"ca.key", ca.key_pem}});
    obs.now = kNow;
    obs.storage_classes = {{{"metadata", {{"name", "fast-ssd"}}}, {"provisioner", "example.com/ssd"}}};
    grant_all();
  }
  MemberFetch fetch(int i, const std::vector<int>& alive) {
    MemberFetch f;
    f.target = {"esdb-" + std::to_string(i),
                "http://10.0." + std::to_string(net) + "." + std::to_string(10 + i) +
                    ":2115/members",
                ns.name};
    f.reachable = true;
    f.status = 200;
    f.body = members_json(identity(i), alive);
    return f;
  }
  void grant_all() {
    PermissionReport r;
    r.user = service_account_user(workload());
    for (const auto& need : needed_permissions(workload())) r.results.push_back({need, true, ""});
    obs.permissions = r;
  }
  json& sts() { return ns.statefulsets[0]; }
  json& container() { return sts()["spec"]["template"]["spec"]["containers"][0]; }
  json& config() { return ns.configmaps[0]["data"]; }
  json& headless() { return ns.services[0]; }
  Workload workload() const {
    auto w = find_workloads(ns);
    REQUIRE(w.size() == 1);
    return w[0];
  }
  // The workload's checks and those of the cluster it forms alone.
  std::vector<Finding> findings() const {
    auto clusters = assemble_clusters({workload()}, {});
    REQUIRE(clusters.size() == 1);
    clusters[0].members = members;
    auto out = check_workload(workload(), clusters[0], ns, obs);
    auto whole = check_cluster(clusters[0], {{ns.name, ns}});
    out.insert(out.end(), whole.begin(), whole.end());
    return out;
  }
};

std::string describe(const std::vector<Finding>& fs) {
  std::string s;
  for (const auto& f : fs) {
    s += std::string(severity_name(f.severity)) + " " + f.check + " " + f.object + ": " +
         f.message + "\n";
  }
  return s;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace
