// The gossip transport over real TLS 1.3 sockets on loopback: certificates rotate under load
// without a failed handshake, session resumption works, and peers with bad certificates are
// refused with a distinct, counted reason each; nothing they send reaches the receiver.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tests/process/test_tls.h"

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

struct Server {
  boost::asio::io_context& io;
  std::shared_ptr<std::string> bundle;
  std::vector<std::string> received_from;
  std::unique_ptr<g::Transport> transport;

  Server(boost::asio::io_context& io, const esk8s::tls::CertAndKey& leaf, std::string trust)
      : io(io), bundle(std::make_shared<std::string>(std::move(trust))) {
    g::TransportOptions o;
    o.bind_address = kServerIp;
    o.port = 0;
    o.connect_timeout = 30s;
    transport = std::make_unique<g::Transport>(
        io, o, t::snapshot(leaf, *bundle), t::verifier(bundle),
        [this](g::Envelope, const std::string& from) { received_from.push_back(from); },
        Logger(nullptr, "server"));
    REQUIRE(transport->listen().is_ok());
  }
  uint16_t port() const { return transport->local_port(); }
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

TEST_CASE("transport: bad peer certificates are refused with a distinct counted reason each") {
  boost::asio::io_context io;
  auto ca = t::make_ca("cluster CA");
  auto other = t::make_ca("someone else's CA");
  Server server(io, t::make_leaf(ca, t::member_identity(0)), ca.cert_pem);

  // An expired certificate: valid for one second, used after it ran out (made first, so the
  // wait happens before any connection is pending).
  esk8s::tls::CertSpec spec;
  spec.common_name = t::member_identity(6);
  spec.dns_names = {t::member_identity(6)};
  spec.validity = 1s;
  spec.backdate = 0s;
  auto expiring = esk8s::tls::issue(spec, ca).value();
  std::this_thread::sleep_for(2100ms);

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
