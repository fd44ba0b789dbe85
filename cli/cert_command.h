// `esk8s cert`: make and check the certificates esk8s uses, offline.
//   create-ca    a cluster CA (ca.crt 0644, ca.key 0600) for ESK8S_TLS_MODE=local-ca
//   create-node  a member certificate signed by that CA, as the files of a Kubernetes TLS Secret
//                (tls.crt, tls.key 0600, ca.crt) for ESK8S_TLS_MODE=files
//   inspect      what a certificate holds and every problem esk8s would have with it
//
// Exit codes: 0 done / no problems, 1 failed / problems found, 2 usage error (unknown or missing
// option, invalid name, unreadable input file).
//
// Thread-safety: one call at a time per output stream; commands share no state.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace esk8s::cli {

// What the commands take from the machine, injectable for tests.
struct CertContext {
  std::string resolv_conf_path = "/etc/resolv.conf";  // cluster domain detection
  // The time `inspect` judges validity at; unset = the system clock.
  std::optional<std::chrono::system_clock::time_point> now;
};

// `args` are the words after "esk8s cert", e.g. {"inspect", "tls.crt", "--json"}.
int cert_command(const std::vector<std::string>& args, const CertContext& ctx, std::ostream& out,
                 std::ostream& err);

// The usage text of `esk8s cert` (also part of `esk8s help`).
extern const char* const kCertUsage;

}  // namespace esk8s::cli
