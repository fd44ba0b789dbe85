// HTTPS servers for the discovery tests, on 127.0.0.1 with a certificate from a CA of their own
// (ca_file() verifies them):
//  - TestHttpsServer: a fake API server whose answers the test writes (malformed or oversized
//    lists, 401s);
//  - PathProxy: a path-routing proxy in front of another HTTPS server (kubesim), as Rancher and
//    other gateways put API servers behind https://gateway/k8s/clusters/<id>. It forwards only
//    targets under its prefix (the prefix removed, query kept, Authorization passed through)
//    and answers 404 to everything else. GETs are streamed as they arrive, so watches work
//    through it.
//
// Thread-safety: the handlers run on the servers' threads; counters are atomic or guarded.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/test_util.h"
#include "tls/x509.h"

namespace https_test {

class TestHttpsServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Generates the CA and the serving certificate (IP SAN 127.0.0.1), binds and serves `handler`
  // for GET and POST on every path.
  explicit TestHttpsServer(Handler handler) {
    using namespace std::chrono_literals;
    auto ca = esk8s::tls::make_self_signed_ca("test https CA", esk8s::tls::KeyType::kEcdsaP256,
                                              24h);
    REQUIRE(ca.is_ok());
    esk8s::tls::CertSpec spec;
    spec.common_name = "test-https";
    spec.ip_addresses = {"127.0.0.1"};
    auto cert = esk8s::tls::issue(spec, ca.value());
    REQUIRE(cert.is_ok());
    ca_file_ = dir_.write("ca.crt", ca->cert_pem);
    const std::string cert_file = dir_.write("server.crt", cert->cert_pem);
    const std::string key_file = dir_.write("server.key", cert->key_pem);
    server_ = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
    REQUIRE(server_->is_valid());
    // Every open watch holds a thread.
    server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
    server_->Get(".*", handler);
    server_->Post(".*", handler);
    port_ = server_->bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  ~TestHttpsServer() { stop(); }
  // Closes the listener and every connection; waits for the handlers to return. Idempotent.
  void stop() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  TestHttpsServer(const TestHttpsServer&) = delete;
  TestHttpsServer& operator=(const TestHttpsServer&) = delete;

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& ca_file() const { return ca_file_; }
  // A directory for the test's files (kubeconfigs), removed with the server.
  const esk8s::test::TempDir& dir() const { return dir_; }

 private:
  esk8s::test::TempDir dir_;
  std::string ca_file_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

class PathProxy {
 public:
  // Forwards https://127.0.0.1:<port><prefix>/X to <upstream_host>:<upstream_port>/X, verifying
  // the upstream with `upstream_ca_file`. REQUIRES: prefix starts with '/' and does not end
  // with one.
  PathProxy(std::string prefix, std::string upstream_host, int upstream_port,
            std::string upstream_ca_file)
      : prefix_(std::move(prefix)),
        upstream_host_(std::move(upstream_host)),
        upstream_port_(upstream_port),
        upstream_ca_file_(std::move(upstream_ca_file)),
        server_([this](const httplib::Request& req, httplib::Response& res) { route(req, res); }) {}

  ~PathProxy() {
    // No handler runs after this; streams still open upstream end when their connection is cut.
    server_.stop();
    std::vector<std::shared_ptr<Pipe>> pipes;
    {
      std::lock_guard lock(mu_);
      pipes = pipes_;
    }
    for (auto& p : pipes) p->cancel();
    for (auto& p : pipes) {
      if (p->thread.joinable()) p->thread.join();
    }
  }

  // The proxy's URL with its prefix: what a kubeconfig's server should say.
  std::string url() const { return server_.url() + prefix_; }
  // The proxy's URL without the prefix (requests there get 404).
  std::string root_url() const { return server_.url(); }
  const std::string& ca_file() const { return server_.ca_file(); }
  const esk8s::test::TempDir& dir() const { return server_.dir(); }

  // Targets (path and query, as received) that were forwarded, and those refused with 404.
  std::vector<std::string> forwarded() const {
    std::lock_guard lock(mu_);
    return forwarded_;
  }
  std::vector<std::string> refused() const {
    std::lock_guard lock(mu_);
    return refused_;
  }

 private:
  // One GET in flight upstream: its answer's head, and its body as it arrives.
  struct Pipe {
    std::mutex mu;
    std::condition_variable cv;
    bool head = false, done = false, cancelled = false;  // guarded by mu
    int status = 0;                                      // guarded by mu
    std::string content_type;                            // guarded by mu
    std::string data;                                    // guarded by mu: not yet sent down
    std::shared_ptr<httplib::SSLClient> client;          // set before the thread starts
    std::thread thread;

    void cancel() {
      {
        std::lock_guard lock(mu);
        cancelled = true;
      }
      cv.notify_all();
      client->stop();
    }
  };

  std::shared_ptr<httplib::SSLClient> upstream() const {
    auto c = std::make_shared<httplib::SSLClient>(upstream_host_, upstream_port_);
    c->set_ca_cert_path(upstream_ca_file_.c_str());
    c->enable_server_certificate_verification(true);
    c->set_read_timeout(700, 0);
    c->set_keep_alive(false);
    return c;
  }

  static httplib::Headers forwarded_headers(const httplib::Request& req) {
    httplib::Headers h;
    for (const char* name : {"Authorization", "Accept"}) {
      if (req.has_header(name)) h.emplace(name, req.get_header_value(name));
    }
    return h;
  }

  void route(const httplib::Request& req, httplib::Response& res) {
    const std::string& target = req.target;
    if (target.compare(0, prefix_.size() + 1, prefix_ + "/") != 0) {
      {
        std::lock_guard lock(mu_);
        refused_.push_back(target);
      }
      res.status = 404;
      res.set_content("404 page not found: this gateway routes only " + prefix_ + "/...\n",
                      "text/plain");
      return;
    }
    const std::string upstream_target = target.substr(prefix_.size());
    {
      std::lock_guard lock(mu_);
      forwarded_.push_back(target);
    }
    if (req.method == "POST") {
      auto r = upstream()->Post(upstream_target, forwarded_headers(req), req.body,
                                req.get_header_value("Content-Type"));
      if (!r) {
        res.status = 502;
        return;
      }
      res.status = r->status;
      res.set_content(r->body, r->get_header_value("Content-Type"));
      return;
    }
    stream_get(upstream_target, forwarded_headers(req), res);
  }

  // Forwards a GET, its body chunk by chunk as the upstream sends it.
  void stream_get(const std::string& target, httplib::Headers headers, httplib::Response& res) {
    auto pipe = std::make_shared<Pipe>();
    pipe->client = upstream();
    {
      std::lock_guard lock(mu_);
      pipes_.push_back(pipe);
    }
    pipe->thread = std::thread([pipe, target, headers] {
      pipe->client->Get(
          target, headers,
          [&](const httplib::Response& r) {
            std::lock_guard lock(pipe->mu);
            pipe->head = true;
            pipe->status = r.status;
            pipe->content_type = r.get_header_value("Content-Type");
            pipe->cv.notify_all();
            return true;
          },
          [&](const char* data, size_t len) {
            std::lock_guard lock(pipe->mu);
            if (pipe->cancelled) return false;
            pipe->data.append(data, len);
            pipe->cv.notify_all();
            return true;
          });
      std::lock_guard lock(pipe->mu);
      pipe->done = true;
      pipe->cv.notify_all();
    });
    std::unique_lock lock(pipe->mu);
    pipe->cv.wait(lock, [&] { return pipe->head || pipe->done; });
    if (!pipe->head) {
      res.status = 502;
      return;
    }
    res.status = pipe->status;
    const std::string content_type = pipe->content_type;
    lock.unlock();
    res.set_chunked_content_provider(
        content_type,
        [pipe](size_t, httplib::DataSink& sink) {
          std::unique_lock l(pipe->mu);
          pipe->cv.wait_for(l, std::chrono::milliseconds(200), [&] {
            return !pipe->data.empty() || pipe->done || pipe->cancelled;
          });
          if (!pipe->data.empty()) {
            std::string chunk;
            chunk.swap(pipe->data);
            l.unlock();
            return sink.write(chunk.data(), chunk.size());
          }
          if (pipe->done || pipe->cancelled) {
            l.unlock();
            sink.done();
          }
          return true;
        },
        [pipe](bool) {
          {
            std::lock_guard l(pipe->mu);
            pipe->cancelled = true;
          }
          pipe->client->stop();
        });
  }

  const std::string prefix_;
  const std::string upstream_host_;
  const int upstream_port_;
  const std::string upstream_ca_file_;
  mutable std::mutex mu_;
  std::vector<std::string> forwarded_;           // guarded by mu_
  std::vector<std::string> refused_;             // guarded by mu_
  std::vector<std::shared_ptr<Pipe>> pipes_;     // guarded by mu_
  TestHttpsServer server_;
};

}  // namespace https_test
