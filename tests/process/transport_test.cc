// The gossip transport over real TLS 1.3 sockets on loopback: certificates rotate under load
// without a failed handshake, session resumption works, and peers with bad certificates are
// refused with a distinct, counted reason each; nothing they send reaches the receiver. Hostile
// peers cannot exhaust it: frame memory grows with bytes received under a per-node budget,
// connections are capped per peer and per address, handshakes, partial frames and idle
// connections have deadlines, and every refusal is counted by reason and logged (rate-limited).
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tests/process/test_tls.h"
#include "tests/unit/fake_env.h"

using namespace std::chrono_literals;
namespace g = esk8s::gossip;
namespace t = esk8s::test;
using esk8s::Logger;

namespace {

constexpr const char* kServerIp = "127.0.36.1";

g::Envelope hello(const std::string& from) {
  g::Envelope e;
  e.cluster = "esdb.prod";
  e.from = from;
  e.from_instance = g::InstanceId::make(1, 2, 3);
  e.body = g::Ping{7, t::member_identity(0)};
  return e;
}

// Runs `io` until `done()` or `limit` passes.
template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_for(10ms);
  }
  return done();
}

g::TransportOptions server_options() {
  g::TransportOptions o;
  o.bind_address = kServerIp;
  o.port = 0;
  o.connect_timeout = 30s;
  return o;
}

struct Server {
  boost::asio::io_context& io;
  std::shared_ptr<std::string> bundle;
  std::vector<std::string> received_from;
  std::unique_ptr<g::Transport> transport;

  // `env`: the calendar the server judges clients' certificates by.
  Server(boost::asio::io_context& io, const esk8s::tls::CertAndKey& leaf, std::string trust,
         g::TransportOptions o = server_options(), std::shared_ptr<esk8s::LogSink> sink = nullptr,
         esk8s::Env& env = esk8s::real_env())
      : io(io), bundle(std::make_shared<std::string>(std::move(trust))) {
    transport = std::make_unique<g::Transport>(
        io, o, t::snapshot(leaf, *bundle), t::verifier(bundle, env),
        [this](g::Envelope, const std::string& from) { received_from.push_back(from); },
        Logger(std::move(sink), "server"));
    REQUIRE(transport->listen().is_ok());
  }
  uint16_t port() const { return transport->local_port(); }
  uint64_t closed(const char* reason) const {
    return transport->stats().connections_closed.at(reason);
  }
};

// A client that opens its own connection (a fresh transport), sends one Ping claiming `claim`.
std::unique_ptr<g::Transport> client_send(boost::asio::io_context& io,
                                          const esk8s::tls::CertAndKey& leaf,
                                          const std::string& bundle, const std::string& claim,
                                          uint16_t port, const char* bind = "127.0.36.2") {
  g::TransportOptions o;
  o.bind_address = bind;
  o.connect_timeout = 30s;
  auto c = std::make_unique<g::Transport>(
      io, o, t::snapshot(leaf, bundle), t::verifier(std::make_shared<std::string>(bundle)),
      [](g::Envelope, const std::string&) {}, Logger(nullptr, "client"));
  c->send({t::member_identity(0), kServerIp, port, hello(claim)});
  return c;
}

}  // namespace

