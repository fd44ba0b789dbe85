#include "plugin/csr_request.h"

#include <algorithm>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/escape.h"
#include "kube/watch_stream.h"
#include "plugin/csr_wait.h"

namespace esk8s::plugin {

using nlohmann::json;

namespace {

constexpr const char* kCollection = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

std::string random_suffix() {
  std::random_device rd;
  static constexpr char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (int i = 0; i < 5; ++i) s += kChars[rd() % (sizeof kChars - 1)];
  return s;
}

// Sleeps until `t` in short slices; false as soon as the client is cancelled.
bool sleep_until(kube::KubeClient& kube, std::chrono::steady_clock::time_point t) {
  while (!kube.cancelled()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= t) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        t - now, std::chrono::milliseconds(50)));
  }
  return false;
}

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
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

namespace {

// Creates the CertificateSigningRequest `name` for `csr_pem`; errors name the CSR and, for a 403,
// the RBAC file that grants what is missing.
Status create_csr(kube::KubeClient& kube, const std::string& name, const std::string& csr_pem,
                  const CsrRequestOptions& o) {
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
  return Status::ok();
}

}  // namespace

Result<std::string> request_certificate(kube::KubeClient& kube, const std::string& csr_pem,
                                        const CsrRequestOptions& o, const Logger& log) {
  if (std::string why = refuse_builtin_signer(o.signer_name); !why.empty()) {
    return Status::config(why);
  }
  const std::string name = o.name_prefix + "-" + random_suffix();
  if (Status created = create_csr(kube, name, csr_pem, o); !created.is_ok()) return created;
  log.info("certificate requested; waiting for approval and signing",
           {{"csr", name},
            {"signer", o.signer_name},
            {"approve_with", "kubectl certificate approve " + name}});

  // List and watch the one object (csr_wait.h): backoff with jitter on 5xx and connection
  // errors, Retry-After on 429, relist on 410, until a decision or the deadline.
  using Clock = std::chrono::steady_clock;
  CsrWait wait(name, o.signer_name, o.timeout, Clock::now(), csr_watch_config(), random_seed());
  CsrWait::Step step = wait.start(Clock::now());
  std::optional<kube::Next> next;
  auto take = [&](CsrWait::Step s) {
    if (s.newly_approved) {
      log.info("certificate request approved; waiting for the signer",
               {{"csr", name}, {"signer", o.signer_name}});
    }
    if (!s.error.empty()) log.warn(s.error, {{"csr", name}});
    if (s.next) next = s.next;
    step = std::move(s);
  };
  take(std::move(step));
  while (step.decision.kind == CsrDecision::Kind::kWaiting) {
    if (!next) {  // a blocking driver always has a request to make; restart rather than spin
      take(wait.start(Clock::now()));
      continue;
    }
    const kube::Next n = *next;
    next.reset();
    if (!sleep_until(kube, std::min(n.not_before, wait.deadline()))) {
      return Status::state("cancelled while waiting for CertificateSigningRequest " + name);
    }
    if (n.not_before > wait.deadline()) {
      take(wait.on_time(Clock::now()));
      if (!next) next = n;
      continue;
    }
    const std::string path = wait.path_for(n.request, Clock::now());
    if (n.request.kind == kube::Request::Kind::kList) {
      auto r = kube.get(path);
      if (kube.cancelled()) break;
      take(wait.on_read(r.status, r.body, r.retry_after, Clock::now()));
      continue;
    }
    kube::WatchStreamDecoder<kube::WatchEvent<CsrObject>> decoder(parse_csr_watch_event);
    bool interrupted = false;
    std::optional<Status> malformed;
    auto handle = [&](std::vector<Result<kube::WatchEvent<CsrObject>>> events) {
      for (auto& ev : events) {
        if (!ev.is_ok()) {
          malformed = ev.status();
          return false;
        }
        take(wait.on_event(ev.value(), Clock::now()));
        if (step.decision.kind != CsrDecision::Kind::kWaiting || next) {
          interrupted = true;
          return false;
        }
      }
      return true;
    };
    const auto left = std::chrono::ceil<std::chrono::seconds>(wait.deadline() - Clock::now());
    auto r = kube.stream(
        path, [&](std::string_view chunk) { return handle(decoder.feed(chunk)); },
        std::max(left, std::chrono::seconds(1)) + std::chrono::seconds(5));
    if (kube.cancelled()) break;
    const bool answered = r.status >= 200 && r.status < 300;
    if (answered && !interrupted && !malformed) handle(decoder.finish());
    if (interrupted) continue;
    if (malformed) {
      take(wait.on_malformed(malformed->message(), Clock::now()));
    } else if (answered) {
      take(wait.on_watch_end(Clock::now()));
    } else {
      take(wait.on_http_error(r.status, r.retry_after, Clock::now()));
    }
  }
  if (kube.cancelled()) {
    return Status::state("cancelled while waiting for CertificateSigningRequest " + name);
  }
  switch (step.decision.kind) {
    case CsrDecision::Kind::kIssued:
      break;
    case CsrDecision::Kind::kForbidden:
      return Status::config(step.decision.message);
    default:
      return Status::state(step.decision.message);
  }
  log.info("certificate issued", {{"csr", name}, {"signer", o.signer_name}});
  return step.decision.certificate_pem;
}

}  // namespace esk8s::plugin
