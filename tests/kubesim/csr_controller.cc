
#include <algorithm>

#include "tests/kubesim/base64.h"
#include "tests/kubesim/controllers.h"
#include "tls/x509.h"

namespace kubesim {

using nlohmann::json;

namespace {

bool has_condition(const json& csr, const std::string& type) {
  for (const auto& c : csr.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == type) return true;
  }
  return false;
}

json condition(const std::string& type, const std::string& reason, const std::string& message) {
  return {{"type", type},
          {"status", "True"},
          {"reason", reason},
          {"message", message},
          {"lastUpdateTime", rfc3339_now()},
          {"lastTransitionTime", rfc3339_now()}};
}

// Empty when every requested name belongs to a pod of the requesting service account.
std::string policy_violation(const Store& store, const ResourceRegistry& registry, const json& csr,
                             const esk8s::tls::CsrInfo& info) {
  std::string user = csr["spec"].value("username", "");
  const std::string prefix = "system:serviceaccount:";
  if (user.rfind(prefix, 0) != 0) return "requester " + user + " is not a service account";
  std::string rest = user.substr(prefix.size());
  std::string ns = rest.substr(0, rest.find(':'));
  std::string sa = rest.substr(rest.find(':') + 1);
  auto pods = *registry.find("", "v1", "pods");
  for (const auto& ip : info.ip_addresses) {
    if (ip != "127.0.0.1" && ip != "::1") return "IP SAN " + ip + " is not allowed (only loopback)";
  }
  if (info.dns_names.empty()) return "the request has no DNS SANs";
  for (const auto& name : info.dns_names) {
    if (name == "localhost") continue;
    std::vector<std::string> labels;
    size_t start = 0;
    while (true) {
      size_t dot = name.find('.', start);
      labels.push_back(
          name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    // pod.service, pod.service.ns, pod.service.ns.svc[.domain]
    if (labels.size() < 2) return "DNS SAN " + name + " is not a pod identity";
    if (labels.size() >= 3 && labels[2] != ns)
      return "DNS SAN " + name + " is outside namespace " + ns;
    auto pod = store.get(pods, ns, labels[0]);
    if (!pod.ok())
      return "DNS SAN " + name + " names pod " + labels[0] + " which does not exist in " + ns;
    if (pod.value()["spec"].value("serviceAccountName", "default") != sa) {
      return "DNS SAN " + name + " names pod " + labels[0] +
             " which does not run as service account " + sa;
    }
    if (pod.value()["spec"].value("subdomain", "") != labels[1]) {
      return "DNS SAN " + name + " names service " + labels[1] + " but the pod's subdomain is " +
             pod.value()["spec"].value("subdomain", "");
    }
  }
  return "";
}

}  // namespace

void reconcile_csrs(Store& store, const ResourceRegistry& registry, const CsrSignerOptions& opts) {
  if (opts.signer_name.empty()) return;
  auto type = *registry.find("certificates.k8s.io", "v1", "certificatesigningrequests");
  for (json csr : store.all(type.qualified())) {
    if (csr["spec"].value("signerName", "") != opts.signer_name) continue;
    std::string name = csr["metadata"].value("name", "");
    if (has_condition(csr, "Denied") || has_condition(csr, "Failed")) continue;
    if (csr.value("status", json::object()).contains("certificate")) continue;
    csr["metadata"].erase("resourceVersion");
    std::string pem = base64_decode(csr["spec"].value("request", "")).value_or("");
    auto info = esk8s::tls::inspect_csr(pem);
    if (!has_condition(csr, "Approved")) {
      if (!opts.auto_approve) continue;
      std::string why = info.is_ok()
                            ? policy_violation(store, registry, csr, info.value())
                            : "the request is not a valid PEM CSR: " + info.status().message();
      csr["status"]["conditions"] = {
          why.empty() ? condition("Approved", "AutoApproved",
                                  "kubesim approver: names match the requesting pod")
                      : condition("Denied", "NamesNotAllowed", why)};
      auto r = store.update(type, "", name, csr, UpdateScope::kApproval);
      if (!r.ok() || !why.empty()) continue;
      csr = r.value();
      csr["metadata"].erase("resourceVersion");
    }
    bool server = false, client = false;
    for (const auto& u : csr["spec"].value("usages", json::array())) {
      server = server || u == "server auth";
      client = client || u == "client auth";
    }
    auto seconds = std::chrono::seconds(csr["spec"].value("expirationSeconds", int64_t{86400}));
    auto cert = info.is_ok() && (server || client)
                    ? esk8s::tls::sign_csr(pem, {opts.ca_cert_pem, opts.ca_key_pem}, seconds,
                                           server, client)
                    : esk8s::Result<std::string>(esk8s::Status::invalid_argument(
                          info.is_ok() ? "usages need \"server auth\" and/or \"client auth\""
                                       : info.status().message()));
    if (cert.is_ok()) {
      csr["status"]["certificate"] = base64_encode(cert.value());
    } else {
      csr["status"]["conditions"].push_back(
          condition("Failed", "SigningError", cert.status().message()));
    }
    (void)store.update(type, "", name, csr, UpdateScope::kStatus);
  }
}

}  // namespace kubesim