TEST_CASE("transport: certificates rotate under load with no failed handshake") {
  boost::asio::io_context io;
  auto ca1 = t::make_ca("CA one");
  auto ca2 = t::make_ca("CA two");
  std::string both = ca1.cert_pem + ca2.cert_pem;  // the trust bundle during a CA rotation
  Server server(io, t::make_leaf(ca1, t::member_identity(0)), both);
  auto client_leaf = t::make_leaf(ca1, t::member_identity(1));

  // 200 clients, each a new connection and a full handshake; the server's certificate is
  // replaced every 10 connections, alternating between the two CAs.
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<g::Transport>> clients;
  for (int i = 0; i < kClients; ++i) {
    if (i % 10 == 0) {
      const auto& ca = (i / 10) % 2 == 0 ? ca1 : ca2;
      server.transport->set_tls(t::snapshot(t::make_leaf(ca, t::member_identity(0)), both));
    }
    clients.push_back(client_send(io, client_leaf, both, t::member_identity(1), server.port()));
    // Keep up to 5 handshakes in flight (bounded so a slow build, e.g. under ASan, does not
    // turn the test into a timeout test).
    run_until(
        io, [&] { return server.received_from.size() + 5 > static_cast<size_t>(i); }, 10s);
  }
  bool all = run_until(
      io, [&] { return server.received_from.size() == kClients; }, 20s);
  CHECK(all);
  CHECK(server.received_from.size() == kClients);
  CHECK(server.transport->stats().handshake_failures == 0);
  CHECK(server.transport->stats().peers_refused.empty());
  for (const auto& c : clients) {
    CHECK(c->stats().handshake_failures == 0);
    CHECK(c->stats().peers_refused.empty());
  }
}

TEST_CASE("transport: a reconnecting client resumes its TLS session") {
  boost::asio::io_context io;
  auto ca = t::make_ca("CA");
  Server server(io, t::make_leaf(ca, t::member_identity(0)), ca.cert_pem);
  auto leaf = t::make_leaf(ca, t::member_identity(1));
  g::TransportOptions o;
  o.bind_address = "127.0.36.3";
  g::Transport client(
      io, o, t::snapshot(leaf, ca.cert_pem),
      t::verifier(std::make_shared<std::string>(ca.cert_pem)),
      [](g::Envelope, const std::string&) {}, Logger(nullptr, "client"));
  client.send({t::member_identity(0), kServerIp, server.port(), hello(t::member_identity(1))});
  REQUIRE(run_until(
      io, [&] { return server.received_from.size() == 1; }, 5s));
  io.restart();
  io.run_for(100ms);  // the server's session tickets arrive after the handshake
  client.disconnect(t::member_identity(0));
  client.send({t::member_identity(0), kServerIp, server.port(), hello(t::member_identity(1))});
  REQUIRE(run_until(
      io, [&] { return server.received_from.size() == 2; }, 5s));
  CHECK(client.stats().connections_opened == 2);
  CHECK(client.stats().handshakes_resumed == 1);

  // With resumption off every connection is a full handshake.
  client.set_session_resumption(false);
  client.disconnect(t::member_identity(0));
  client.send({t::member_identity(0), kServerIp, server.port(), hello(t::member_identity(1))});
  REQUIRE(run_until(
      io, [&] { return server.received_from.size() == 3; }, 5s));
  CHECK(client.stats().connections_opened == 3);
  CHECK(client.stats().handshakes_resumed == 1);
}

TEST_CASE("transport: a peer is refused once its certificate has expired by the verifier's clock") {
  boost::asio::io_context io;
  auto ca = t::make_ca("cluster CA");
  t::FakeEnv clock(std::chrono::system_clock::now());
  Server server(io, t::make_leaf(ca, t::member_identity(0)), ca.cert_pem, server_options(),
                nullptr, clock);
  auto leaf = t::make_leaf(ca, t::member_identity(1), 1h);

  // Valid by the server's clock: accepted, its Ping delivered.
  auto first = client_send(io, leaf, ca.cert_pem, t::member_identity(1), server.port());
  REQUIRE(run_until(
      io, [&] { return server.received_from.size() == 1; }, 10s));
  first.reset();

  // Two hours later by the same clock, the same certificate on a new connection: refused as
  // expired, nothing delivered.
  clock.advance(2h);
  const auto& refused = server.transport->stats().peers_refused;
  auto second = client_send(io, leaf, ca.cert_pem, t::member_identity(1), server.port());
  REQUIRE(run_until(
      io, [&] { return refused.count("expired") == 1; }, 10s));
  CHECK(refused.at("expired") == 1);
  CHECK(refused.size() == 1);
  CHECK(server.received_from.size() == 1);
}

