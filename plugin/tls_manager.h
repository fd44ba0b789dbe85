// TlsManager owns the node's certificate for the gossip transport (ESK8S_TLS_MODE):
//   local-ca        signs with the CA in ESK8S_TLS_CA_DIR (ca.crt + ca.key), in-process;
//   kubernetes-csr  asks the certificates.k8s.io API (csr_request.h); the trust bundle is
//                   ESK8S_TLS_CA_DIR/ca.crt (the signer's CA, mounted from a ConfigMap);
//   files           loads ESK8S_TLS_DIR/{tls.crt,tls.key,ca.crt} (cert-manager, a CSI driver).
// It builds an immutable gossip::TlsSnapshot from each certificate and hands it over; renews at
// two thirds of the lifetime, on SAN drift and on a trust-bundle change (files: when the files
// change), on its own worker thread; writes issued material to ESK8S_TLS_OUT_DIR when set (key
// 0600) for the database to use; and verifies peers (peer_verify.h) against the current bundle.
//
// Thread-safety: start/stop from the controlling thread; state() and verifier() from any thread
// (the state is guarded by a mutex). The material callback runs on the worker thread (or inside
// start() for the first certificate of local-ca and files); the caller posts it to its loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/logger.h"
#include "common/status.h"
#include "kube/kube_client.h"
#include "gossip/tls_snapshot.h"
#include "gossip/transport.h"
#include "plugin/config.h"
#include "tls/files_source.h"

namespace esk8s::plugin {

// What /metrics and /health/startup show about TLS.
struct TlsState {
  std::string mode;
  bool have_certificate = false;
  std::string waiting_for;  // while !have_certificate: what the node waits for
  std::string last_error;   // the last failed attempt (issuance or renewal)
  std::chrono::system_clock::time_point not_after{};
  std::chrono::system_clock::time_point renew_at{};
  uint64_t renewals = 0;  // successful replacements after the first certificate
  uint64_t renewal_failures = 0;
  std::vector<std::string> warnings;  // files mode: IP SANs, missing peer names (sentences)
};

class TlsManager {
 public:
  using OnMaterial = std::function<void(std::shared_ptr<const gossip::TlsSnapshot>)>;

  // `kube` is needed in kubernetes-csr mode only (may be null otherwise).
  // `check_interval`: how often files, the CA directory and the names are re-checked between
  // renewals. `env` gives the clocks (renewal decisions, the `now` peers' certificates are
  // judged by) and the worker's timer; tests pass a fake and move time themselves. The
  // certificate and key files are read from the file system directly.
  TlsManager(Config config, Logger log, std::unique_ptr<kube::KubeClient> kube,
             std::chrono::milliseconds check_interval = std::chrono::seconds(10),
             Env& env = real_env());
  ~TlsManager();
  TlsManager(const TlsManager&) = delete;
  TlsManager& operator=(const TlsManager&) = delete;

  // local-ca and files: obtains the first certificate before returning (an error fails the
  // plugin's start with a sentence naming the file or setting to fix). kubernetes-csr: returns at
  // once; the certificate arrives through `on_material` when a signer has issued it.
  Status start(OnMaterial on_material);
  void stop();

  TlsState state() const;
  // Verifies a peer against the current trust bundle and the allowed identities.
  gossip::PeerVerifier verifier() const;

 private:
  struct Obtained;
  Result<Obtained> obtain();
  void install(Obtained o);
  void run();
  bool wait(std::chrono::steady_clock::duration d);  // false when stopping
  std::string source_fingerprint() const;

  Config config_;
  Logger log_;
  std::unique_ptr<kube::KubeClient> kube_;
  OnMaterial on_material_;
  std::chrono::milliseconds check_interval_;
  std::vector<std::string> allow_list_, cluster_patterns_;

  Env& env_;
  std::unique_ptr<Waker> waker_;  // the worker's timer; woken by stop()
  mutable std::mutex mu_;
  bool stopping_ = false;   // guarded by mu_
  TlsState state_;          // guarded by mu_
  std::string bundle_pem_;  // guarded by mu_: trust bundle of the current certificate
  std::string cert_pem_;    // guarded by mu_
  std::unique_ptr<tls::FilesSource> files_;  // files mode: loads and detects changes
  std::string issued_from_;  // fingerprint of what the current certificate was issued from
  std::thread worker_;
};

}  // namespace esk8s::plugin
