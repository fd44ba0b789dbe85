// Hostile clients against the gossip listener of real esk8s-node processes (3-node clusters on
// 127.0.70-74.x), attacking the transport rather than the protocol: members with certificates from
// the cluster CA that announce 8 MiB frames and send only the header, one member opening hundreds
// of connections, clients that connect and never start TLS, and TLS handshakes without a client
// certificate. Each test asserts the outcome: the node's memory stays bounded, /health/live
// answers 200, every member stays alive in every view, the attacker's connections are closed, and
// each refusal is counted by reason (esk8s_gossip_connections_closed_total) and logged.
//
// The node runs with its defaults (local preset: connect timeout 1 s, I/O timeout 2 s, 4
// connections per peer, 8 handshakes per address, 64 MiB frame budget). Every attack is bounded in
// connections and time.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/adversarial/harness.h"

using namespace std::chrono_literals;
using namespace esk8s::adversarial;

namespace {

// A 4-byte frame header declaring `length` bytes.
std::string frame_header(uint32_t length) {
  return std::string{static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                     static_cast<char>(length >> 8), static_cast<char>(length)};
}

std::string closed_series(const std::string& reason) {
  return "esk8s_gossip_connections_closed_total{reason=\"" + reason + "\"}";
}

// The value of node i's closed-connections counter for `reason`; -1 when the series is absent.
double closed_count(const ProcessCluster& c, int i, const std::string& reason) {
  return c.metric(i, closed_series(reason)).value_or(-1);
}

// True when the plain TCP connection `fd` is closed by the other side within `limit`.
bool fd_closed_by_peer(int fd, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  char buf[256];
  while (std::chrono::steady_clock::now() < end) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0))) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return true;  // EOF or reset
  }
  return false;
}

// Log lines of node i that carry reason=<reason>.
size_t log_lines_with(const ProcessCluster& c, int i, const std::string& reason) {
  std::string log = c.log(i, 1u << 20);
  std::string needle = "reason=" + reason;
  size_t n = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Starts the cluster, waits until every member lists every member alive and returns the
// members as node 0 lists them (what check_cluster_unharmed compares with after the attack).
Identities start_converged(ProcessCluster& c) {
  c.start_all();
  REQUIRE_MESSAGE(c.wait_converged(30s), c.logs());
  Identities before = identities_at(c, 0);
  REQUIRE(before.size() == static_cast<size_t>(c.size()));
  return before;
}

}  // namespace

TEST_CASE("192 authenticated connections each announcing an 8 MiB frame and sending only its "
          "header leave memory, liveness and membership intact") {
  ProcessCluster cluster(3, 70);
  const Identities before = start_converged(cluster);
  const std::string& target = cluster.ip(0);
  MESSAGE("node 0 RSS before the attack " << cluster.rss_kib(0) << " KiB");

  // 48 members of the cluster CA (allow-listed *.esdb.prod.svc.cluster.local) with 4 connections
  // each, the most a peer may hold: all 192 stay open until their frames time out.
  std::vector<TlsConnection> conns;
  long peak_kib = cluster.rss_kib(0);
  for (int id = 9; id < 9 + 48; ++id) {
    Credential cred = issue_member_cert(cluster.ca_dir(), member_identity(id));
    for (int k = 0; k < 4; ++k) {
      TlsConnection c;
      REQUIRE_MESSAGE(c.connect(target, kGossipPort, cred, 5s), c.error());
      REQUIRE(c.write(frame_header(8u << 20)));
      conns.push_back(std::move(c));
    }
    peak_kib = std::max(peak_kib, cluster.rss_kib(0));
  }
  CHECK(http_status(target, kHttpPort, "/health/live", 2s) == 200);

  // The node closes each one io_timeout after its header, counts it, and its memory stays flat.
  bool all_closed = eventually(
      [&] {
        peak_kib = std::max(peak_kib, cluster.rss_kib(0));
        return closed_count(cluster, 0, "partial_frame_timeout") >= 192;
      },
      30s, kPoll);
  CHECK_MESSAGE(all_closed, cluster.log(0));
  CHECK(closed_count(cluster, 0, "partial_frame_timeout") == 192);
  CHECK(closed_count(cluster, 0, "memory_budget") == 0);
  CHECK(closed_count(cluster, 0, "per_peer_cap") == 0);
  size_t closed = 0;
  for (auto& c : conns) closed += c.closed_by_peer(5s) ? 1 : 0;
  CHECK(closed == conns.size());
  MESSAGE("node 0 RSS peak " << peak_kib << " KiB during 192 x 8 MiB headers");
  CHECK(peak_kib < kRssCeilingKib);
  CHECK(cluster.metric(0, "esk8s_gossip_frame_bytes_in_flight").value_or(-1) == 0);
  check_cluster_unharmed(cluster, before, kRssCeilingKib);
}