TEST_CASE("transport: bad peer certificates are refused with a distinct counted reason each") {
  boost::asio::io_context io;
  auto ca = t::make_ca("cluster CA");
  auto other = t::make_ca("someone else's CA");
  // The server's calendar is a minute ahead of the real one: a certificate valid for one second
  // has expired by it, one valid for days has not. No wall time passes.
  t::FakeEnv minute_later(std::chrono::system_clock::now() + 1min);
  Server server(io, t::make_leaf(ca, t::member_identity(0)), ca.cert_pem, server_options(),
                nullptr, minute_later);
  auto expiring = t::make_leaf(ca, t::member_identity(6), 1s, 0s);

  std::vector<std::unique_ptr<g::Transport>> clients;
  auto attempt = [&](const esk8s::tls::CertAndKey& leaf, const std::string& claim,
                     const std::string& client_bundle) {
    clients.push_back(client_send(io, leaf, client_bundle, claim, server.port()));
  };
  // A certificate from another CA.
  attempt(t::make_leaf(other, t::member_identity(1)), t::member_identity(1),
          ca.cert_pem + other.cert_pem);
  // A valid certificate for esdb-2 claiming to be esdb-3.
  attempt(t::make_leaf(ca, t::member_identity(2)), t::member_identity(3), ca.cert_pem);
  // Only an IP SAN.
  {
    esk8s::tls::CertSpec ip_only;
    ip_only.common_name = t::member_identity(4);
    ip_only.ip_addresses = {"127.0.36.2"};
    attempt(esk8s::tls::issue(ip_only, ca).value(), t::member_identity(4), ca.cert_pem);
  }
  // The right identity but no clientAuth.
  {
    esk8s::tls::CertSpec server_only;
    server_only.common_name = t::member_identity(5);
    server_only.dns_names = {t::member_identity(5)};
    server_only.client_auth = false;
    attempt(esk8s::tls::issue(server_only, ca).value(), t::member_identity(5), ca.cert_pem);
  }
  // An identity outside the cluster (another namespace, not allowed).
  attempt(t::make_leaf(ca, "esdb-0.esdb.staging.svc.cluster.local"),
          "esdb-0.esdb.staging.svc.cluster.local", ca.cert_pem);
  attempt(expiring, t::member_identity(6), ca.cert_pem);

  const auto& refused = server.transport->stats().peers_refused;
  auto count = [&](const char* reason) {
    auto it = refused.find(reason);
    return it == refused.end() ? uint64_t{0} : it->second;
  };
  run_until(
      io, [&] { return refused.size() >= 6; }, 10s);
  CHECK(count("untrusted_issuer") == 1);
  CHECK(count("identity_mismatch") == 1);
  CHECK(count("ip_san_only") == 1);
  CHECK(count("missing_client_auth") == 1);
  CHECK(count("not_allowed") == 1);
  CHECK(count("expired") == 1);
  CHECK(server.received_from.empty());

  // And the mirror: a server whose certificate names another identity is refused by the client.
  auto imposter_server = t::make_leaf(ca, t::member_identity(8));
  Server wrong(io, imposter_server, ca.cert_pem);
  g::TransportOptions o;
  o.bind_address = "127.0.36.4";
  g::Transport client(
      io, o, t::snapshot(t::make_leaf(ca, t::member_identity(1)), ca.cert_pem),
      t::verifier(std::make_shared<std::string>(ca.cert_pem)),
      [](g::Envelope, const std::string&) {}, Logger(nullptr, "client"));
  client.send({t::member_identity(0), kServerIp, wrong.port(), hello(t::member_identity(1))});
  run_until(
      io, [&] { return !client.stats().peers_refused.empty(); }, 5s);
  CHECK(client.stats().peers_refused.count("identity_mismatch") == 1);
  CHECK(wrong.received_from.empty());
}

// ---- Hostile peers: memory, caps, deadlines, refusals ----

