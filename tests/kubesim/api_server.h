// kubesim's Kubernetes API server: HTTPS with its own CA, bearer tokens, RBAC from the stored
// Role/Binding objects, discovery documents, get/list/watch/create/update/patch/delete with the
// real server's status codes and Status bodies, and fault knobs for tests.
//
// Thread-safety: start/stop from one thread; requests are served on a pool of worker threads
// (one per open watch), all going through the thread-safe Store.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "tests/kubesim/api_error.h"
#include "tests/kubesim/auth.h"
#include "tests/kubesim/resources.h"
#include "tests/kubesim/store.h"

namespace httplib {
class SSLServer;
struct Request;
struct Response;
}  // namespace httplib

namespace kubesim {

struct ServerOptions {
  std::string state_dir;  // ca.crt, server.crt/key, kubeconfig are written here
  std::string address = "127.0.0.1";
  uint16_t port = 0;    // 0 = any free port
  size_t threads = 96;  // each open watch holds one
  std::chrono::milliseconds bookmark_interval{5000};
  // A watch from a too-old resourceVersion: false = HTTP 200 with an ERROR event (what the
  // watch cache does), true = HTTP 410 with a Status body.
  bool watch_gone_as_http_status = false;
};

// Test and admin knobs; all may change while serving.
struct Faults {
  std::atomic<bool> outage{false};  // every API request is refused at the TCP level (503 + close)
  std::atomic<int> latency_ms{0};   // added to every API request
  std::atomic<int> throttle_requests{
      0};  // the next N API requests get 429 (plain text, Retry-After)
  std::atomic<int> retry_after_seconds{1};
  std::atomic<int> error_requests{0};    // the next N API requests get 500
  std::atomic<int> malformed_events{0};  // the next N watch events are sent as broken JSON
  std::atomic<uint64_t> close_watches_generation{0};  // bumping it ends every open watch
};

class ApiServer {
 public:
  ApiServer(ServerOptions options, Store& store, ResourceRegistry& registry, Authenticator& auth);
  ~ApiServer();

  // Generates the CA and serving certificate, writes DIR/ca.crt and DIR/kubeconfig (an admin
  // user), binds and serves. Returns once serving.
  esk8s::Status start();
  void stop();

  std::string url() const;  // https://127.0.0.1:PORT
  uint16_t port() const { return port_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& ca_pem() const { return ca_pem_; }
  // The CA cert/key (PEM) that signed the serving certificate (used by the CSR signer too).
  const std::string& ca_key_pem() const { return ca_key_pem_; }
  Faults& faults() { return faults_; }
  // Requests served, by HTTP verb+code (for benchmarks and tests).
  nlohmann::json request_counts() const;

  // Handles one request (public for tests).
  void handle(const httplib::Request& req, httplib::Response& res);

  // Requests under /kubesim/ (admin token only) go to this handler: the simulator's admin API
  // (fault knobs, compaction, pod crashes). Set before start().
  using AdminHandler = std::function<void(const httplib::Request&, httplib::Response&)>;
  void set_admin_handler(AdminHandler h) { admin_handler_ = std::move(h); }

 private:
  struct Route;
  void serve_resource(const httplib::Request& req, httplib::Response& res, const UserInfo& user,
                      const Route& route);
  void serve_watch(const httplib::Request& req, httplib::Response& res, const Route& route);
  void send_error(httplib::Response& res, const ApiError& e);
  ApiResult<nlohmann::json> apply_create_hooks(const ResourceType& t, const std::string& ns,
                                               nlohmann::json obj, const UserInfo& user);
  void after_write(const ResourceType& t, const std::string& verb, const nlohmann::json& obj);
  ApiResult<nlohmann::json> review(const ResourceType& t, const nlohmann::json& body,
                                   const UserInfo& user);
  bool authorized(const UserInfo& user, const struct RequestAttributes& attrs) const;
  void count(const std::string& user, const std::string& verb, int code);

  AdminHandler admin_handler_;
  std::atomic<bool> stopping_{false};
  ServerOptions opts_;
  Store& store_;
  ResourceRegistry& registry_;
  Authenticator& auth_;
  Faults faults_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::string admin_token_;
  std::string ca_pem_, ca_key_pem_;
  mutable std::mutex counts_mu_;
  std::map<std::string, uint64_t> counts_;  // guarded by counts_mu_
};

}  // namespace kubesim
