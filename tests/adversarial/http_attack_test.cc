// Hostile HTTP clients against the endpoints of real esk8s-node processes (security issue 12):
// bytes that are not UTF-8 in the path and the method (once an unauthenticated crash), slowloris
// and idle connections by the hundred (once enough to starve /health/live), a Range header with
// 1000 ranges, an 8 MB header. Each test asserts the outcome: the node is still running, answers
// are valid JSON, /health/live answers 200 within 1 s on every sample, the /gossip body comes
// once, memory stays bounded, and every refusal is counted under its reason.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/adversarial/harness.h"

using namespace std::chrono_literals;
using namespace esk8s::adversarial;
using Clock = std::chrono::steady_clock;

namespace {


std::string refused_series(const char* reason) {
  return std::string("esk8s_http_refused_connections_total{reason=\"") + reason + "\"}";
}

double refused(const ProcessCluster& c, const char* reason) {
  return c.metric(0, refused_series(reason)).value_or(-1);
}

// A one-node cluster whose /health/live answers.
void start_one(ProcessCluster& c) {
  c.start_all();
  REQUIRE_MESSAGE(eventually([&] { return http_status(c.ip(0), kHttpPort, "/health/live", 1s) == 200; },
                             20s, kPoll),
                  c.logs());
}

std::string body_of(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  return end == std::string::npos ? "" : raw.substr(end + 4);
}

bool status_is(const std::string& raw, int status) {
  return raw.rfind("HTTP/1.1 " + std::to_string(status), 0) == 0;
}

// Holds `slowloris` connections that send one more header byte every second (never finishing
// their head) and `idle` connections that send nothing, reopening whichever the server closes,
// until stop(). The connections live on one thread; every wait in it is bounded.
class ConnectionHolder {
 public:
  ConnectionHolder(std::string ip, size_t slowloris, size_t idle)
      : ip_(std::move(ip)), slowloris_(slowloris, -1), idle_(idle, -1) {
    thread_ = std::thread([this] { run(); });
  }
  ~ConnectionHolder() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : slowloris_) close_fd(fd);
    for (int fd : idle_) close_fd(fd);
    slowloris_.clear();
    idle_.clear();
  }
  size_t reopened() const { return reopened_.load(); }
  // Connections open right now (as the holder last saw them).
  size_t open() const { return open_.load(); }

 private:
  static void close_fd(int fd) {
    if (fd >= 0) ::close(fd);
  }
  int reopen(int fd, bool slow) {
    close_fd(fd);
    if (stop_) return -1;
    int n = tcp_connect(ip_, kHttpPort, 1s);
    if (n >= 0 && slow) {
      const char head[] = "GET /health/live HTTP/1.1\r\nX-Slow: ";
      ::send(n, head, sizeof head - 1, MSG_NOSIGNAL);
    }
    ++reopened_;
    return n;
  }
  // Closed by the server (EOF, reset) or never opened.
  static bool closed(int fd) {
    if (fd < 0) return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char buf[512];
    return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0;
  }
  void run() {
    auto next_byte = Clock::now();
    while (!stop_) {
      const bool tick = Clock::now() >= next_byte;
      if (tick) next_byte += 1s;
      size_t open = 0;
      for (int& fd : slowloris_) {
        if (stop_) break;
        if (closed(fd) || (tick && ::send(fd, "a", 1, MSG_NOSIGNAL) != 1)) fd = reopen(fd, true);
        open += fd >= 0;
      }
      for (int& fd : idle_) {
        if (stop_) break;
        if (closed(fd)) fd = reopen(fd, false);
        open += fd >= 0;
      }
      open_ = open;
      std::this_thread::sleep_for(50ms);
    }
  }

  std::string ip_;
  std::vector<int> slowloris_, idle_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> reopened_{0}, open_{0};
  std::thread thread_;
};

// Samples /health/live every 200 ms for `duration`; every sample must be a 200 within 1 s.
void liveness_holds(const ProcessCluster& c, std::chrono::milliseconds duration,
                    const ConnectionHolder& holder) {
  const auto end = Clock::now() + duration;
  int samples = 0;
  auto worst = 0ms;
  while (Clock::now() < end) {
    const auto sent = Clock::now();
    const int status = http_status(c.ip(0), kHttpPort, "/health/live", 1000ms);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent);
    worst = std::max(worst, took);
    ++samples;
    INFO("sample " << samples << " took " << took.count() << " ms; attacker holds "
                   << holder.open() << " connections, reopened " << holder.reopened());
    REQUIRE(status == 200);
    std::this_thread::sleep_for(200ms);
  }
  MESSAGE("liveness: " << samples << " samples, worst " << worst.count() << " ms, attacker holds "
                       << holder.open() << " connections, reopened " << holder.reopened());
}

void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, 65536);
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace

TEST_CASE("http attack: GET /%ff and non-UTF-8 methods leave the node running with JSON answers") {
  ProcessCluster c(1, 60);
  start_one(c);
  for (const char* reason : {"header_too_large", "header_timeout", "idle_timeout", "connection_cap",
                             "bad_request", "method_not_allowed", "body_too_large"}) {
    CAPTURE(reason);
    CHECK(refused(c, reason) == 0);  // every reason exported before the first refusal
  }

  std::string pct = http_raw(c.ip(0), kHttpPort,
                             "GET /%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2s);
  CHECK(status_is(pct, 404));
  CHECK(nlohmann::json::accept(body_of(pct)));
  std::string raw_path = http_raw(
      c.ip(0), kHttpPort, "GET /\xff\xfe\xc3(?\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      2s);
  CHECK(status_is(raw_path, 404));
  CHECK(nlohmann::json::accept(body_of(raw_path)));
  std::string bad_method = http_raw(c.ip(0), kHttpPort, "G\xff\xfeT /health/live HTTP/1.1\r\n\r\n", 2s);
  CHECK(status_is(bad_method, 400));
  CHECK(nlohmann::json::accept(body_of(bad_method)));
  std::string post = http_raw(c.ip(0), kHttpPort,
                              "POST /health/live HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 2s);
  CHECK(status_is(post, 405));
  CHECK(nlohmann::json::accept(body_of(post)));
  std::string with_body = http_raw(c.ip(0), kHttpPort,
                                   "GET /health/live HTTP/1.1\r\nContent-Length: 9\r\n\r\n", 2s);
  CHECK(status_is(with_body, 413));

  REQUIRE_MESSAGE(c.running(0), c.exit_description(0) << "\n" << c.logs());
  CHECK(http_status(c.ip(0), kHttpPort, "/health/live", 1s) == 200);
  CHECK(refused(c, "bad_request") == 1);
  CHECK(refused(c, "method_not_allowed") == 1);
  CHECK(refused(c, "body_too_large") == 1);
}

TEST_CASE("http attack: slowloris and idle connections do not starve /health/live") {
  raise_fd_limit();
  ProcessCluster c(1, 61);
  start_one(c);
  {
    ConnectionHolder four(c.ip(0), 4, 0);  // as many as httplib had workers
    liveness_holds(c, 4s, four);
  }
  {
    // Under the cap: the head and idle deadlines cut every attacker off, and it reconnects.
    ConnectionHolder under_cap(c.ip(0), 256, 600);
    liveness_holds(c, 6s, under_cap);
  }
  CHECK(refused(c, "header_timeout") > 0);
  CHECK(refused(c, "idle_timeout") > 0);
  {
    // 1256 connections: more than the 1024 the server keeps, so it evicts while probes arrive.
    ConnectionHolder over_cap(c.ip(0), 256, 1000);
    liveness_holds(c, 10s, over_cap);
  }
  REQUIRE_MESSAGE(c.running(0), c.exit_description(0) << "\n" << c.logs());
  CHECK(refused(c, "connection_cap") > 0);
  const long rss = c.rss_kib(0);
  INFO("RSS " << rss << " KiB");
  CHECK(rss < kRssCeilingKib);
}

TEST_CASE("http attack: a Range header with 1000 ranges gets the /gossip body once") {
  ProcessCluster c(1, 62);
  start_one(c);
  std::string ranges = "bytes=0-";
  for (int i = 1; i < 1000; ++i) ranges += ",0-";
  const std::string ranged_request =
      "GET /gossip HTTP/1.1\r\nHost: x\r\nRange: " + ranges + "\r\nConnection: close\r\n\r\n";
  std::string plain, ranged;
  // The body changes when the view does; compare two answers taken back to back.
  bool same = eventually(
      [&] {
        plain = http_raw(c.ip(0), kHttpPort,
                         "GET /gossip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2s);
        ranged = http_raw(c.ip(0), kHttpPort, ranged_request, 2s);
        return !body_of(plain).empty() && body_of(plain) == body_of(ranged);
      },
      10s, kPoll);
  INFO("plain: " << plain.size() << " bytes, ranged: " << ranged.size() << " bytes");
  CHECK(same);
  CHECK(status_is(ranged, 200));
  CHECK(ranged.find("multipart/byteranges") == std::string::npos);
  CHECK(nlohmann::json::accept(body_of(ranged)));
}

TEST_CASE("http attack: 8 MB headers are refused without memory growth") {
  ProcessCluster c(1, 63);
  start_one(c);
  const long rss_before = c.rss_kib(0);
  const std::string big = "GET /health/live HTTP/1.1\r\nX-Big: " + std::string(8 << 20, 'a');
  std::vector<std::thread> senders;
  std::atomic<int> answered_431{0}, cut_off{0}, refused_either{0};
  for (int i = 0; i < 8; ++i) {
    senders.emplace_back([&] {
      int fd = tcp_connect(c.ip(0), kHttpPort, 2s);
      if (fd < 0) return;
      size_t sent = 0;
      while (sent < big.size()) {
        ssize_t n = ::send(fd, big.data() + sent, big.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server closed: refused
        sent += static_cast<size_t>(n);
      }
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // SO_RCVTIMEO 2 s from tcp_connect
      const bool got_431 =
          n > 0 && std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 431", 0) == 0;
      answered_431 += got_431;
      cut_off += sent < big.size();
      refused_either += got_431 || sent < big.size();
      ::close(fd);
    });
  }
  for (auto& t : senders) t.join();
  MESSAGE("8 senders: " << answered_431.load() << " saw 431, " << cut_off.load()
                        << " were cut off before sending all 8 MB");
  CHECK(refused_either == 8);  // each one refused: 431 or close
  REQUIRE_MESSAGE(c.running(0), c.exit_description(0) << "\n" << c.logs());
  CHECK(http_status(c.ip(0), kHttpPort, "/health/live", 1s) == 200);
  const long rss_after = c.rss_kib(0);
  INFO("RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
  CHECK(rss_after < kRssCeilingKib);
  CHECK(rss_after - rss_before < 32 * 1024);  // 8 × 8 MB were sent; the server kept none of it
  CHECK(refused(c, "header_too_large") == 8);
}
