// TLS benchmark: certificate issuance time per key type (key generation + CSR + signing, what
// local-ca does per renewal), and mutual-TLS 1.3 handshakes per second through the gossip
// transport on loopback, with and without session resumption. Prints a markdown section.
//
//   build/tests/bench/tls_bench [--handshakes N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "tests/process/test_tls.h"
#include "tls/san_policy.h"

namespace g = esk8s::gossip;
namespace t = esk8s::test;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Issuance {
  const char* name;
  esk8s::tls::KeyType type;
  int runs;
};

// Handshakes per second: a client reconnects `n` times to a server on loopback (both on one
// thread, so the figure is the CPU cost of both sides of each handshake).
double handshakes_per_second(int n, bool resumption, uint64_t& resumed) {
  boost::asio::io_context io;
  auto ca = t::make_ca("bench CA");
  auto bundle = std::make_shared<std::string>(ca.cert_pem);
  uint64_t received = 0;
  g::TransportOptions so;
  so.bind_address = "127.0.37.1";
  g::Transport server(
      io, so, t::snapshot(t::make_leaf(ca, t::member_identity(0)), ca.cert_pem),
      t::verifier(bundle), [&](g::Envelope, const std::string&) { ++received; },
      esk8s::Logger(nullptr, "server"));
  if (!server.listen()) return 0;
  g::TransportOptions co;
  co.bind_address = "127.0.37.2";
  g::Transport client(
      io, co, t::snapshot(t::make_leaf(ca, t::member_identity(1)), ca.cert_pem),
      t::verifier(bundle), [](g::Envelope, const std::string&) {},
      esk8s::Logger(nullptr, "client"));
  client.set_session_resumption(resumption);
  g::Envelope e;
  e.cluster = "bench";
  e.from = t::member_identity(1);
  e.from_instance = g::InstanceId::make(1, 2, 3);
  e.body = g::Ack{0};
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    client.disconnect(t::member_identity(0));
    client.send({t::member_identity(0), "127.0.37.1", server.local_port(), e});
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (received < static_cast<uint64_t>(i + 1) && Clock::now() < deadline) {
      io.restart();
      io.run_one_for(std::chrono::milliseconds(100));
    }
    // Let the session tickets that follow the handshake arrive before the next disconnect.
    io.restart();
    io.poll();
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  resumed = client.stats().handshakes_resumed;
  client.stop();
  server.stop();
  return received == static_cast<uint64_t>(n) ? n / seconds : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int handshakes = 500;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--handshakes") == 0) handshakes = std::atoi(argv[i + 1]);
  }
  auto ca = t::make_ca("bench CA");
  esk8s::tls::SanInput names;
  names.pod = "esdb-0";
  names.service = "esdb";
  names.namespace_name = "prod";
  names.cluster_domain = "cluster.local";
  auto spec = esk8s::tls::to_cert_spec(names, std::chrono::hours(720)).value();

  std::printf("## TLS: issuance and handshakes\n\n");
  std::printf("Command: `build/tests/bench/tls_bench --handshakes %d`\n\n", handshakes);
  std::printf("| key type | runs | median issuance (key + CSR + sign) |\n|---|---|---|\n");
  for (Issuance k : {Issuance{"ECDSA P-256", esk8s::tls::KeyType::kEcdsaP256, 50},
                     Issuance{"Ed25519", esk8s::tls::KeyType::kEd25519, 50},
                     Issuance{"RSA 2048", esk8s::tls::KeyType::kRsa2048, 20},
                     Issuance{"RSA 3072", esk8s::tls::KeyType::kRsa3072, 10}}) {
    std::fprintf(stderr, "tls_bench: issuing %d %s certificates\n", k.runs, k.name);
    std::vector<double> ms;
    for (int i = 0; i < k.runs; ++i) {
      auto start = Clock::now();
      auto leaf = esk8s::tls::issue(spec, ca, k.type);
      if (!leaf) {
        std::fprintf(stderr, "issue failed: %s\n", leaf.status().message().c_str());
        return 1;
      }
      ms.push_back(ms_since(start));
    }
    std::printf("| %s | %d | %.2f ms |\n", k.name, k.runs, median(ms));
  }

  std::fprintf(stderr, "tls_bench: %d handshakes without resumption\n", handshakes);
  uint64_t resumed_off = 0, resumed_on = 0;
  double full = handshakes_per_second(handshakes, false, resumed_off);
  std::fprintf(stderr, "tls_bench: %d handshakes with resumption\n", handshakes);
  double resumed = handshakes_per_second(handshakes, true, resumed_on);
  std::printf(
      "\nMutual TLS 1.3 (ECDSA P-256) connect + handshake + verify + one frame, client and server "
      "on one thread, %d reconnections each:\n\n",
      handshakes);
  std::printf("| session resumption | handshakes/s | resumed |\n|---|---|---|\n");
  std::printf("| off | %.0f | %llu |\n", full, static_cast<unsigned long long>(resumed_off));
  std::printf("| on | %.0f | %llu |\n", resumed, static_cast<unsigned long long>(resumed_on));
  std::printf("\nRatio on/off: %.2f\n", full > 0 ? resumed / full : 0.0);
  return full > 0 && resumed > 0 ? 0 : 1;
}