TEST_CASE("one identity opening 200 connections keeps at most four and other members are "
          "unaffected") {
  ProcessCluster cluster(3, 71);
  const Identities before = start_converged(cluster);
  const std::string& target = cluster.ip(0);
  Credential cred = issue_member_cert(cluster.ca_dir(), member_identity(9));

  constexpr int kConnections = 200;
  std::vector<TlsConnection> conns;
  for (int k = 0; k < kConnections; ++k) {
    TlsConnection c;
    REQUIRE_MESSAGE(c.connect(target, kGossipPort, cred, 5s), c.error());
    conns.push_back(std::move(c));
  }
  // The node sees a connection as authenticated a moment after the client's handshake ends.
  CHECK(eventually([&] { return closed_count(cluster, 0, "per_peer_cap") == kConnections - 4; },
                   10s, kPoll));
  CHECK(conns.front().closed_by_peer(2s));  // the oldest went
  // Open at node 0: esdb-9's newest four and one connection from each other member.
  CHECK(eventually(
      [&] { return cluster.metric(0, "esk8s_gossip_incoming_connections") == 4.0 + 2; }, 5s, kPoll));
  CHECK(log_lines_with(cluster, 0, "per_peer_cap") >= 1);
  check_cluster_unharmed(cluster, before, kRssCeilingKib);
}

TEST_CASE("clients that connect and never start TLS are capped per address, closed after the "
          "connect timeout, counted and logged") {
  ProcessCluster cluster(3, 72);
  const Identities before = start_converged(cluster);
  const std::string& target = cluster.ip(0);

  constexpr int kSilent = 40;
  std::vector<int> fds;
  for (int k = 0; k < kSilent; ++k) {
    int fd = tcp_connect(target, kGossipPort, 2s);
    REQUIRE(fd >= 0);
    fds.push_back(fd);
  }
  size_t closed = 0;
  for (int fd : fds) closed += fd_closed_by_peer(fd, 10s) ? 1 : 0;
  for (int fd : fds) ::close(fd);
  CHECK(closed == fds.size());
  // At most 8 handshaking per address: the rest are refused at accept, the 8 time out. (/metrics
  // is a snapshot the event loop publishes, so it may lag the closes by a moment.)
  double capped = 0, timed_out = 0;
  CHECK(eventually(
      [&] {
        capped = closed_count(cluster, 0, "per_address_cap");
        timed_out = closed_count(cluster, 0, "handshake_timeout");
        return capped + timed_out >= kSilent;
      },
      5s, kPoll));
  CHECK(capped >= kSilent - 8);
  CHECK(timed_out >= 1);
  CHECK(log_lines_with(cluster, 0, "handshake_timeout") >= 1);
  CHECK(log_lines_with(cluster, 0, "per_address_cap") >= 1);
  check_cluster_unharmed(cluster, before, kRssCeilingKib);
}

TEST_CASE("TLS handshakes without a client certificate are closed, counted and logged at most "
          "once per 10 s") {
  ProcessCluster cluster(3, 73);
  const Identities before = start_converged(cluster);
  const std::string& target = cluster.ip(0);

  constexpr int kAttempts = 50;
  auto start = std::chrono::steady_clock::now();
  size_t closed = 0;
  for (int k = 0; k < kAttempts; ++k) {
    TlsConnection c;
    // TLS 1.3: the client's side of the handshake may complete before the server refuses.
    if (!c.connect(target, kGossipPort, std::nullopt, 5s) || c.closed_by_peer(5s)) ++closed;
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(closed == kAttempts);
  CHECK(eventually(
      [&] { return closed_count(cluster, 0, "no_client_certificate") == kAttempts; }, 5s, kPoll));
  size_t lines = log_lines_with(cluster, 0, "no_client_certificate");
  CHECK(lines >= 1);
  CHECK(lines <= 1 + static_cast<size_t>(elapsed / 10s));
  std::string log = cluster.log(0, 1u << 20);
  CHECK(log.find("gossip TLS handshake failed") != std::string::npos);
  CHECK(log.find("address=") != std::string::npos);
  check_cluster_unharmed(cluster, before, kRssCeilingKib);
}
