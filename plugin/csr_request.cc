#include "plugin/csr_request.h"

#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/escape.h"

namespace esk8s::plugin {

using nlohmann::json;

namespace {

constexpr const char* kCollection = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
constexpr size_t kMaxEventBytes = 1u << 20;

std::string random_suffix() {
  std::random_device rd;
  static constexpr char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (int i = 0; i < 5; ++i) s += kChars[rd() % (sizeof kChars - 1)];
  return s;
}

// What a CSR object says: done (certificate), failed (denied/failed condition) or pending.
struct CsrState {
  enum class Kind { kPending, kApproved, kIssued, kRefused } kind = Kind::kPending;
  std::string certificate_pem;
  std::string detail;  // for kRefused: "Denied (NamesNotAllowed): ..."
};

CsrState read_state(const json& obj) {
  CsrState st;
  if (!obj.is_object()) return st;
  const json status = obj.value("status", json::object());
  if (!status.is_object()) return st;
  for (const auto& c : status.value("conditions", json::array())) {
    if (!c.is_object()) continue;
    std::string type = c.value("type", "");
    if (c.value("status", "True") != "True") continue;
    if (type == "Denied" || type == "Failed") {
      st.kind = CsrState::Kind::kRefused;
      st.detail = type + " (" + c.value("reason", "no reason") + "): " + c.value("message", "");
      return st;
    }
    if (type == "Approved") st.kind = CsrState::Kind::kApproved;
  }
  if (status.contains("certificate") && status["certificate"].is_string() &&
      !status["certificate"].get<std::string>().empty()) {
    auto pem = base64_decode(status["certificate"].get<std::string>());
    if (!pem || pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      st.kind = CsrState::Kind::kRefused;
      st.detail = "the signer returned a status.certificate that is not base64 of PEM";
      return st;
    }
    st.kind = CsrState::Kind::kIssued;
    st.certificate_pem = std::move(*pem);
  }
  return st;
}

std::string api_error(const kube::ApiResponse& r) {
  if (r.status == 0) return r.error.empty() ? "no response" : r.error;
  std::string msg;
  try {
    auto j = json::parse(r.body);
    if (j.is_object()) msg = j.value("message", "");
  } catch (const json::exception&) {
  }
  if (msg.empty()) msg = truncate_for_log(r.body, 200);
  return "HTTP " + std::to_string(r.status) + ": " + msg;
}

}  // namespace

std::string refuse_builtin_signer(const std::string& signer) {
  if (signer == "kubernetes.io/kube-apiserver-client" ||
      signer == "kubernetes.io/kube-apiserver-client-kubelet") {
    return "signerName " + signer +
           " issues client credentials trusted by the Kubernetes API server itself; a database "
           "peer certificate must not be one. Run a signer for a custom name (e.g. esk8s.io/node) "
           "and set ESK8S_TLS_CSR_SIGNER to it";
  }
  if (signer == "kubernetes.io/kubelet-serving") {
    return "signerName kubernetes.io/kubelet-serving only signs kubelet serving certificates "
           "(system:node users, node names and IP SANs); use a custom signer name such as "
           "esk8s.io/node";
  }
  if (signer == "kubernetes.io/legacy-unknown") {
    return "signerName kubernetes.io/legacy-unknown is never signed by the Kubernetes controller "
           "manager and its trust is undefined; use a custom signer name such as esk8s.io/node";
  }
  return "";
}

Result<std::string> request_certificate(kube::KubeClient& kube, const std::string& csr_pem,
                                        const CsrRequestOptions& o, const Logger& log) {
  if (std::string why = refuse_builtin_signer(o.signer_name); !why.empty()) {
    return Status::config(why);
  }
  const std::string name = o.name_prefix + "-" + random_suffix();
  json usages = json::array({"digital signature"});
  if (o.key_encipherment) usages.push_back("key encipherment");
  usages.push_back("server auth");
  usages.push_back("client auth");
  json body = {
      {"apiVersion", "certificates.k8s.io/v1"},
      {"kind", "CertificateSigningRequest"},
      {"metadata", {{"name", name}, {"labels", {{"app.kubernetes.io/managed-by", "esk8s"}}}}},
      {"spec",
       {{"request", base64_encode(csr_pem)},
        {"signerName", o.signer_name},
        {"usages", usages},
        {"expirationSeconds", o.expiration.count()}}}};
  auto created = kube.post(kCollection, body.dump());
  if (created.status == 403) {
    return Status::config("cannot create certificatesigningrequests.certificates.k8s.io (" +
                          api_error(created) +
                          "); apply rbac/csr.yaml to grant the pod's service account create, "
                          "get and watch on certificatesigningrequests");
  }
  if (created.status != 201 && created.status != 200) {
    return Status::io("creating CertificateSigningRequest " + name +
                      " failed: " + api_error(created));
  }
  std::string rv;
  CsrState state;
  try {
    auto obj = json::parse(created.body);
    rv = obj["metadata"].value("resourceVersion", "");
    state = read_state(obj);
  } catch (const json::exception& e) {
    return Status::io("the API server answered the CSR creation with invalid JSON: " +
                      std::string(e.what()));
  }
  log.info("certificate requested; waiting for approval and signing",
           {{"csr", name},
            {"signer", o.signer_name},
            {"approve_with", "kubectl certificate approve " + name}});

  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  bool approved_logged = false;
  while (state.kind != CsrState::Kind::kIssued) {
    if (state.kind == CsrState::Kind::kRefused) {
      return Status::state("CertificateSigningRequest " + name +
                           " was not signed: " + state.detail);
    }
    if (state.kind == CsrState::Kind::kApproved && !approved_logged) {
      approved_logged = true;
      log.info("certificate request approved; waiting for the signer",
               {{"csr", name}, {"signer", o.signer_name}});
    }
    auto left = deadline - std::chrono::steady_clock::now();
    auto remaining = std::chrono::ceil<std::chrono::seconds>(left);
    if (left.count() <= 0) {
      return Status::state(
          "timed out after " + std::to_string(o.timeout.count()) +
          " s waiting for CertificateSigningRequest " + name + " (signerName " + o.signer_name +
          (state.kind == CsrState::Kind::kApproved
               ? ") to be signed: it is approved, so check that a signer for " + o.signer_name +
                     " is running"
               : ") to be approved; approve it with `kubectl certificate approve " + name +
                     "` or run an approver for " + o.signer_name));
    }
    // Watch the one object; a stream that ends (timeout, network) is followed by a fresh GET.
    std::string partial;
    bool stream_error = false;
    auto resp = kube.stream(
        std::string(kCollection) + "?watch=1&fieldSelector=metadata.name%3D" + name +
            "&resourceVersion=" + rv + "&timeoutSeconds=" + std::to_string(remaining.count()),
        [&](std::string_view chunk) {
          partial.append(chunk);
          if (partial.size() > kMaxEventBytes) {
            stream_error = true;
            return false;
          }
          size_t nl;
          while ((nl = partial.find('\n')) != std::string::npos) {
            std::string line = partial.substr(0, nl);
            partial.erase(0, nl + 1);
            try {
              auto ev = json::parse(line);
              if (ev.value("type", "") == "ERROR") return false;  // e.g. 410: re-GET below
              auto obj = ev.value("object", json::object());
              if (obj.contains("metadata") && obj["metadata"].is_object()) {
                rv = obj["metadata"].value("resourceVersion", rv);
              }
              state = read_state(obj);
              if (state.kind == CsrState::Kind::kIssued || state.kind == CsrState::Kind::kRefused)
                return false;
              if (state.kind == CsrState::Kind::kApproved && !approved_logged) return false;
            } catch (const json::exception&) {
              stream_error = true;
              return false;
            }
          }
          return true;
        },
        remaining + std::chrono::seconds(5));
    if (state.kind == CsrState::Kind::kIssued || state.kind == CsrState::Kind::kRefused) continue;
    if (state.kind == CsrState::Kind::kApproved && !approved_logged) continue;
    if (resp.status == 403) {
      return Status::config("cannot watch certificatesigningrequests.certificates.k8s.io (" +
                            api_error(resp) + "); apply rbac/csr.yaml");
    }
    if (stream_error)
      log.warn("malformed watch event for the CSR; reading it again", {{"csr", name}});
    auto got = kube.get(std::string(kCollection) + "/" + name);
    if (got.status == 404) {
      return Status::state("CertificateSigningRequest " + name +
                           " was deleted before it was signed (garbage collected or removed by "
                           "someone); it will be requested again");
    }
    if (got.status == 200) {
      try {
        auto obj = json::parse(got.body);
        rv = obj["metadata"].value("resourceVersion", rv);
        state = read_state(obj);
      } catch (const json::exception&) {
      }
    } else if (got.status == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // API unreachable: retry
    }
  }
  log.info("certificate issued", {{"csr", name}, {"signer", o.signer_name}});
  return state.certificate_pem;
}

}  // namespace esk8s::plugin
