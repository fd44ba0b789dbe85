// `esk8s doctor`: inspects the namespace(s) of an esk8s cluster through the Kubernetes API and
// reports every known pitfall with why it matters and how to fix it (the checks are listed in
// doctor_checks.h). It connects like `esk8s discover` (--kubeconfig, ESK8S_KUBECONFIG,
// KUBECONFIG, else in-cluster), asks SubjectAccessReviews about the members' service account,
// and reads each pod's /members when it can reach the pods. Besides the namespaces given it
// reads every namespace the members name in ESK8S_PEER_NAMESPACES, and judges each cluster
// (assemble_clusters) as a whole.
//
// Exit codes: 0 no error finding (warnings and info allowed), 1 at least one error finding,
// 2 usage error or the API cannot be used at all (unreachable, credentials refused, StatefulSets
// not listable in a namespace given; in a namespace only named by members that is a finding).
// Findings go to `out`; progress and fatal messages to `err`.
//
// Thread-safety: one call at a time per output stream; the /members fetches run concurrently
// inside a call.
#pragma once

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"

namespace esk8s::cli {

struct DoctorOptions {
  std::vector<std::string> namespaces;  // --namespace (repeatable); default: the context's, else
                                        // "default"
  std::string kubeconfig;               // --kubeconfig; default ESK8S_KUBECONFIG / KUBECONFIG
  bool json = false;                    // --json
  bool color = false;  // ANSI colours in the table; main sets it when stdout is a terminal
  std::chrono::milliseconds member_timeout{1000};  // connect and read timeout of /members
};

// The words after "esk8s doctor"; invalid_argument naming the bad word.
Result<DoctorOptions> parse_doctor_args(const std::vector<std::string>& args);

int doctor_command(const DoctorOptions& opts, std::ostream& out, std::ostream& err);

// The usage text of `esk8s doctor` (also part of `esk8s help`).
extern const char* const kDoctorUsage;

}  // namespace esk8s::cli
