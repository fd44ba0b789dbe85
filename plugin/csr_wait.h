// Waiting for one CertificateSigningRequest, without I/O: the `kubernetes-csr` flow's decisions
// (issued / denied or failed / deleted / forbidden / still waiting / deadline passed) over the
// generic list/watch machine (kube/watch_state.h) and decoder (kube/watch_stream.h).
//
// The wait watches `certificatesigningrequests` with fieldSelector=metadata.name=<name> (one
// object), so it inherits the machine's manners: backoff with full jitter on 5xx and connection
// errors, Retry-After on 429, relist on 410, resume from the last resourceVersion. The machine's
// "list" is a GET of the object by name, answered as a list of one (404: a list of none):
// rbac/csr.yaml grants create, get and watch, and a list would need a fourth verb that every
// deployed ClusterRole lacks.
// The driver (csr_request.cc) performs the requests CsrWait asks for, at or after their
// not_before, and feeds the answers in; time is an argument, so tests run it on a fake clock.
//
//   start() ──▶ list ──▶ watch ──▶ ... ──▶ kIssued    certificate in status.certificate
//                                      ├─▶ kRefused   a Denied or Failed condition, or a
//                                      │              status.certificate that is not PEM
//                                      ├─▶ kDeleted   gone from a complete list, or DELETED
//                                      ├─▶ kForbidden HTTP 403 (RBAC: rbac/csr.yaml)
//                                      └─▶ kTimedOut  any input at or after the deadline
//
// Thread-safety: none; a plain value used by the one thread that waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "kube/watch_state.h"

namespace esk8s::plugin {

// What the wait reads of a CertificateSigningRequest.
struct CsrObject {
  enum class Condition { kPending, kApproved, kIssued, kRefused };
  std::string name;
  std::string resource_version;
  Condition condition = Condition::kPending;
  std::string certificate_pem;  // kIssued
  std::string detail;           // kRefused: "Denied (NamesNotAllowed): ..."
};

// A CertificateSigningRequest object at `path` of its document. Only metadata must have the
// right shape; a status that cannot be read leaves the object pending, and a status.certificate
// that is not base64 of PEM makes it kRefused (the signer answered with garbage).
Status parse_csr_object(const nlohmann::json& obj, const std::string& path, CsrObject& out);
// The answer to GET .../certificatesigningrequests/<name> as a list page of that one object.
Result<kube::ListPage<CsrObject>> parse_csr_read(std::string_view body);
Result<kube::WatchEvent<CsrObject>> parse_csr_watch_event(std::string_view line);

}  // namespace esk8s::plugin

namespace esk8s::kube {

template <>
struct ObjectTraits<plugin::CsrObject> {
  static std::string key(const plugin::CsrObject& c) { return c.name; }
  static std::string resource_version(const plugin::CsrObject& c) { return c.resource_version; }
  static bool same(const plugin::CsrObject& a, const plugin::CsrObject& b) {
    return a.resource_version == b.resource_version && a.condition == b.condition &&
           a.certificate_pem == b.certificate_pem && a.detail == b.detail;
  }
  static constexpr const char* kNoun = "CertificateSigningRequest";
  static constexpr const char* kResource = "certificatesigningrequests.certificates.k8s.io";
};

}  // namespace esk8s::kube

namespace esk8s::plugin {

struct CsrDecision {
  enum class Kind { kWaiting, kIssued, kRefused, kDeleted, kForbidden, kTimedOut };
  Kind kind = Kind::kWaiting;
  std::string certificate_pem;  // kIssued
  // For every kind but kWaiting and kIssued: the sentence for the operator (names the CSR, the
  // signer and what to do).
  std::string message;
};

// The pure decision: `csr` is the object as last seen (nullopt: not in the current set),
// `listed` whether a complete list has been received, `approved_seen` whether it was ever seen
// approved. Deadline first: at or after it, anything not yet issued or refused is kTimedOut.
CsrDecision decide_csr(const std::string& name, const std::string& signer,
                       const std::optional<CsrObject>& csr, bool listed, bool approved_seen,
                       std::chrono::seconds timeout, std::chrono::steady_clock::time_point now,
                       std::chrono::steady_clock::time_point deadline);

// The list/watch settings of the wait: client-go's backoff (800 ms initial, doubling) with a
// 10 s cap, so a node waiting minutes for approval retries a struggling API server at most
// every 10 s; watches of 60-120 s (the driver shortens the last one to the deadline).
kube::WatchConfig csr_watch_config();

class CsrWait {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Step {
    // The request to issue at or after next->not_before; set whenever the decision is kWaiting
    // and the request in flight is to be replaced (see the machine's driver contract).
    std::optional<kube::Next> next;
    CsrDecision decision;
    bool newly_approved = false;  // the first input that showed the CSR approved
    std::string error;            // the machine's sentence for an error input, for the logs
    bool ignored = false;
  };

  // REQUIRES: config.validate().is_ok().
  CsrWait(std::string name, std::string signer, std::chrono::seconds timeout, TimePoint started,
          kube::WatchConfig config, uint64_t seed);

  Step start(TimePoint now);
  Step on_list_page(const kube::ListPage<CsrObject>& page, TimePoint now);
  // The answer to the "list" (a GET by name): 200 -> its object, 404 -> none (kDeleted once it
  // is complete), a body that is not a CSR -> malformed, other statuses -> on_http_error.
  Step on_read(int status, std::string_view body, std::optional<std::chrono::seconds> retry_after,
               TimePoint now);
  Step on_event(const kube::WatchEvent<CsrObject>& ev, TimePoint now);
  Step on_watch_end(TimePoint now);
  // 403 is kForbidden at once; everything else is the machine's (backoff, Retry-After, relist).
  Step on_http_error(int status, std::optional<std::chrono::seconds> retry_after, TimePoint now);
  Step on_malformed(const std::string& why, TimePoint now);
  // Time passed without an input (the driver woke at the deadline): the decision at `now`.
  Step on_time(TimePoint now);

  // The API path (under the client's base path) of a request the wait asked for. A watch's
  // timeoutSeconds is cut so that it ends by the deadline (at least 1 s).
  std::string path_for(const kube::Request& request, TimePoint now) const;

  const std::string& name() const { return name_; }
  TimePoint deadline() const { return deadline_; }
  const kube::WatchState<CsrObject>& machine() const { return machine_; }

 private:
  Step finish(kube::Output out, TimePoint now);

  std::string name_;
  std::string signer_;
  std::chrono::seconds timeout_;
  TimePoint deadline_;
  kube::WatchState<CsrObject> machine_;
  bool approved_seen_ = false;
  bool forbidden_ = false;
  std::string forbidden_message_;
};

}  // namespace esk8s::plugin