namespace {

// Records every warn line's fields.
class WarnSink : public esk8s::LogSink {
 public:
  bool enabled(esk8s::LogLevel) const override { return true; }
  void write(esk8s::LogLevel level, std::string_view, std::string_view,
             std::span<const esk8s::LogField> fields) override {
    if (level != esk8s::LogLevel::kWarn) return;
    std::lock_guard lock(mu_);
    warns_.push_back(std::map<std::string, std::string>(fields.begin(), fields.end()));
  }
  // The warn lines whose "reason" field is `reason`.
  std::vector<std::map<std::string, std::string>> with_reason(const std::string& reason) const {
    std::lock_guard lock(mu_);
    std::vector<std::map<std::string, std::string>> out;
    for (const auto& w : warns_) {
      auto it = w.find("reason");
      if (it != w.end() && it->second == reason) out.push_back(w);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::map<std::string, std::string>> warns_;
};

// VmRSS of this process in KiB.
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
    in.ignore(4096, '\n');
  }
  return 0;
}

using Mode = t::RawPeer::Mode;

// Opens `n` raw peers from `bind` one after another (each handshaken before the next starts).
std::vector<std::unique_ptr<t::RawPeer>> open_peers(
    boost::asio::io_context& io, int n, Mode mode,
    const std::shared_ptr<const g::TlsSnapshot>& tls, uint16_t port, const std::string& bind) {
  std::vector<std::unique_ptr<t::RawPeer>> peers;
  for (int i = 0; i < n; ++i) {
    peers.push_back(std::make_unique<t::RawPeer>(io, mode, tls));
    peers.back()->connect(kServerIp, port, bind);
    REQUIRE(run_until(
        io, [&] { return peers.back()->ready() || peers.back()->closed(); }, 10s));
  }
  return peers;
}

size_t count_closed(const std::vector<std::unique_ptr<t::RawPeer>>& peers) {
  return static_cast<size_t>(
      std::count_if(peers.begin(), peers.end(), [](const auto& p) { return p->closed(); }));
}

// The hostile-peer tests' setup: a CA, a log capture and a server (esdb-0) started with the
// options a test chose.
struct Hostile {
  boost::asio::io_context io;
  esk8s::tls::CertAndKey ca = t::make_ca("CA");
  std::shared_ptr<WarnSink> warns = std::make_shared<WarnSink>();
  std::unique_ptr<Server> server;

  void start(const g::TransportOptions& o = server_options()) {
    server = std::make_unique<Server>(io, t::make_leaf(ca, t::member_identity(0)), ca.cert_pem, o,
                                      warns);
  }
  // A client TLS configuration for member i from the cluster CA.
  std::shared_ptr<const g::TlsSnapshot> member_tls(int i) const {
    return t::snapshot(t::make_leaf(ca, t::member_identity(i)), ca.cert_pem);
  }
};

}  // namespace

TEST_CASE_FIXTURE(Hostile, "transport: frame headers declaring 8 MiB cost one first chunk each, "
                  "not the length") {
  auto o = server_options();
  o.io_timeout = 60s;  // the frames stay pending while the test measures
  o.max_connections_per_peer = 1000;
  start(o);
  CHECK(server->transport->stats().connections_closed.size() == std::size(g::kCloseReasons));

  auto tls = member_tls(9);
  constexpr int kPeers = 192;
  auto peers = open_peers(io, kPeers, Mode::kTls, tls, server->port(), "127.0.36.10");
  REQUIRE(count_closed(peers) == 0);
  long rss_before = rss_kib();
  for (auto& p : peers) p->write(t::frame_header(8u << 20));
  const auto& stats = server->transport->stats();
  const uint64_t expected = uint64_t{kPeers} * g::kFrameFirstChunkBytes;
  bool pending = run_until(
      io, [&] { return stats.frame_bytes_in_flight == expected; }, 20s);
  CHECK(pending);
  CHECK(stats.frame_bytes_in_flight_peak == expected);  // 3 MiB, where 8 MiB each was declared
  long grown_kib = rss_kib() - rss_before;
  INFO("RSS grew by " << grown_kib << " KiB");
  CHECK(grown_kib < 64 * 1024);  // declared: 192 x 8 MiB = 1.5 GiB

  // The budget comes back when the peers go away.
  peers.clear();
  CHECK(run_until(
      io, [&] { return stats.frame_bytes_in_flight == 0 && stats.incoming_open == 0; }, 10s));
  CHECK(server->received_from.empty());
}

