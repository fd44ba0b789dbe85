// An HTTPS gateway in front of the test cluster's kube-apiserver, on 127.0.0.1 with a
// certificate from a CA of its own (ca_file() verifies it). It terminates TLS, so it sees and
// may change what passes:
//  - a path prefix, as Rancher and other gateways put API servers behind
//    https://gateway/k8s/clusters/<id>: only targets under the prefix are forwarded (the prefix
//    removed, query kept, Authorization passed through); everything else is answered 404. An
//    empty prefix forwards everything.
//  - hold(substring): requests whose target contains it wait (before they are forwarded) until
//    release(), so a test can act between two requests of the client (a compaction between the
//    pages of a list);
//  - corrupt_next_watch_event(): the next ADDED, MODIFIED or DELETED event of a watch stream
//    reaches the client with garbage in front of it (a malformed line; the real API never
//    sends one);
//  - replace_list_body(body): every EndpointSlice list answer that is 200 reaches the client
//    with `body` instead (a malformed list; the real API never sends one).
// GETs are streamed as they arrive, so watches work through it. forwarded() and refused() list
// the targets it saw.
//
// Thread-safety: the handlers run on the server's threads; the state is atomic or guarded.
#pragma once

#include <signal.h>

#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/test_util.h"
#include "tls/x509.h"

namespace esk8s::discoverytest {

class Gateway {
 public:
  // Forwards https://127.0.0.1:<port><prefix>/X to <upstream_host>:<upstream_port>/X, verifying
  // the upstream with `upstream_ca_file`. REQUIRES: prefix is empty, or starts with '/' and does
  // not end with one.
  Gateway(std::string prefix, std::string upstream_host, int upstream_port,
          std::string upstream_ca_file)
      : prefix_(std::move(prefix)),
        upstream_host_(std::move(upstream_host)),
        upstream_port_(upstream_port),
        upstream_ca_file_(std::move(upstream_ca_file)) {
    using namespace std::chrono_literals;
    // The gateway's own server and upstream connections (cpp-httplib over OpenSSL) may write to a
    // socket the source or the apiserver reset; that is the test's plumbing, not the code under
    // test (whose client guards itself, common/sigpipe.h), so the process ignores SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    auto ca = tls::make_self_signed_ca("test gateway CA", tls::KeyType::kEcdsaP256, 24h);
    REQUIRE(ca.is_ok());
    tls::CertSpec spec;
    spec.common_name = "test-gateway";
    spec.ip_addresses = {"127.0.0.1"};
    auto cert = tls::issue(spec, ca.value());
    REQUIRE(cert.is_ok());
    ca_file_ = dir_.write("ca.crt", ca->cert_pem);
    const std::string cert_file = dir_.write("server.crt", cert->cert_pem);
    const std::string key_file = dir_.write("server.key", cert->key_pem);
    server_ = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
    REQUIRE(server_->is_valid());
    // Every open watch holds a thread.
    server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { route(req, res); };
    server_->Get(".*", handler);
    server_->Post(".*", handler);
    port_ = server_->bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }

  ~Gateway() {
    release();
    // No handler runs after this; streams still open upstream end when their connection is cut.
    server_->stop();
    if (thread_.joinable()) thread_.join();
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
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The gateway's URL with its prefix: what a kubeconfig's server should say.
  std::string url() const { return root_url() + prefix_; }
  // The gateway's URL without the prefix.
  std::string root_url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& ca_file() const { return ca_file_; }
  // A directory for the test's files (kubeconfigs), removed with the gateway.
  const test::TempDir& dir() const { return dir_; }

  // Targets (path and query, as received) that were forwarded, and those refused with 404.
  std::vector<std::string> forwarded() const {
    std::lock_guard lock(mu_);
    return forwarded_;
  }
  std::vector<std::string> refused() const {
    std::lock_guard lock(mu_);
    return refused_;
  }

  void hold(std::string target_substring) {
    std::lock_guard lock(mu_);
    hold_ = std::move(target_substring);
  }
  // Lets every held request (and later ones) through.
  void release() {
    {
      std::lock_guard lock(mu_);
      hold_.reset();
    }
    held_cv_.notify_all();
  }
  // Requests waiting in hold() now.
  int held() const {
    std::lock_guard lock(mu_);
    return held_;
  }
  void corrupt_next_watch_event() { corrupt_event_ = true; }
  void replace_list_body(std::string body) {
    std::lock_guard lock(mu_);
    list_body_ = std::move(body);
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

  // Waits while `target` is held.
  void wait_if_held(const std::string& target) {
    std::unique_lock lock(mu_);
    auto holds = [&] { return hold_ && target.find(*hold_) != std::string::npos; };
    if (!holds()) return;
    ++held_;
    held_cv_.wait(lock, [&] { return !holds(); });
    --held_;
  }

  // Garbage in front of the first ADDED, MODIFIED or DELETED event in `chunk`, once armed.
  void maybe_corrupt(std::string& chunk) {
    if (!corrupt_event_) return;
    for (const char* type :
         {R"({"type":"ADDED")", R"({"type":"MODIFIED")", R"({"type":"DELETED")"}) {
      const size_t at = chunk.find(type);
      if (at != std::string::npos && corrupt_event_.exchange(false)) {
        chunk.insert(at, "#not-json#");
        return;
      }
    }
  }

  void route(const httplib::Request& req, httplib::Response& res) {
    const std::string& target = req.target;
    if (!prefix_.empty() && target.compare(0, prefix_.size() + 1, prefix_ + "/") != 0) {
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
    wait_if_held(upstream_target);
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
    const bool watch = upstream_target.find("watch=true") != std::string::npos;
    if (!watch && upstream_target.find("/endpointslices?") != std::string::npos) {
      std::optional<std::string> replacement;
      {
        std::lock_guard lock(mu_);
        replacement = list_body_;
      }
      if (replacement) {
        auto r = upstream()->Get(upstream_target, forwarded_headers(req));
        if (!r) {
          res.status = 502;
          return;
        }
        res.status = r->status;
        res.set_content(r->status == 200 ? *replacement : r->body, "application/json");
        return;
      }
    }
    stream_get(upstream_target, forwarded_headers(req), watch, res);
  }

  // Forwards a GET, its body chunk by chunk as the upstream sends it.
  void stream_get(const std::string& target, httplib::Headers headers, bool watch,
                  httplib::Response& res) {
    auto pipe = std::make_shared<Pipe>();
    pipe->client = upstream();
    {
      std::lock_guard lock(mu_);
      pipes_.push_back(pipe);
    }
    pipe->thread = std::thread([this, pipe, target, headers, watch] {
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
            std::string chunk(data, len);
            if (watch) maybe_corrupt(chunk);
            std::lock_guard lock(pipe->mu);
            if (pipe->cancelled) return false;
            pipe->data += chunk;
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
  test::TempDir dir_;
  std::string ca_file_;
  std::atomic<bool> corrupt_event_{false};
  mutable std::mutex mu_;
  std::condition_variable held_cv_;
  std::optional<std::string> hold_;               // guarded by mu_
  int held_ = 0;                                  // guarded by mu_
  std::optional<std::string> list_body_;          // guarded by mu_
  std::vector<std::string> forwarded_;            // guarded by mu_
  std::vector<std::string> refused_;              // guarded by mu_
  std::vector<std::shared_ptr<Pipe>> pipes_;      // guarded by mu_
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace esk8s::discoverytest
