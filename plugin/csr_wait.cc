#include "plugin/csr_wait.h"

#include <algorithm>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/text.h"
#include "kube/json_read.h"
#include "kube/watch_stream.h"

namespace esk8s::plugin {

using nlohmann::json;
using namespace kube::json_read;

namespace {

constexpr const char* kCollection = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

// The conditions and certificate of status; never an error (a status the wait cannot read
// leaves the CSR pending, as a signer that has not written yet would).
void read_status(const json& obj, CsrObject& out) {
  const json* status = member(obj, "status");
  if (status == nullptr || !status->is_object()) return;
  if (const json* conds = member(*status, "conditions"); conds != nullptr && conds->is_array()) {
    for (const json& c : *conds) {
      if (!c.is_object()) continue;
      std::string type, state = "True", reason = "no reason", message;
      if (!read_string(c, "type", "", type) || !read_string(c, "status", "", state) ||
          !read_string(c, "reason", "", reason) || !read_string(c, "message", "", message)) {
        continue;
      }
      if (state != "True") continue;
      if (type == "Denied" || type == "Failed") {
        out.condition = CsrObject::Condition::kRefused;
        out.detail = type + " (" + reason + "): " + message;
        return;
      }
      if (type == "Approved") out.condition = CsrObject::Condition::kApproved;
    }
  }
  const json* cert = member(*status, "certificate");
  if (cert == nullptr || !cert->is_string() || cert->get_ref<const std::string&>().empty()) return;
  auto pem = base64_decode(cert->get_ref<const std::string&>());
  if (!pem || pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    out.condition = CsrObject::Condition::kRefused;
    out.detail = "the signer returned a status.certificate that is not base64 of PEM";
    return;
  }
  out.condition = CsrObject::Condition::kIssued;
  out.certificate_pem = std::move(*pem);
}

}  // namespace

Status parse_csr_object(const json& obj, const std::string& path, CsrObject& out) {
  if (!obj.is_object()) return wrong_type(path, obj, "a CertificateSigningRequest object");
  if (Status s = check_kind(obj, path, "CertificateSigningRequest"); !s) return s;
  const json* md = nullptr;
  if (Status s = read_object(obj, "metadata", path, md); !s) return s;
  if (md != nullptr) {
    const std::string mpath = field_path(path, "metadata");
    if (Status s = read_string(*md, "name", mpath, out.name); !s) return s;
    if (Status s = read_string(*md, "resourceVersion", mpath, out.resource_version); !s) return s;
  }
  read_status(obj, out);
  return Status::ok();
}

Result<kube::ListPage<CsrObject>> parse_csr_read(std::string_view body) {
  if (body.size() > kube::kMaxObjectBytes) {
    return Status::invalid_argument(
        "the CertificateSigningRequest is " + std::to_string(body.size()) +
        " bytes, more than the limit of " + std::to_string(kube::kMaxObjectBytes));
  }
  try {
    json doc;
    if (Status s = parse_document(body, "CertificateSigningRequest", kube::kMaxDepth, doc); !s) {
      return s;
    }
    kube::ListPage<CsrObject> page;
    page.items.emplace_back();
    if (Status s = parse_csr_object(doc, "", page.items.back()); !s) {
      return with_prefix("CertificateSigningRequest: ", s);
    }
    page.resource_version = page.items.back().resource_version;
    return page;
  } catch (const std::exception& e) {
    return Status::internal(std::string("CertificateSigningRequest: unexpected failure: ") +
                            e.what());
  }
}

Result<kube::WatchEvent<CsrObject>> parse_csr_watch_event(std::string_view line) {
  return kube::parse_watch_event_as<CsrObject>(line, parse_csr_object);
}

CsrDecision decide_csr(const std::string& name, const std::string& signer,
                       const std::optional<CsrObject>& csr, bool listed, bool approved_seen,
                       std::chrono::seconds timeout, std::chrono::steady_clock::time_point now,
                       std::chrono::steady_clock::time_point deadline) {
  CsrDecision d;
  if (csr && csr->condition == CsrObject::Condition::kIssued) {
    d.kind = CsrDecision::Kind::kIssued;
    d.certificate_pem = csr->certificate_pem;
    return d;
  }
  if (csr && csr->condition == CsrObject::Condition::kRefused) {
    d.kind = CsrDecision::Kind::kRefused;
    d.message = "CertificateSigningRequest " + name + " was not signed: " + csr->detail;
    return d;
  }
  if (listed && !csr) {
    d.kind = CsrDecision::Kind::kDeleted;
    d.message = "CertificateSigningRequest " + name +
                " was deleted before it was signed (garbage collected or removed by someone); "
                "it will be requested again";
    return d;
  }
  if (now >= deadline) {
    const bool approved =
        approved_seen || (csr && csr->condition == CsrObject::Condition::kApproved);
    d.kind = CsrDecision::Kind::kTimedOut;
    d.message = "timed out after " + std::to_string(timeout.count()) +
                " s waiting for CertificateSigningRequest " + name + " (signerName " + signer +
                (approved ? ") to be signed: it is approved, so check that a signer for " +
                                signer + " is running"
                          : ") to be approved; approve it with `kubectl certificate approve " +
                                name + "` or run an approver for " + signer);
    return d;
  }
  return d;
}

kube::WatchConfig csr_watch_config() {
  kube::WatchConfig c;
  c.backoff_cap = std::chrono::seconds(10);
  c.watch_timeout_min = std::chrono::seconds(60);
  c.watch_timeout_max = std::chrono::seconds(120);
  c.page_limit = 1;  // the "list" is a GET of one object by name
  return c;
}

CsrWait::CsrWait(std::string name, std::string signer, std::chrono::seconds timeout,
                 TimePoint started, kube::WatchConfig config, uint64_t seed)
    : name_(std::move(name)),
      signer_(std::move(signer)),
      timeout_(timeout),
      deadline_(started + timeout),
      machine_(std::move(config), seed) {}

CsrWait::Step CsrWait::start(TimePoint now) { return finish(machine_.start(now), now); }

CsrWait::Step CsrWait::on_list_page(const kube::ListPage<CsrObject>& page, TimePoint now) {
  return finish(machine_.on_list_page(page, now), now);
}

CsrWait::Step CsrWait::on_read(int status, std::string_view body,
                               std::optional<std::chrono::seconds> retry_after, TimePoint now) {
  if (status == 404) return on_list_page(kube::ListPage<CsrObject>{}, now);
  if (status != 200) return on_http_error(status, retry_after, now);
  auto page = parse_csr_read(body);
  if (!page.is_ok()) return on_malformed(page.status().message(), now);
  return on_list_page(page.value(), now);
}

CsrWait::Step CsrWait::on_event(const kube::WatchEvent<CsrObject>& ev, TimePoint now) {
  return finish(machine_.on_event(ev, now), now);
}

CsrWait::Step CsrWait::on_watch_end(TimePoint now) {
  return finish(machine_.on_watch_end(now), now);
}

CsrWait::Step CsrWait::on_http_error(int status, std::optional<std::chrono::seconds> retry_after,
                                     TimePoint now) {
  if (status == 403 && machine_.phase(now) != kube::WatchMachine::Phase::kIdle &&
      machine_.phase(now) != kube::WatchMachine::Phase::kWaiting) {
    forbidden_ = true;
  }
  return finish(machine_.on_http_error(status, retry_after, now), now);
}

CsrWait::Step CsrWait::on_malformed(const std::string& why, TimePoint now) {
  return finish(machine_.on_malformed(why, now), now);
}

CsrWait::Step CsrWait::on_time(TimePoint now) { return finish(kube::Output{}, now); }

CsrWait::Step CsrWait::finish(kube::Output out, TimePoint now) {
  Step step;
  step.error = std::move(out.error);
  step.ignored = out.ignored;
  std::optional<CsrObject> csr;
  if (auto it = machine_.items().find(name_); it != machine_.items().end()) csr = it->second;
  if (csr && csr->condition == CsrObject::Condition::kApproved && !approved_seen_) {
    approved_seen_ = true;
    step.newly_approved = true;
  }
  if (forbidden_) {
    step.decision.kind = CsrDecision::Kind::kForbidden;
    step.decision.message =
        "cannot list or watch certificatesigningrequests.certificates.k8s.io (" + step.error +
        "); apply rbac/csr.yaml to grant the pod's service account create, get, list and watch "
        "on certificatesigningrequests";
    return step;
  }
  step.decision = decide_csr(name_, signer_, csr, machine_.synced(), approved_seen_, timeout_,
                             now, deadline_);
  if (step.decision.kind == CsrDecision::Kind::kWaiting) step.next = std::move(out.next);
  return step;
}

std::string CsrWait::path_for(const kube::Request& request, TimePoint now) const {
  if (request.kind == kube::Request::Kind::kList) {
    return std::string(kCollection) + "/" + percent_encode(name_);
  }
  std::string path = std::string(kCollection) +
                     "?fieldSelector=" + percent_encode("metadata.name=" + name_);
  const auto left = std::chrono::ceil<std::chrono::seconds>(deadline_ - now).count();
  const int64_t timeout =
      std::max<int64_t>(1, std::min<int64_t>(request.timeout_seconds, left));
  path += "&watch=true&allowWatchBookmarks=true&resourceVersion=" +
          percent_encode(request.resource_version) +
          "&timeoutSeconds=" + std::to_string(timeout);
  return path;
}

}  // namespace esk8s::plugin
