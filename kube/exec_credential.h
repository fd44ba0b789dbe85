// Exec credential plugins (client.authentication.k8s.io/v1 and v1beta1), the way kubectl runs
// `aws eks get-token`, `gke-gcloud-auth-plugin` or `kubelogin`: the command named by a kubeconfig
// user runs without a shell, with the user's `env` added to the inherited environment and
// KUBERNETES_EXEC_INFO set to an ExecCredential request (spec.interactive=false, and spec.cluster
// when provideClusterInfo). It prints an ExecCredential whose status holds a bearer token or a
// client certificate and key (PEM), and maybe an expirationTimestamp.
//
// Split in three so that everything but the process is unit-testable:
//   - exec_credential_request / parse_exec_credential: the JSON in and out (pure functions);
//   - run_process: spawning with bounds (stdin /dev/null, stderr passed through to a given fd,
//     stdout at most max_output bytes, killed with its process group after the timeout);
//   - ExecCredentialProvider: the cache (until expirationTimestamp, or until a 401 when there is
//     none), with the runner and the clock injected.
// Every error is a Status::config that names the kubeconfig user, the command and the fix
// (installHint when the command is missing).
//
// Thread-safety: the free functions are pure or touch only their own child process.
// ExecCredentialProvider may be used from any thread; concurrent get() calls wait for one run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kube/kube_config.h"

namespace esk8s::kube {

// What the plugin returned.
struct ExecCredential {
  std::string token;                            // bearer token, or empty
  std::string client_cert_pem, client_key_pem;  // client certificate and key, or empty
  // When the credential stops being valid; nullopt: until the API server answers 401.
  std::optional<std::chrono::system_clock::time_point> expiry;
};

// The cluster the plugin is told about with provideClusterInfo.
struct ExecClusterInfo {
  std::string server;
  std::string ca_pem;  // sent base64-encoded as certificate-authority-data; may be empty
};

// One child process to run. `program` without '/' is looked up in PATH.
struct ProcessSpec {
  std::string program;
  std::vector<std::string> args;                         // argv[1...]
  std::vector<std::pair<std::string, std::string>> env;  // set on top of the inherited environment
  size_t max_output = 1024 * 1024;                       // stdout bytes kept; more kills it
  std::chrono::milliseconds timeout{30000};              // then the process group is killed
  int stderr_fd = 2;                                     // the child's stderr (passed through)
  const std::atomic<bool>* cancelled = nullptr;          // when it turns true: killed at once
};

struct ProcessOutcome {
  enum class Kind {
    kExited,          // exit_code is its status
    kSignaled,        // killed by signal exit_code
    kNotFound,        // the program does not exist (or is not in PATH)
    kNotExecutable,   // it exists but cannot be executed (permissions, format)
    kTimedOut,        // killed after the timeout
    kOutputTooLarge,  // killed after more than max_output bytes of stdout
    kCancelled,       // killed because `cancelled` turned true
    kFailed,          // could not be started (error says why)
  };
  Kind kind = Kind::kFailed;
  int exit_code = -1;
  std::string out;    // stdout (at most max_output bytes)
  std::string error;  // for kFailed/kNotExecutable: the system's reason
};

using ProcessRunner = std::function<ProcessOutcome(const ProcessSpec&)>;

// Runs the process with posix_spawn (no shell) in its own process group, stdin from /dev/null.
ProcessOutcome run_process(const ProcessSpec& spec);

// The KUBERNETES_EXEC_INFO value: an ExecCredential request of the plugin's apiVersion with
// spec.interactive=false and, when `cluster` is given, spec.cluster.
std::string exec_credential_request(const ExecConfig& exec, const ExecClusterInfo* cluster);

// Reads the plugin's stdout: an ExecCredential of the requested apiVersion whose status has a
// token or a client certificate and key, and an optional RFC 3339 expirationTimestamp.
Result<ExecCredential> parse_exec_credential(std::string_view out, const ExecConfig& exec);


struct ExecCredentialOptions {
  std::chrono::milliseconds timeout{30000};  // one run of the plugin, then killed
  size_t max_output = 1024 * 1024;           // its stdout
  int stderr_fd = 2;                         // where its stderr goes (the CLI's stderr)
  ProcessRunner runner;                      // empty: run_process
  std::function<std::chrono::system_clock::time_point()> now;  // empty: the system clock
};

class ExecCredentialProvider {
 public:
  // `cluster` is sent only when exec.provide_cluster_info.
  ExecCredentialProvider(ExecConfig exec, ExecClusterInfo cluster, ExecCredentialOptions options);

  // The cached credential until its expiry, else a fresh one from the plugin.
  Result<ExecCredential> get();
  // After a 401 answered to `used`: forgets the cached credential if it is still `used`, so the
  // next get() runs the plugin again (once, however many requests saw the 401).
  void invalidate(const ExecCredential& used);
  // Kills a running plugin; get() fails until reset_cancel().
  void cancel();
  void reset_cancel();
  // How many times the plugin was started.
  uint64_t runs() const { return runs_.load(); }

 private:
  Result<ExecCredential> run();

  const ExecConfig exec_;
  const ExecClusterInfo cluster_;
  const ExecCredentialOptions options_;
  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> runs_{0};
  std::mutex mu_;                        // held while the plugin runs
  std::optional<ExecCredential> cached_;  // guarded by mu_
};

}  // namespace esk8s::kube
