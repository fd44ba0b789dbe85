#include "tests/discovery/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace esk8s::discoverytest {

namespace {

// Writes all of `data`; false when the peer is gone.
bool write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

int connect_to(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TcpProxy::TcpProxy(std::string upstream_host, int upstream_port)
    : upstream_host_(std::move(upstream_host)), upstream_port_(upstream_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (listen_fd_ >= 0) close(listen_fd_);
    throw std::runtime_error("TcpProxy: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  acceptor_.join();
  cut();
  std::lock_guard lock(mu_);
  for (auto& c : conns_) c->thread.join();
  close(listen_fd_);
}

void TcpProxy::cut() {
  std::lock_guard lock(mu_);
  for (auto& c : conns_) {
    c->closing = true;
    // The pump thread owns the descriptors and closes them; shutdown() wakes its poll().
    std::lock_guard conn_lock(c->mu);
    if (c->client < 0) continue;
    shutdown(c->client, SHUT_RDWR);
    shutdown(c->upstream, SHUT_RDWR);
  }
}

void TcpProxy::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++accepted_;
    if (refusing_) {
      close(fd);
      continue;
    }
    int up = connect_to(upstream_host_, upstream_port_);
    if (up < 0) {
      close(fd);
      continue;
    }
    auto c = std::make_unique<Conn>();
    c->client = fd;
    c->upstream = up;
    Conn* raw = c.get();
    std::lock_guard lock(mu_);
    c->thread = std::thread([raw] { pump(*raw); });
    conns_.push_back(std::move(c));
  }
}

void TcpProxy::pump(Conn& c) {
  char buf[65536];
  while (!c.closing) {
    pollfd p[2] = {{c.client, POLLIN, 0}, {c.upstream, POLLIN, 0}};
    if (poll(p, 2, 100) < 0) break;
    bool open = true;
    for (int i = 0; i < 2 && open; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
      open = n > 0 && write_all(p[1 - i].fd, buf, static_cast<size_t>(n));
    }
    if (!open) break;
  }
  // Both directions end together: an HTTP client never half-closes.
  std::lock_guard lock(c.mu);
  shutdown(c.client, SHUT_RDWR);
  shutdown(c.upstream, SHUT_RDWR);
  close(c.client);
  close(c.upstream);
  c.client = c.upstream = -1;
}

}  // namespace esk8s::discoverytest
