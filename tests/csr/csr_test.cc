// The kubernetes-csr issuer's request flow on esk8s-cluster (the real kube-apiserver, RBAC and
// certificates API) with its signer for esk8s.io/node (tests/cluster/csrsigner.go): the request
// is made with a real bound service-account token of pod prod/esdb-0 (TokenRequest with a
// boundObjectRef, so the apiserver records the pod's name in the CSR's spec.extra), RBAC from
// rbac/csr.yaml. Issued, denied (names of another pod; a token bound to no pod), manual approval
// with `kubectl certificate approve`, timeout with the approve command, RBAC missing, built-in
// signers refused, and the TLS manager's first certificate. One cluster per test case (--nodes 0:
// no kubelet, the pod stays Pending, which is all a bound token needs).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"
#include "plugin/csr_request.h"
#include "plugin/tls_manager.h"
#include "tests/cluster/cluster_process.h"
#include "tls/x509.h"

using namespace std::chrono_literals;
using nlohmann::json;
namespace d = esk8s::discovery;
namespace k = esk8s::kube;
using esk8s::testcluster::ClusterProcess;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

struct CsrEnv {
  std::unique_ptr<ClusterProcess> cluster;
  std::string key;

  // `approve`: the signer approves requests itself (else only `kubectl certificate approve`
  // does); `grant`: rbac/csr.yaml is applied for prod/esdb; `bind_to_pod`: the token is bound
  // to pod esdb-0 (else a plain TokenRequest for the service account).
  explicit CsrEnv(bool approve = true, bool grant = true, bool bind_to_pod = true) {
    cluster = std::make_unique<ClusterProcess>(std::vector<std::string>{
        "--nodes", "0", "--csr-signer", "esk8s.io/node",
        std::string("--csr-signer-approve=") + (approve ? "true" : "false")});
    create("/api/v1/namespaces", {{"metadata", {{"name", "prod"}}}});
    create("/api/v1/namespaces/prod/serviceaccounts", {{"metadata", {{"name", "esdb"}}}});
    json pod = create("/api/v1/namespaces/prod/pods",
                      {{"metadata", {{"name", "esdb-0"}}},
                       {"spec",
                        {{"serviceAccountName", "esdb"},
                         {"subdomain", "esdb"},
                         {"hostname", "esdb-0"},
                         {"containers",
                          {{{"name", "node"},
                            {"image", "esk8s/esk8s-node:dev"},
                            {"command", {"esk8s-node"}}}}}}}});
    if (grant) {
      std::string rbac = read_file(std::string(ESK8S_SOURCE_DIR) + "/rbac/csr.yaml");
      replace_all(rbac, "SERVICE_ACCOUNT", "esdb");
      replace_all(rbac, "NAMESPACE", "prod");
      std::ofstream(dir() + "/csr-rbac.yaml") << rbac;
      std::string out;
      REQUIRE_MESSAGE(cluster->kubectl("apply -f " + dir() + "/csr-rbac.yaml", &out) == 0, out);
    }
    json spec = {{"expirationSeconds", 3600}};
    if (bind_to_pod) {
      spec["boundObjectRef"] = {{"apiVersion", "v1"},
                                {"kind", "Pod"},
                                {"name", "esdb-0"},
                                {"uid", pod["metadata"].value("uid", "")}};
    }
    json tr = create("/api/v1/namespaces/prod/serviceaccounts/esdb/token",
                     {{"apiVersion", "authentication.k8s.io/v1"},
                      {"kind", "TokenRequest"},
                      {"spec", spec}});
    std::ofstream(dir() + "/token") << tr["status"].value("token", "") << "\n";
  }
  const std::string& dir() const { return cluster->dir(); }
  json create(const std::string& path, const json& body) {
    auto r = cluster->api("POST", path, body.dump());
    REQUIRE_MESSAGE((r.status == 201 || r.status == 200), "POST " << path << ": " << r.status
                                                                  << " " << r.body);
    return json::parse(r.body);
  }
  std::unique_ptr<k::KubeClient> client() {
    k::KubeConfig kc;
    kc.server = cluster->server();
    kc.ca_file = cluster->ca_file();
    kc.token_file = dir() + "/token";
    auto c = k::KubeClient::create(kc, {}, esk8s::Logger(nullptr, "test"));
    REQUIRE(c.is_ok());
    return std::move(c.value());
  }
  std::string csr_for(const std::string& pod) {
    esk8s::tls::CertSpec spec;
    spec.common_name = pod + ".esdb.prod.svc.cluster.local";
    spec.dns_names = {spec.common_name, pod + ".esdb.prod.svc", pod + ".esdb.prod", pod + ".esdb"};
    key = esk8s::tls::generate_key(esk8s::tls::KeyType::kEcdsaP256).value().private_key_pem;
    return esk8s::tls::make_csr(spec, key).value();
  }
  // The signer's CA, as an operator would put it into the esk8s-signer-ca ConfigMap.
  std::string ca() const { return read_file(cluster->state_dir() + "/csr-signer-ca.crt"); }
};

