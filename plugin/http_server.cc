#include "plugin/http_server.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "plugin/health.h"

namespace esk8s::plugin {

namespace {

constexpr const char* kEndpoints[] = {
    "/health/live", "/health/startup", "/health/ready", "/health/disruptable",
    "/members",     "/gossip",         "/metrics"};

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump() + "\n", "application/json");
}

void send_report(httplib::Response& res, const HealthReport& r) {
  send_json(res, r.http_status, r.body);
}

std::chrono::steady_clock::time_point from_ns(int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

}  // namespace

HttpServer::HttpServer(const SnapshotCell& snapshots, const std::atomic<int64_t>& last_heartbeat_ns,
                       const Timings& timings, Logger logger)
    : snapshots_(snapshots),
      last_heartbeat_ns_(last_heartbeat_ns),
      timings_(timings),
      log_(std::move(logger)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::install_routes() {
  httplib::Server& s = *server_;
  s.Get("/health/live", [this](const httplib::Request&, httplib::Response& res) {
    send_report(res, live_report(from_ns(last_heartbeat_ns_.load(std::memory_order_acquire)),
                                 std::chrono::steady_clock::now(), timings_.live_deadline));
  });
  s.Get("/health/startup", [this](const httplib::Request&, httplib::Response& res) {
    send_report(res, startup_report(*snapshots_.load()));
  });
  s.Get("/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    send_report(res, ready_report(*snapshots_.load()));
  });
  s.Get("/health/disruptable", [this](const httplib::Request&, httplib::Response& res) {
    send_report(res, disruptable_report(*snapshots_.load()));
  });
  // Members: rendered when the view changed, served as they are.
  s.Get("/members", [this](const httplib::Request&, httplib::Response& res) {
    auto snap = snapshots_.load();
    res.set_header("Cache-Control", "no-store");
    res.set_content(snap->members_json.empty() ? "{\"members\":[]}\n" : snap->members_json + "\n",
                    "application/json");
  });
  s.Get("/gossip", [this](const httplib::Request&, httplib::Response& res) {
    auto snap = snapshots_.load();
    res.set_header("Cache-Control", "no-store");
    res.set_content(snap->gossip_json.empty() ? "{\"members\":[]}\n" : snap->gossip_json + "\n",
                    "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    auto snap = snapshots_.load();
    std::vector<Metric> metrics = snap->metrics;
    auto age = std::chrono::steady_clock::now() -
               from_ns(last_heartbeat_ns_.load(std::memory_order_acquire));
    metrics.push_back({"esk8s_event_loop_heartbeat_age_seconds",
                       "Seconds since the event loop last ran its heartbeat (/health/live fails "
                       "past the deadline).",
                       "gauge",
                       {},
                       std::chrono::duration<double>(age).count()});
    metrics.push_back({"esk8s_started",
                       "1 once the plugin has started.",
                       "gauge",
                       {},
                       snap->started ? 1.0 : 0.0});
    res.set_header("Cache-Control", "no-store");
    res.set_content(render_prometheus(metrics), "text/plain; version=0.0.4; charset=utf-8");
  });
  // Anything unrouted (unknown path or method) gets a JSON body naming what exists. httplib also
  // calls this for our own 4xx/5xx answers; those already carry their body.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    nlohmann::json body = {{"status", "error"}, {"path", req.path}, {"method", req.method}};
    body["reason"] = res.status == 404 ? "unknown-endpoint" : "bad-request";
    body["endpoints"] = kEndpoints;
    send_json(res, res.status, body);
  });
  s.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log_.error("HTTP handler failed", {{"path", req.path}, {"error", what}});
        send_json(res, 500, {{"status", "error"}, {"reason", "internal"}, {"detail", what}});
      });
}

Status HttpServer::start(const std::string& address, uint16_t port) {
  if (server_) return Status::state("HTTP server already started");
  server_ = std::make_unique<httplib::Server>();
  size_t threads = timings_.http_threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // SO_REUSEADDR only (httplib also sets SO_REUSEPORT, which would let two nodes share a port
  // silently); close-on-exec so a host that forks does not leak the listener.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    fcntl(sock, F_SETFD, FD_CLOEXEC);
  });
  auto secs = [](std::chrono::milliseconds d) { return static_cast<time_t>(d.count() / 1000); };
  auto usecs = [](std::chrono::milliseconds d) {
    return static_cast<time_t>((d.count() % 1000) * 1000);
  };
  server_->set_read_timeout(secs(timings_.http_io_timeout), usecs(timings_.http_io_timeout));
  server_->set_write_timeout(secs(timings_.http_io_timeout), usecs(timings_.http_io_timeout));
  server_->set_keep_alive_timeout(std::max<time_t>(1, secs(timings_.http_keep_alive)));
  server_->set_payload_max_length(64 * 1024);
  install_routes();

  errno = 0;
  bool bound = false;
  if (port == 0) {
    int p = server_->bind_to_any_port(address);
    bound = p > 0;
    if (bound) port_ = static_cast<uint16_t>(p);
  } else {
    bound = server_->bind_to_port(address, port);
    if (bound) port_ = port;
  }
  if (!bound) {
    int err = errno;
    server_.reset();
    return Status::io("cannot listen on ESK8S_BIND_ADDRESS=" + address + " ESK8S_HTTP_PORT=" +
                      std::to_string(port) + (err ? std::string(": ") + std::strerror(err) : "") +
                      "; choose a free port or an address of this host");
  }
  auto exited = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([this, exited] {
    server_->listen_after_bind();
    exited->store(true);
  });
  // httplib's stop() is a no-op until the accept loop runs, so wait for it before returning.
  while (!server_->is_running() && !exited->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (exited->load()) {
    thread_.join();
    server_.reset();
    return Status::io("the HTTP accept loop on " + address + ":" + std::to_string(port_) +
                      " exited at once");
  }
  log_.info("HTTP endpoints listening", {{"address", address}, {"port", std::to_string(port_)}});
  return Status::ok();
}

void HttpServer::stop() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  log_.debug("HTTP endpoints stopped");
}

}  // namespace esk8s::plugin