TEST_CASE_FIXTURE(Hostile, "transport: a connection whose next chunk would exceed the frame memory "
                  "budget is closed and counted") {
  auto o = server_options();
  o.io_timeout = 60s;
  o.frame_memory_budget = 100u << 10;
  start(o);
  const auto& stats = server->transport->stats();
  auto tls = member_tls(1);

  // Each peer declares 1 MiB and sends 40 KiB of it: the first holds 64 KiB of the budget, the
  // second would need another 64 KiB for its next chunk.
  auto first = open_peers(io, 1, Mode::kTls, tls, server->port(), "127.0.36.11");
  first[0]->write(t::frame_header(1u << 20) + std::string(40u << 10, 'x'));
  REQUIRE(run_until(
      io, [&] { return stats.frame_bytes_in_flight >= (40u << 10); }, 10s));
  auto second = open_peers(io, 1, Mode::kTls, tls, server->port(), "127.0.36.11");
  second[0]->write(t::frame_header(1u << 20) + std::string(40u << 10, 'x'));
  CHECK(run_until(
      io, [&] { return second[0]->closed(); }, 10s));
  CHECK(server->closed("memory_budget") == 1);
  CHECK_FALSE(first[0]->closed());
  CHECK(stats.frame_bytes_in_flight_peak <= o.frame_memory_budget);

  // Once the first peer is gone the budget is free again for a member's frames.
  first.clear();
  REQUIRE(run_until(
      io, [&] { return stats.frame_bytes_in_flight == 0; }, 10s));
  auto client = client_send(io, t::make_leaf(ca, t::member_identity(2)), ca.cert_pem,
                            t::member_identity(2), server->port(), "127.0.36.12");
  CHECK(run_until(
      io, [&] { return server->received_from.size() == 1; }, 10s));
}

TEST_CASE_FIXTURE(Hostile, "transport: one identity over max_connections_per_peer loses its oldest "
                  "connections and other members are unaffected") {
  auto o = server_options();
  o.max_connections_per_peer = 2;
  start(o);
  auto tls = member_tls(9);

  // Five connections as esdb-9, each proven authenticated (a frame delivered) before the next.
  std::vector<std::unique_ptr<t::RawPeer>> peers;
  for (size_t i = 0; i < 5; ++i) {
    auto more = open_peers(io, 1, Mode::kTls, tls, server->port(), "127.0.36.13");
    peers.push_back(std::move(more[0]));
    peers.back()->write(t::framed(g::encode(hello(t::member_identity(9)))));
    REQUIRE(run_until(
        io, [&] { return server->received_from.size() == i + 1; }, 10s));
  }
  CHECK(run_until(
      io, [&] { return count_closed(peers) == 3; }, 10s));
  CHECK(server->closed("per_peer_cap") == 3);
  for (size_t i = 0; i < 5; ++i) {
    INFO("connection " << i);
    CHECK(peers[i]->closed() == (i < 3));  // the oldest go, the newest stay
  }
  // Another member still connects and is heard.
  auto client = client_send(io, t::make_leaf(ca, t::member_identity(2)), ca.cert_pem,
                            t::member_identity(2), server->port(), "127.0.36.14");
  REQUIRE(run_until(
      io, [&] { return server->received_from.size() == 6; }, 10s));
  CHECK(server->received_from.back() == t::member_identity(2));
  CHECK(server->transport->stats().incoming_open == 3);
  CHECK(server->closed("per_peer_cap") == 3);
}