esk8s::Result<std::string> request(k::KubeClient& kube, const std::string& csr,
                                   std::chrono::seconds timeout) {
  esk8s::plugin::CsrRequestOptions o;
  o.timeout = timeout;
  o.expiration = 3600s;
  return esk8s::plugin::request_certificate(kube, csr, o, esk8s::Logger(nullptr, "test"));
}

// Requests a certificate for `pod`'s names that must fail; the error message.
std::string refusal(CsrEnv& env, const std::string& pod) {
  auto kube = env.client();
  auto cert = request(*kube, env.csr_for(pod), 20s);
  REQUIRE_FALSE(cert.is_ok());
  return cert.status().message();
}

}  // namespace

TEST_CASE("kubernetes-csr: a request for the own pod's names is approved, signed and verifies") {
  CsrEnv env;
  auto kube = env.client();
  auto cert = request(*kube, env.csr_for("esdb-0"), 20s);
  REQUIRE_MESSAGE(cert.is_ok(), cert.status().message());
  auto info = esk8s::tls::inspect_cert(cert.value()).value();
  CHECK(info.subject_cn == "esdb-0.esdb.prod.svc.cluster.local");
  CHECK(info.dns_names.size() == 4);
  CHECK(info.eku_server_auth);
  CHECK(info.eku_client_auth);
  CHECK_FALSE(info.is_ca);
  CHECK(info.ip_addresses.empty());
  // spec.expirationSeconds respected (notBefore is backdated 5 minutes for clock skew).
  CHECK(info.not_after - info.not_before <= 3600s + 301s);
  CHECK(info.not_after < std::chrono::system_clock::now() + 3600s + 60s);
  CHECK(esk8s::tls::verify_chain(cert.value(), env.ca(), std::chrono::system_clock::now()));
  // The approval is a condition written through the /approval subresource, naming the pod.
  json list = env.cluster->api_get("/apis/certificates.k8s.io/v1/certificatesigningrequests");
  REQUIRE(list.is_object());
  REQUIRE(list["items"].size() == 1);
  const json& csr = list["items"][0];
  CHECK(csr["spec"].value("username", "") == "system:serviceaccount:prod:esdb");
  CHECK(csr["spec"]["extra"]["authentication.kubernetes.io/pod-name"][0] == "esdb-0");
  CHECK(csr["status"]["conditions"][0].value("type", "") == "Approved");
  CHECK(csr["status"]["conditions"][0].value("message", "").find("prod/esdb-0") !=
        std::string::npos);
}

TEST_CASE("kubernetes-csr: a request naming another pod is denied with the approver's reason") {
  CsrEnv env;
  const std::string m = refusal(env, "esdb-7");
  CHECK(m.find("was not signed: Denied (NamesNotAllowed)") != std::string::npos);
  CHECK(m.find("esdb-7") != std::string::npos);
  CHECK(m.find("bound to pod prod/esdb-0") != std::string::npos);
}

TEST_CASE("kubernetes-csr: a request with a token bound to no pod is denied") {
  CsrEnv env(/*approve=*/true, /*grant=*/true, /*bind_to_pod=*/false);
  const std::string m = refusal(env, "esdb-0");
  CHECK(m.find("was not signed: Denied (RequesterNotAllowed)") != std::string::npos);
  CHECK(m.find("authentication.kubernetes.io/pod-name") != std::string::npos);
}

TEST_CASE("kubernetes-csr: without approval it times out naming the CSR and the approve command") {
  CsrEnv env(/*approve=*/false);
  auto kube = env.client();
  auto start = std::chrono::steady_clock::now();
  auto cert = request(*kube, env.csr_for("esdb-0"), 2s);
  REQUIRE_FALSE(cert.is_ok());
  CHECK(std::chrono::steady_clock::now() - start < 15s);
  const std::string m = cert.status().message();
  CHECK(m.find("timed out after 2 s waiting for CertificateSigningRequest esk8s-") !=
        std::string::npos);
  CHECK(m.find("kubectl certificate approve esk8s-") != std::string::npos);
}

