// A TCP proxy on 127.0.0.1 in front of another address (the test cluster's kube-apiserver), for
// API outages done at the connection level: the client under test connects to the proxy, TLS
// passes through untouched (the apiserver's certificate names 127.0.0.1, so verification still
// holds), and the test can
//  - cut(): close every open connection (a watch stream ends as when the apiserver restarts);
//  - set_refusing(true): close each new connection as soon as it is accepted, so every request
//    fails without an answer (HTTP status 0 for the client), as while the apiserver is down.
// connections() counts the connections accepted so far.
//
// One thread accepts; each connection gets a thread that copies bytes both ways with poll().
// Everything stops in the destructor.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace esk8s::discoverytest {

class TcpProxy {
 public:
  // Listens on a free port of 127.0.0.1 and forwards to upstream_host:upstream_port.
  // Throws std::runtime_error when it cannot listen.
  TcpProxy(std::string upstream_host, int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  // Closes every open connection now.
  void cut();
  void set_refusing(bool refusing) { refusing_ = refusing; }
  uint64_t connections() const { return accepted_.load(); }

 private:
  struct Conn {
    std::mutex mu;
    int client = -1, upstream = -1;  // guarded by mu once the pump runs; -1 when closed
    std::atomic<bool> closing{false};
    std::thread thread;
  };
  void accept_loop();
  static void pump(Conn& c);

  const std::string upstream_host_;
  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> refusing_{false};
  std::atomic<uint64_t> accepted_{0};
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> conns_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace esk8s::discoverytest
