#include "plugin/http_server.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "common/escape.h"
#include "plugin/http_connection_table.h"
#include "plugin/http_router.h"
#include "plugin/http_session.h"

namespace esk8s::plugin {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// After a failed accept (out of descriptors, ...) the next one waits this long, so the accept
// loop cannot spin.
constexpr std::chrono::milliseconds kAcceptRetry{10};
// stop() lets connections close by themselves this long before stopping the io_context.
constexpr std::chrono::milliseconds kStopGrace{1000};

void set_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

std::chrono::steady_clock::time_point from_ns(int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

}  // namespace

// The running server. Members a session calls through HttpSessionHost are declared before the
// io_context, so destroying the io_context (and the handlers holding the sessions) comes first.
struct HttpServer::Impl final : HttpSessionHost {
  Impl(HttpServer& server, size_t max_connections) : s(server), table(max_connections) {}

  HttpServer& s;
  std::mutex mu;
  HttpConnectionTable table;                                                 // guarded by mu
  std::unordered_map<uint64_t, std::weak_ptr<HttpConnection>> connections;  // guarded by mu
  uint64_t next_id = 1;                                                      // guarded by mu
  bool stopping = false;                                                     // guarded by mu
  std::condition_variable threads_done;
  size_t threads_running = 0;  // guarded by mu

  asio::io_context io;
  // The acceptors and their retry timers live on one strand (accept handlers, and stop's close).
  asio::strand<asio::io_context::executor_type> accept_strand = asio::make_strand(io);
  struct Listener {
    explicit Listener(asio::strand<asio::io_context::executor_type>& strand, bool https)
        : acceptor(strand), retry(strand), tls(https) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry;
    bool tls;
  };
  Listener plain{accept_strand, false};
  Listener secure{accept_strand, true};
  std::vector<std::thread> threads;

  // HttpSessionHost
  HttpAnswer answer(const HttpRequestHead& head) noexcept override {
    try {
      std::shared_ptr<const Snapshot> snap = s.snapshots_.load();
      HttpRouteInputs in{*snap, from_ns(s.last_heartbeat_ns_.load(std::memory_order_acquire)),
                         std::chrono::steady_clock::now(), s.timings_.live_deadline,
                         s.refusals_.load()};
      HttpAnswer a = route_request(head, in);
      if (a.wants_disruption_guard && s.guard_request_) s.guard_request_();
      return a;
    } catch (const std::exception& e) {
      failed(0, e.what());
    } catch (...) {
      failed(0, "unknown exception");
    }
    return internal_error_answer();
  }

  void refused(uint64_t id, HttpRefusal reason, const HttpRequestHead& head) noexcept override {
    s.refusals_.count(reason);
    try {
      if (!s.log_.enabled(LogLevel::kDebug)) return;
      s.log_.debug("HTTP connection refused",
                   {{"reason", std::string(to_string(reason))},
                    {"connection", std::to_string(id)},
                    {"method", truncate_for_log(head.method, kHttpMaxEchoBytes)},
                    {"target", truncate_for_log(head.target, kHttpMaxEchoBytes)}});
    } catch (...) {
      // Logging is best effort.
    }
  }

  void waiting(uint64_t id) noexcept override {
    std::lock_guard lock(mu);
    table.waiting(id);
  }

  void busy(uint64_t id) noexcept override {
    std::lock_guard lock(mu);
    table.busy(id);
  }

  void closed(uint64_t id) noexcept override {
    std::lock_guard lock(mu);
    table.remove(id);
    connections.erase(id);
  }

  void failed(uint64_t id, std::string_view what) noexcept override {
    try {
      s.log_.warn("HTTP connection failed; closed it",
                  {{"connection", std::to_string(id)},
                   {"error", truncate_for_log(what, kHttpMaxEchoBytes)}});
    } catch (...) {
    }
  }

  // Closes an evicted connection (already out of the table), counting kConnectionCap.
  // REQUIRES: mu held.
  void evict_locked(uint64_t id) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    std::shared_ptr<HttpConnection> c = it->second.lock();
    connections.erase(it);
    if (c) c->close_from_outside(HttpRefusal::kConnectionCap);
  }

  void accept_next(Listener& l) {
    l.acceptor.async_accept(asio::make_strand(io), [this, &l](error_code ec, tcp::socket socket) {
      try {
        on_accept(l, ec, std::move(socket));
      } catch (const std::exception& e) {
        failed(0, e.what());
        retry_accept(l);
      } catch (...) {
        failed(0, "unknown exception");
        retry_accept(l);
      }
    });
  }

  void retry_accept(Listener& l) {
    if (!l.acceptor.is_open()) return;
    l.retry.expires_after(kAcceptRetry);
    l.retry.async_wait([this, &l](error_code ec) {
      if (!ec && l.acceptor.is_open()) accept_next(l);
    });
  }