TEST_CASE_FIXTURE(Hostile, "transport: unauthenticated connections over max_handshakes_per_address "
                  "are refused at accept, other addresses are not") {
  auto o = server_options();
  o.max_handshakes_per_address = 2;
  start(o);

  std::vector<std::unique_ptr<t::RawPeer>> silent;
  for (int i = 0; i < 5; ++i) {
    silent.push_back(std::make_unique<t::RawPeer>(io, Mode::kPlainTcp));
    silent.back()->connect(kServerIp, server->port(), "127.0.36.15");
  }
  CHECK(run_until(
      io, [&] { return server->closed("per_address_cap") == 3 && count_closed(silent) == 3; },
      10s));
  CHECK(server->transport->stats().incoming_open == 2);
  // A member from another address completes its handshake and is heard meanwhile.
  auto client = client_send(io, t::make_leaf(ca, t::member_identity(2)), ca.cert_pem,
                            t::member_identity(2), server->port(), "127.0.36.16");
  CHECK(run_until(
      io, [&] { return server->received_from.size() == 1; }, 10s));
  CHECK(server->closed("per_address_cap") == 3);
}

TEST_CASE_FIXTURE(Hostile, "transport: a client that connects and never starts the TLS handshake "
                  "is closed after connect_timeout and counted") {
  auto o = server_options();
  o.connect_timeout = 300ms;
  start(o);

  auto start = std::chrono::steady_clock::now();
  t::RawPeer silent(io, Mode::kPlainTcp);
  silent.connect(kServerIp, server->port(), "127.0.36.17");
  REQUIRE(run_until(
      io, [&] { return silent.ready() || silent.closed(); }, 5s));
  CHECK(run_until(
      io, [&] { return silent.closed(); }, 10s));
  CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  CHECK(server->closed("handshake_timeout") == 1);
  CHECK(server->transport->stats().handshake_failures == 1);
  CHECK(server->transport->stats().incoming_open == 0);
  auto lines = warns->with_reason("handshake_timeout");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["address"] == "127.0.36.17");
}

TEST_CASE_FIXTURE(Hostile, "transport: a frame not complete within io_timeout of its first byte is "
                  "closed and counted, a silent authenticated connection is not") {
  auto o = server_options();
  o.io_timeout = 300ms;
  o.max_connections_per_peer = 10;
  start(o);
  auto tls = member_tls(1);

  auto peers = open_peers(io, 3, Mode::kTls, tls, server->port(), "127.0.36.18");
  peers[0]->write(t::frame_header(1000).substr(0, 2));          // half a header
  peers[1]->write(t::frame_header(1000) + std::string(500, 'x'));  // half a body
  // peers[2] sends nothing: no frame has started, only the (long) idle deadline applies.
  CHECK(run_until(
      io, [&] { return peers[0]->closed() && peers[1]->closed(); }, 10s));
  CHECK(server->closed("partial_frame_timeout") == 2);
  CHECK_FALSE(peers[2]->closed());
  CHECK(server->transport->stats().frame_bytes_in_flight == 0);
}

TEST_CASE_FIXTURE(Hostile, "transport: declared lengths of 0 and above kMaxFrameBytes close the "
                  "connection with their own reasons") {
  start();
  auto tls = member_tls(1);
  auto peers = open_peers(io, 2, Mode::kTls, tls, server->port(), "127.0.36.19");
  peers[0]->write(t::frame_header(0));
  peers[1]->write(t::frame_header(static_cast<uint32_t>(g::kMaxFrameBytes + 1)));
  CHECK(run_until(
      io, [&] { return count_closed(peers) == 2; }, 10s));
  CHECK(server->closed("bad_frame") == 1);
  CHECK(server->closed("frame_too_large") == 1);
  CHECK(server->transport->stats().frame_bytes_in_flight_peak == 0);
}

