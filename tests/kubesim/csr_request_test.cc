// The kubernetes-csr issuer's request flow against kubesim's CSR approver/signer over real HTTPS
// with a service-account token and RBAC: issued, denied (names of another pod), manual approval,
// timeout with the approve command, RBAC missing, built-in signers refused.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "discovery/kube_client.h"
#include "plugin/csr_request.h"
#include "plugin/tls_manager.h"
#include "tests/kubesim/cluster.h"
#include "tls/x509.h"

using namespace kubesim;
using namespace std::chrono_literals;
using nlohmann::json;
namespace d = esk8s::discovery;

namespace {

struct CsrEnv {
  std::string dir;
  std::unique_ptr<Cluster> cluster;

  explicit CsrEnv(bool auto_approve = true, bool grant = true) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-csr-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    ClusterOptions o;
    o.state_dir = dir + "/state";
    o.tokens_file = dir + "/tokens.csv";
    o.csr_auto_approve = auto_approve;
    std::ofstream(o.tokens_file)
        << "t1,system:serviceaccount:prod:esdb,u1,\"system:serviceaccounts\"\n";
    std::ofstream(dir + "/token") << "t1\n";
    cluster = std::make_unique<Cluster>(o);
    REQUIRE(cluster->start().is_ok());
    create("", "namespaces", "", {{"metadata", {{"name", "prod"}}}});
    create("", "pods", "prod",
           {{"metadata", {{"name", "esdb-0"}}},
            {"spec",
             {{"serviceAccountName", "esdb"},
              {"subdomain", "esdb"},
              {"hostname", "esdb-0"},
              {"terminationGracePeriodSeconds", 1},
              {"containers", {{{"name", "c"}, {"command", {"sleep", "600"}}}}}}}});
    if (!grant) return;
    create("rbac.authorization.k8s.io", "clusterroles", "",
           {{"metadata", {{"name", "esk8s-csr"}}},
            {"rules",
             {{{"apiGroups", {"certificates.k8s.io"}},
               {"resources", {"certificatesigningrequests"}},
               {"verbs", {"create", "get", "watch"}}}}}});
    create("rbac.authorization.k8s.io", "clusterrolebindings", "",
           {{"metadata", {{"name", "esk8s-csr"}}},
            {"roleRef",
             {{"apiGroup", "rbac.authorization.k8s.io"},
              {"kind", "ClusterRole"},
              {"name", "esk8s-csr"}}},
            {"subjects", {{{"kind", "ServiceAccount"}, {"name", "esdb"}, {"namespace", "prod"}}}}});
  }
  ~CsrEnv() {
    cluster->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void create(const std::string& g, const std::string& plural, const std::string& ns, json obj) {
    auto type = *cluster->registry().find(g, "v1", plural);
    auto r = cluster->store().create(type, ns, obj);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  }
  std::unique_ptr<d::KubeClient> client() {
    d::KubeConfig kc;
    kc.server = cluster->url();
    kc.ca_file = dir + "/state/ca.crt";
    kc.token_file = dir + "/token";
    auto c = d::KubeClient::create(kc, {}, esk8s::Logger(nullptr, "test"));
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
  std::string ca() {
    std::ifstream f(dir + "/state/csr-ca.crt");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  std::string key;
};

}  // namespace

TEST_CASE("kubernetes-csr: a request for the own pod's names is approved, signed and verifies") {
  CsrEnv env;
  auto kube = env.client();
  esk8s::plugin::CsrRequestOptions o;
  o.timeout = 20s;
  o.expiration = 3600s;
  auto cert = esk8s::plugin::request_certificate(*kube, env.csr_for("esdb-0"), o,
                                                 esk8s::Logger(nullptr, "test"));
  REQUIRE_MESSAGE(cert.is_ok(), cert.status().message());
  auto info = esk8s::tls::inspect_cert(cert.value()).value();
  CHECK(info.subject_cn == "esdb-0.esdb.prod.svc.cluster.local");
  CHECK(info.eku_server_auth);
  CHECK(info.eku_client_auth);
  CHECK(info.ip_addresses.empty());
  CHECK(info.not_after - info.not_before <= 3600s + 301s);
  CHECK(esk8s::tls::verify_chain(cert.value(), env.ca(), std::chrono::system_clock::now()));
}

TEST_CASE("kubernetes-csr: a request naming another pod is denied with the approver's reason") {
  CsrEnv env;
  auto kube = env.client();
  esk8s::plugin::CsrRequestOptions o;
  o.timeout = 20s;
  auto cert = esk8s::plugin::request_certificate(*kube, env.csr_for("esdb-7"), o,
                                                 esk8s::Logger(nullptr, "test"));
  REQUIRE_FALSE(cert.is_ok());
  CHECK(cert.status().message().find("was not signed: Denied (NamesNotAllowed)") !=
        std::string::npos);
  CHECK(cert.status().message().find("esdb-7") != std::string::npos);
}

TEST_CASE("kubernetes-csr: without approval it times out naming the CSR and the approve command") {
  CsrEnv env(/*auto_approve=*/false);
  auto kube = env.client();
  esk8s::plugin::CsrRequestOptions o;
  o.timeout = 2s;
  auto start = std::chrono::steady_clock::now();
  auto cert = esk8s::plugin::request_certificate(*kube, env.csr_for("esdb-0"), o,
                                                 esk8s::Logger(nullptr, "test"));
  REQUIRE_FALSE(cert.is_ok());
  CHECK(std::chrono::steady_clock::now() - start < 15s);
  const std::string m = cert.status().message();
  CHECK(m.find("timed out after 2 s waiting for CertificateSigningRequest esk8s-") !=
        std::string::npos);
  CHECK(m.find("kubectl certificate approve esk8s-") != std::string::npos);
}

TEST_CASE("kubernetes-csr: a manually approved request is signed while the node waits") {
  CsrEnv env(/*auto_approve=*/false);
  auto kube = env.client();
  esk8s::plugin::CsrRequestOptions o;
  o.timeout = 30s;
  auto pending = std::async(std::launch::async, [&] {
    return esk8s::plugin::request_certificate(*kube, env.csr_for("esdb-0"), o,
                                              esk8s::Logger(nullptr, "test"));
  });
  auto type =
      *env.cluster->registry().find("certificates.k8s.io", "v1", "certificatesigningrequests");
  std::string name;
  for (int i = 0; i < 100 && name.empty(); ++i) {
    for (const auto& c : env.cluster->store().all(type.qualified())) {
      name = c["metadata"].value("name", "");
    }
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_FALSE(name.empty());
  json csr = env.cluster->store().get(type, "", name).value();
  csr["metadata"].erase("resourceVersion");
  csr["status"]["conditions"] = {{{"type", "Approved"},
                                  {"status", "True"},
                                  {"reason", "Operator"},
                                  {"message", "approved in a test"}}};
  REQUIRE(env.cluster->store().update(type, "", name, csr, UpdateScope::kApproval).ok());
  auto cert = pending.get();
  REQUIRE_MESSAGE(cert.is_ok(), cert.status().message());
  CHECK(esk8s::tls::inspect_cert(cert.value()).value().subject_cn ==
        "esdb-0.esdb.prod.svc.cluster.local");
}

TEST_CASE("kubernetes-csr: missing RBAC is named with the file to apply") {
  CsrEnv env(true, /*grant=*/false);
  auto kube = env.client();
  esk8s::plugin::CsrRequestOptions o;
  auto cert = esk8s::plugin::request_certificate(*kube, env.csr_for("esdb-0"), o,
                                                 esk8s::Logger(nullptr, "test"));
  REQUIRE_FALSE(cert.is_ok());
  CHECK(cert.status().message().find("cannot create certificatesigningrequests") !=
        std::string::npos);
  CHECK(cert.status().message().find("rbac/csr.yaml") != std::string::npos);
}

TEST_CASE("kubernetes-csr: built-in signer names are refused before anything is sent") {
  CsrEnv env;
  auto kube = env.client();
  for (const char* signer : {"kubernetes.io/kube-apiserver-client", "kubernetes.io/kubelet-serving",
                             "kubernetes.io/legacy-unknown"}) {
    esk8s::plugin::CsrRequestOptions o;
    o.signer_name = signer;
    uint64_t before = kube->requests();
    auto cert = esk8s::plugin::request_certificate(*kube, env.csr_for("esdb-0"), o,
                                                   esk8s::Logger(nullptr, "test"));
    REQUIRE_FALSE(cert.is_ok());
    CHECK(cert.status().message().find(signer) != std::string::npos);
    CHECK(kube->requests() == before);
  }
}

TEST_CASE(
    "kubernetes-csr: the TLS manager obtains the node's certificate through kubesim's signer") {
  CsrEnv env;
  // The signer's CA is what a ConfigMap would mount at ESK8S_TLS_CA_DIR.
  std::string ca_dir = env.dir + "/signer-ca";
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
  for (int i = 0; i < 200 && got == 0; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(got == 1);
  auto st = m.state();
  CHECK(st.have_certificate);
  CHECK(st.mode == "kubernetes-csr");
  CHECK(st.not_after > std::chrono::system_clock::now() + 24h);
  m.stop();
}
