// The `kubernetes-csr` way to get a certificate: create a certificates.k8s.io/v1
// CertificateSigningRequest for a custom signerName and watch it until a signer has issued the
// certificate — or until it is denied or fails (error with the condition's reason and message),
// or the timeout passes (error naming the CSR and the command that approves it).
//
// Built-in signers are refused before anything is sent: kubernetes.io/kube-apiserver-client
// issues credentials for the API server's own clients, kubernetes.io/kubelet-serving only signs
// kubelet serving certificates (and requires node names and IP SANs), and
// kubernetes.io/legacy-unknown is not signed by the kube-controller-manager at all.
//
// Thread-safety: a blocking call; run it on a thread that may wait (not the event loop).
// KubeClient::cancel() from another thread makes it return promptly with an error.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/logger.h"
#include "common/status.h"
#include "kube/kube_client.h"

namespace esk8s::plugin {

struct CsrRequestOptions {
  std::string signer_name = "esk8s.io/node";
  // Prefix of the CSR's name; a random suffix keeps names unique (CSRs are cluster-scoped).
  std::string name_prefix = "esk8s";
  std::chrono::seconds expiration{720 * 3600};  // spec.expirationSeconds (>= 600 per the API)
  std::chrono::seconds timeout{300};            // approval + signing
  bool key_encipherment = false;                // RSA keys: add the "key encipherment" usage
};

// Empty when `signer` may be used; otherwise why not (a sentence for the operator).
std::string refuse_builtin_signer(const std::string& signer);

// Returns the issued certificate (PEM) for `csr_pem`. Progress (created, approved, waiting) is
// logged at info level so an operator sees what the node is waiting for.
Result<std::string> request_certificate(kube::KubeClient& kube, const std::string& csr_pem,
                                        const CsrRequestOptions& options, const Logger& log);

}  // namespace esk8s::plugin