TEST_CASE_FIXTURE(Hostile, "transport: an idle incoming connection is closed by the accepting "
                  "side, a busy one is not, and the member reconnects on its next send") {
  auto o = server_options();
  o.idle_timeout = 300ms;
  start(o);
  auto leaf = t::make_leaf(ca, t::member_identity(1));
  auto client = client_send(io, leaf, ca.cert_pem, t::member_identity(1), server->port(),
                            "127.0.36.20");
  // A frame every 100 ms for three idle periods keeps the connection.
  for (size_t i = 1; i <= 9; ++i) {
    REQUIRE(run_until(
        io, [&] { return server->received_from.size() == i; }, 5s));
    auto next = std::chrono::steady_clock::now() + 100ms;
    run_until(
        io, [&] { return std::chrono::steady_clock::now() >= next; }, 1s);
    client->send({t::member_identity(0), kServerIp, server->port(), hello(t::member_identity(1))});
  }
  REQUIRE(run_until(
      io, [&] { return server->received_from.size() == 10; }, 5s));
  CHECK(server->closed("idle_timeout") == 0);
  CHECK(client->stats().connections_opened == 1);

  // Then silence: the server closes it, and the next send opens a new connection.
  CHECK(run_until(
      io, [&] { return server->closed("idle_timeout") == 1; }, 5s));
  run_until(
      io, [&] { return server->transport->stats().incoming_open == 0; }, 5s);
  // The client notices the close when it reads the EOF (until then a send would use the old one).
  io.restart();
  io.run_for(100ms);
  client->send({t::member_identity(0), kServerIp, server->port(), hello(t::member_identity(1))});
  CHECK(run_until(
      io, [&] { return server->received_from.size() == 11; }, 5s));
  CHECK(client->stats().connections_opened == 2);
  CHECK(client->stats().dropped_backoff == 0);
}

TEST_CASE_FIXTURE(Hostile, "transport: an idle outgoing connection is closed and reopens on the "
                  "next send") {
  start();
  g::TransportOptions o;
  o.bind_address = "127.0.36.21";
  o.idle_timeout = 300ms;
  auto leaf = t::make_leaf(ca, t::member_identity(1));
  g::Transport client(
      io, o, t::snapshot(leaf, ca.cert_pem),
      t::verifier(std::make_shared<std::string>(ca.cert_pem)),
      [](g::Envelope, const std::string&) {}, Logger(nullptr, "client"));
  client.send({t::member_identity(0), kServerIp, server->port(), hello(t::member_identity(1))});
  REQUIRE(run_until(
      io, [&] { return server->received_from.size() == 1; }, 5s));
  CHECK(run_until(
      io, [&] { return client.stats().connections_closed.at("idle_timeout") == 1; }, 5s));
  CHECK(run_until(
      io, [&] { return server->transport->stats().incoming_open == 0; }, 5s));
  client.send({t::member_identity(0), kServerIp, server->port(), hello(t::member_identity(1))});
  CHECK(run_until(
      io, [&] { return server->received_from.size() == 2; }, 5s));
  CHECK(client.stats().connections_opened == 2);
  CHECK(client.stats().connect_failures == 0);
  CHECK(client.stats().dropped_backoff == 0);
}

TEST_CASE_FIXTURE(Hostile, "transport: handshakes without a client certificate are closed, "
                  "counted, and logged at warn at most once per interval with the suppressed "
                  "count") {
  auto o = server_options();
  o.refusal_log_interval = 500ms;
  start(o);

  auto attempt = [&](int n) {
    std::vector<std::unique_ptr<t::RawPeer>> peers;
    for (int i = 0; i < n; ++i) {
      peers.push_back(std::make_unique<t::RawPeer>(io, Mode::kTlsWithoutCertificate));
      peers.back()->connect(kServerIp, server->port(), "127.0.36.22");
    }
    CHECK(run_until(
        io, [&] { return count_closed(peers) == static_cast<size_t>(n); }, 10s));
  };
  attempt(3);
  auto logged_by = std::chrono::steady_clock::now();
  CHECK(server->closed("no_client_certificate") == 3);
  CHECK(server->transport->stats().handshake_failures == 3);
  CHECK(server->received_from.empty());
  auto lines = warns->with_reason("no_client_certificate");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["address"] == "127.0.36.22");
  CHECK(lines[0].count("suppressed") == 0);

  // After the interval the next one is logged again, with the two suppressed in between.
  run_until(
      io, [&] { return std::chrono::steady_clock::now() - logged_by > 600ms; }, 2s);
  attempt(1);
  CHECK(server->closed("no_client_certificate") == 4);
  lines = warns->with_reason("no_client_certificate");
  REQUIRE(lines.size() == 2);
  CHECK(lines[1]["suppressed"] == "2");
}
