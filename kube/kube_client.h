// A small Kubernetes API client over verified HTTPS (cpp-httplib + OpenSSL): one-shot GET/POST
// and streaming GETs for watches. It owns the credentials lifecycle that other discovery plugins
// get wrong:
// - a token file is re-read by path about every `token_reload` and immediately after a 401
//   (the kubelet rotates bound service-account tokens through a symlink swap);
// - an exec credential plugin (kubeconfig `exec`) is run at create(), its credential cached
//   until its expirationTimestamp, and run again after a 401 (exec_credential.h);
// - a CA file is reloaded when it changes;
// - the server certificate is always verified (chain and host name); there is no insecure mode.
// Paths are API paths ("/apis/..."); a server URL with a path (an API server behind a
// path-routing proxy, e.g. https://rancher.example.com/k8s/clusters/c-1) puts every request
// under it.
//
// Thread-safety: all methods may be called concurrently; each request uses its own connection.
// cancel() aborts every in-flight request (used by stop()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/env.h"
#include "common/logger.h"
#include "common/status.h"
#include "kube/exec_credential.h"
#include "kube/kube_config.h"

namespace httplib {
class SSLClient;
}

namespace esk8s::kube {

struct ApiResponse {
  int status = 0;    // HTTP status; 0 when no response (connection error, cancelled)
  std::string body;  // the body (for streams: only for non-2xx answers)
  std::optional<std::chrono::seconds> retry_after;
  std::string error;  // why there was no response
};

// The message of a Kubernetes Status answer (its `message`), or the start of the body, made
// printable, when the body is not one.
std::string status_message(std::string_view body);
// Why a request failed, for people: the connection error when there was no response, else
// "HTTP <status>: <status_message(body)>".
std::string describe_failure(const ApiResponse& r);

struct KubeClientOptions {
  // The clock the token's re-read period is measured on and the file system the token, CA and
  // client-certificate files are read from (common/env.h; a test passes a fake). Never null;
  // must outlive the client.
  Env* env = &real_env();
  std::chrono::seconds token_reload{60};
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds request_timeout{30};
  ExecCredentialOptions exec;  // how an exec plugin runs (timeout, output bound, stderr)
};

class KubeClient {
 public:
  // Fails when the server URL, CA or client certificate cannot be used, or when an exec plugin
  // fails its first run (the message names them).
  static Result<std::unique_ptr<KubeClient>> create(KubeConfig config, KubeClientOptions options,
                                                    Logger log);
  ~KubeClient();

  ApiResponse get(const std::string& path_and_query);
  ApiResponse post(const std::string& path, const std::string& json_body);
  ApiResponse put(const std::string& path, const std::string& json_body);
  // PATCH with a JSON merge patch (application/merge-patch+json, RFC 7386).
  ApiResponse patch(const std::string& path, const std::string& merge_patch);
  // GET with the body delivered incrementally to `on_data` while the status is 2xx; returning
  // false from `on_data` ends the stream. `read_timeout` bounds silence on the connection.
  ApiResponse stream(const std::string& path_and_query,
                     const std::function<bool(std::string_view)>& on_data,
                     std::chrono::seconds read_timeout);
  // Aborts in-flight requests; later requests fail at once until reset_cancel().
  void cancel();
  void reset_cancel();
  // cancel() was called and reset_cancel() not since.
  bool cancelled() const { return cancelled_.load(); }

  const KubeConfig& config() const { return config_; }
  // The server URL's path without a trailing '/' ("" for none); every request goes under it.
  const std::string& base_path() const { return base_path_; }
  uint64_t requests() const { return requests_.load(); }

 private:
  KubeClient(KubeConfig config, KubeClientOptions options, Logger log, ServerAddress address);
  // A fresh connection with the current CA, client certificate and timeouts. nullptr when
  // cancelled or when the CA cannot be loaded (`error` says why).
  // `exec` is the exec plugin's credential, when there is a plugin (its client certificate, if
  // any, replaces the kubeconfig's).
  std::shared_ptr<httplib::SSLClient> connect(std::string& error,
                                              const ExecCredential* exec = nullptr);
  void release(const std::shared_ptr<httplib::SSLClient>& c);
  std::string current_token(bool force_reload);
  // The bearer token for a request (empty: none) and, with an exec plugin, its credential.
  // False (and `error`) when the plugin fails.
  bool credentials(bool force_reload, std::string& token, std::optional<ExecCredential>& exec,
                   std::string& error);
  ApiResponse finish(int status, std::string body, const std::string& retry_after_header);
  // GET, POST, PUT or PATCH, retried once with a re-read token after a 401.
  ApiResponse request(const std::string& method, const std::string& path,
                      const std::string& json_body);

  const KubeConfig config_;
  const KubeClientOptions options_;
  Logger log_;
  const std::string host_;
  const uint16_t port_;
  const std::string base_path_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<bool> cancelled_{false};
  std::unique_ptr<ExecCredentialProvider> exec_;  // set when the user has an exec plugin

  std::mutex mu_;
  std::set<std::shared_ptr<httplib::SSLClient>> active_;  // guarded by mu_
  std::string token_;                                     // guarded by mu_
  SteadyTime token_read_{};                               // guarded by mu_
  std::string ca_pem_;        // guarded by mu_: inline or last read from ca_file
  std::optional<FileStat> ca_signature_;  // guarded by mu_: ca_file when last read
};

}  // namespace esk8s::kube