TEST_CASE("kubernetes-csr: a manually approved request is signed while the node waits") {
  CsrEnv env(/*approve=*/false);
  auto kube = env.client();
  auto pending = std::async(std::launch::async,
                            [&] { return request(*kube, env.csr_for("esdb-0"), 30s); });
  std::string name;
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (name.empty() && std::chrono::steady_clock::now() < end) {
    json list = env.cluster->api_get("/apis/certificates.k8s.io/v1/certificatesigningrequests");
    if (list.is_object() && !list["items"].empty())
      name = list["items"][0]["metadata"].value("name", "");
    if (name.empty()) std::this_thread::sleep_for(100ms);
  }
  REQUIRE_FALSE(name.empty());
  std::string out;
  CHECK_MESSAGE(env.cluster->kubectl("certificate approve " + name, &out) == 0, out);
  auto cert = pending.get();
  REQUIRE_MESSAGE(cert.is_ok(), cert.status().message());
  CHECK(esk8s::tls::inspect_cert(cert.value()).value().subject_cn ==
        "esdb-0.esdb.prod.svc.cluster.local");
  CHECK(esk8s::tls::verify_chain(cert.value(), env.ca(), std::chrono::system_clock::now()));
}

TEST_CASE("kubernetes-csr: missing RBAC is named with the file to apply") {
  CsrEnv env(/*approve=*/true, /*grant=*/false);
  const std::string m = refusal(env, "esdb-0");
  CHECK(m.find("cannot create certificatesigningrequests") != std::string::npos);
  CHECK(m.find("rbac/csr.yaml") != std::string::npos);
}

TEST_CASE("kubernetes-csr: built-in signer names are refused before anything is sent") {
  // No cluster: nothing may be sent, so an address where nothing listens will do.
  k::KubeConfig kc;
  kc.server = "https://127.0.0.1:9";
  kc.ca_pem = esk8s::tls::make_self_signed_ca("unused", esk8s::tls::KeyType::kEcdsaP256, 3600s)
                  .value()
                  .cert_pem;
  kc.token = "unused";
  auto kube = k::KubeClient::create(kc, {}, esk8s::Logger(nullptr, "test"));
  REQUIRE(kube.is_ok());
  esk8s::tls::CertSpec spec;
  spec.common_name = "esdb-0.esdb.prod.svc.cluster.local";
  spec.dns_names = {spec.common_name};
  auto key = esk8s::tls::generate_key(esk8s::tls::KeyType::kEcdsaP256).value().private_key_pem;
  const std::string csr = esk8s::tls::make_csr(spec, key).value();
  for (const char* signer : {"kubernetes.io/kube-apiserver-client", "kubernetes.io/kubelet-serving",
                             "kubernetes.io/legacy-unknown"}) {
    esk8s::plugin::CsrRequestOptions o;
    o.signer_name = signer;
    uint64_t before = kube.value()->requests();
    auto cert = esk8s::plugin::request_certificate(*kube.value(), csr, o,
                                                   esk8s::Logger(nullptr, "test"));
    REQUIRE_FALSE(cert.is_ok());
    CHECK(cert.status().message().find(signer) != std::string::npos);
    CHECK(kube.value()->requests() == before);
  }
}

TEST_CASE(
    "kubernetes-csr: the TLS manager obtains the node's certificate through the cluster's signer") {
  CsrEnv env;
  // The signer's CA is what a ConfigMap would mount at ESK8S_TLS_CA_DIR.
  std::string ca_dir = env.dir() + "/signer-ca";
  std::filesystem::create_directories(ca_dir);
  std::ofstream(ca_dir + "/ca.crt") << env.ca();
  esk8s::plugin::Config c;
  c.service = "esdb";
  c.namespace_name = "prod";
  c.pod_name = "esdb-0";
  c.cluster_domain = "cluster.local";
  c.tls_mode = esk8s::plugin::TlsMode::kKubernetesCsr;
  c.tls_ca_dir = ca_dir;
  c.tls_csr_timeout_seconds = 20;
  esk8s::plugin::TlsManager m(c, esk8s::Logger(nullptr, "test"), env.client());
  std::atomic<int> got{0};
  REQUIRE(m.start([&](std::shared_ptr<const esk8s::gossip::TlsSnapshot>) { ++got; }).is_ok());
  CHECK_FALSE(m.state().have_certificate);  // start does not wait for the signer
  for (int i = 0; i < 300 && got == 0; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(got == 1);
  auto st = m.state();
  CHECK(st.have_certificate);
  CHECK(st.mode == "kubernetes-csr");
  CHECK(st.not_after > std::chrono::system_clock::now() + 24h);
  m.stop();
}