  void on_accept(Listener& l, error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors: make room the way the cap does, then try again shortly.
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
        std::lock_guard lock(mu);
        if (std::optional<uint64_t> victim = table.evict_longest_waiting()) evict_locked(*victim);
      }
      retry_accept(l);
      return;
    }
    set_cloexec(socket.native_handle());
    uint64_t id = 0;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      id = next_id++;
      HttpConnectionTable::Admission a = table.admit(id);
      if (a.evicted) evict_locked(*a.evicted);
      if (!a.admitted) {
        refused(id, HttpRefusal::kConnectionCap, {});
        error_code ignored;
        socket.close(ignored);
        accept_next(l);
        return;
      }
    }
    const HttpSessionTimeouts timeouts{s.timings_.http_io_timeout, s.timings_.http_keep_alive};
    std::shared_ptr<HttpConnection> session;
    if (!l.tls) {
      session = std::make_shared<HttpSession<beast::tcp_stream>>(
          beast::tcp_stream(std::move(socket)), id, *this, timeouts);
    } else if (std::shared_ptr<const gossip::TlsSnapshot> tls = s.tls_.load()) {
      session = std::make_shared<HttpSession<HttpsStream>>(
          HttpsStream(beast::tcp_stream(std::move(socket)), tls->https()), id, *this, timeouts,
          tls);
    } else {
      refused(id, HttpRefusal::kTlsHandshake, {});  // no certificate yet
      error_code ignored;
      socket.close(ignored);
      closed(id);
      accept_next(l);
      return;
    }
    {
      std::lock_guard lock(mu);
      connections.emplace(id, session);
    }
    session->start();
    accept_next(l);
  }

  // Opens, binds and listens on `ep` (SO_REUSEADDR, close-on-exec).
  static error_code listen(tcp::acceptor& acceptor, const tcp::endpoint& ep) {
    error_code ec;
    acceptor.open(ep.protocol(), ec);
    if (!ec) set_cloexec(acceptor.native_handle());
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    return ec;
  }

  void run_thread() {
    for (;;) {
      try {
        io.run();
        break;
      } catch (const std::exception& e) {
        failed(0, e.what());
      } catch (...) {
        failed(0, "unknown exception");
      }
    }
    std::lock_guard lock(mu);
    --threads_running;
    threads_done.notify_all();
  }
};

HttpServer::HttpServer(const SnapshotCell& snapshots, const std::atomic<int64_t>& last_heartbeat_ns,
                       const Timings& timings, Logger logger, size_t max_connections)
    : snapshots_(snapshots),
      last_heartbeat_ns_(last_heartbeat_ns),
      timings_(timings),
      log_(std::move(logger)),
      max_connections_(max_connections) {}

HttpServer::~HttpServer() { stop(); }

HttpRefusalCounts HttpServer::refusals() const { return refusals_.load(); }

Status HttpServer::start(const std::string& address, uint16_t port,
                         std::optional<uint16_t> https_port) {
  if (impl_) return Status::state("HTTP server already started");
  auto fail = [&](const char* key, uint16_t p, const std::string& why) {
    return Status::io("cannot listen on ESK8S_BIND_ADDRESS=" + address + " " + key + "=" +
                      std::to_string(p) + ": " + why +
                      "; choose a free port or an address of this host");
  };
  error_code ec;
  asio::ip::address ip = asio::ip::make_address(address, ec);
  if (ec) return fail("ESK8S_HTTP_PORT", port, "not an IP address");
  auto impl = std::make_unique<Impl>(*this, max_connections_);
  if ((ec = Impl::listen(impl->plain.acceptor, tcp::endpoint(ip, port)))) {
    return fail("ESK8S_HTTP_PORT", port, ec.message());
  }
  port_ = impl->plain.acceptor.local_endpoint(ec).port();
  if (ec) return fail("ESK8S_HTTP_PORT", port, ec.message());
  https_port_ = 0;
  if (https_port) {
    if ((ec = Impl::listen(impl->secure.acceptor, tcp::endpoint(ip, *https_port)))) {
      return fail("ESK8S_HTTPS_PORT", *https_port, ec.message());
    }
    https_port_ = impl->secure.acceptor.local_endpoint(ec).port();
    if (ec) return fail("ESK8S_HTTPS_PORT", *https_port, ec.message());
    impl->accept_next(impl->secure);
  }

  impl->accept_next(impl->plain);
  const size_t threads = std::max<size_t>(1, timings_.http_threads);
  impl->threads_running = threads;
  for (size_t i = 0; i < threads; ++i) {
    impl->threads.emplace_back([p = impl.get()] { p->run_thread(); });
  }
  impl_ = std::move(impl);
  log_.info("HTTP endpoints listening",
            {{"address", address},
             {"port", std::to_string(port_)},
             {"https_port", https_port_ ? std::to_string(https_port_) : std::string("off")}});
  return Status::ok();
}

void HttpServer::stop() {
  if (!impl_) return;
  Impl& impl = *impl_;
  std::vector<std::shared_ptr<HttpConnection>> open;
  {
    std::lock_guard lock(impl.mu);
    impl.stopping = true;
    for (auto& [id, weak] : impl.connections) {
      if (auto c = weak.lock()) open.push_back(std::move(c));
    }
  }
  asio::post(impl.accept_strand, [&impl] {
    for (Impl::Listener* l : {&impl.plain, &impl.secure}) {
      error_code ignored;
      l->acceptor.close(ignored);
      l->retry.cancel();
    }
  });
  for (auto& c : open) c->close_from_outside(std::nullopt);
  open.clear();
  {
    // With the listener and every connection closed the io_context runs out of work and the
    // threads return by themselves; the deadline covers a handler that would not.
    std::unique_lock lock(impl.mu);
    impl.threads_done.wait_for(lock, kStopGrace, [&] { return impl.threads_running == 0; });
  }
  impl.io.stop();
  for (auto& t : impl.threads) t.join();
  impl_.reset();  // destroys the io_context first, then the state its handlers used
  log_.debug("HTTP endpoints stopped");
}

}  // namespace esk8s::plugin
