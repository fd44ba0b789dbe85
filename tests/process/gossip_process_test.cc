// Gossip between real esk8s-node processes on loopback over mutual TLS (static discovery, a
// local CA made here with OpenSSL): 3 and 5 nodes converge; a SIGKILLed node is detected by all;
// a restarted node (new instance id, new address) is re-admitted under its identity; a node
// with a certificate from another CA, or a peer presenting a certificate for a different identity
// than it claims, is refused and never appears in any member list.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gossip/transport.h"
#include "gossip/wire.h"
#include "tests/process/process_cluster.h"
#include "tests/process/test_tls.h"
#include "tests/unit/test_util.h"
#include "tls/x509.h"

using namespace std::chrono_literals;
using nlohmann::json;
namespace x509 = esk8s::tls;
using esk8s::test::all_alive;
using esk8s::test::eventually;
using esk8s::test::kGossipPort;
using esk8s::test::kHttpPort;
using esk8s::test::ProcessCluster;
// How often the tests poll the nodes' /members views (each poll is a GET to every node).
constexpr auto kPoll = 100ms;

namespace {

std::string identity(int i) { return esk8s::test::member_identity(i); }

}  // namespace

TEST_CASE("gossip processes: 3 nodes over mutual TLS converge to 3 alive members") {
  ProcessCluster c(3, 31);
  c.start_all();
  bool ok = eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll);
  INFO(c.logs());
  REQUIRE(ok);
  // Addresses are where each node listens, instance ids are GUIDs, and the quorum gauge is 1.
  auto v = c.view(0);
  CHECK(v[identity(1)].value("address", "") == c.ip(1));
  CHECK(v[identity(2)].value("instanceId", "").size() == 36);
  const std::string metrics = c.metrics(0);
  CHECK(metrics.find("esk8s_quorum 1") != std::string::npos);
  // Labelled refusal counters exist at 0 before the first refusal, so alerts see it.
  for (const char* series : {"esk8s_gossip_tls_rejections_total{reason=\"untrusted_issuer\"} 0",
                             "esk8s_gossip_tls_rejections_total{reason=\"weak_key\"} 0",
                             "esk8s_gossip_claims_rejected_total{reason=\"not_allowed\"} 0",
                             "esk8s_gossip_connections_closed_total{reason=\"memory_budget\"} 0"}) {
    CAPTURE(series);
    CHECK(metrics.find(series) != std::string::npos);
  }
}

TEST_CASE("gossip processes: 5 nodes converge and a SIGKILLed node is declared dead by all") {
  ProcessCluster c(5, 32);
  c.start_all();
  REQUIRE(eventually([&] { return c.all_see(all_alive(5)); }, 25s, kPoll));
  c.stop(3, SIGKILL);
  auto expected = all_alive(5);
  expected[identity(3)] = "dead";
  bool ok = eventually([&] { return c.all_see(expected); }, 20s, kPoll);
  INFO(c.logs());
  CHECK(ok);
}

TEST_CASE(
    "gossip processes: a restarted node with a new address is re-admitted under its identity") {
  ProcessCluster c(3, 33);
  c.start_all();
  REQUIRE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll));
  std::string old_instance = c.view(0)[identity(2)].value("instanceId", "");
  c.stop(2, SIGKILL);
  c.move(2, c.address(20));  // a new "pod IP"
  c.start(2);
  bool ok = eventually(
      [&] {
        for (int i = 0; i < 3; ++i) {
          auto v = c.view(i);
          const json& row = v[identity(2)];
          if (row.is_null() || row.value("state", "") != "alive" ||
              row.value("address", "") != c.ip(2) || row.value("instanceId", "") == old_instance)
            return false;
        }
        return true;
      },
      20s, kPoll);
  INFO(c.logs());
  CHECK(ok);
}

TEST_CASE("gossip processes: a node whose certificate comes from another CA is refused by all") {
  ProcessCluster c(3, 34);
  c.start_all();
  REQUIRE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll));
  // esdb-3 is allowed by name (same service and namespace) but its CA is not trusted.
  std::string rogue_ca = esk8s::test::make_ca_dir(c.dir() + "/rogue-ca", "rogue CA");
  const int rogue = c.add_outsider();
  REQUIRE(rogue == 3);
  c.start(rogue, {"ESK8S_TLS_CA_DIR=" + rogue_ca, "ESK8S_POD_NAME=esdb-3"});
  // Every member refused it (it dials all three static peers), so every view below is read after
  // its attempt, not after a guess at how long one takes.
  const std::string untrusted = "esk8s_gossip_tls_rejections_total{reason=\"untrusted_issuer\"}";
  bool refused = eventually(
      [&] {
        for (int i = 0; i < c.size(); ++i) {
          if (c.metric(i, untrusted).value_or(0) < 1) return false;
        }
        return true;
      },
      15s, kPoll);
  INFO(c.logs());
  CHECK(refused);
  for (int i = 0; i < c.size(); ++i) {
    CHECK_FALSE(c.view(i).contains(identity(3)));
  }
}

TEST_CASE(
    "gossip processes: a peer claiming an identity its certificate does not carry is refused") {
  ProcessCluster c(3, 35);
  c.start_all();
  REQUIRE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll));

  // An impostor with a valid certificate (same CA) for esdb-9 claims to be esdb-7.
  std::ifstream cf(c.ca_dir() + "/ca.crt"), kf(c.ca_dir() + "/ca.key");
  x509::CertAndKey ca{std::string(std::istreambuf_iterator<char>(cf), {}),
                      std::string(std::istreambuf_iterator<char>(kf), {})};
  x509::CertSpec spec;
  spec.common_name = identity(9);
  spec.dns_names = {identity(9)};
  auto leaf = x509::issue(spec, ca).value();
  auto tls = esk8s::gossip::TlsSnapshot::make({leaf.cert_pem, leaf.key_pem, ca.cert_pem}).value();

  boost::asio::io_context io;
  esk8s::gossip::TransportOptions o;
  o.bind_address = "127.0.35.99";
  auto verifier = esk8s::test::verifier(std::make_shared<std::string>(ca.cert_pem));
  esk8s::gossip::Transport t(
      io, o, tls, verifier, [](esk8s::gossip::Envelope, const std::string&) {},
      esk8s::Logger(nullptr, "impostor"));
  esk8s::gossip::Envelope e;
  e.cluster = "esdb.prod";
  e.from = identity(7);
  e.from_instance = esk8s::gossip::InstanceId::make(1, 2, 3);
  esk8s::gossip::PushPull pp;
  pp.join = true;
  pp.members.push_back({identity(7), e.from_instance, 5, "127.0.35.99", kGossipPort,
                        esk8s::gossip::MemberState::kAlive, "", "", "", ""});
  e.body = pp;
  t.send({identity(0), c.ip(0), kGossipPort, e});
  // The impostor's transport runs until esdb-0 has refused it (or 10 s passed).
  const std::string mismatch = "esk8s_gossip_tls_rejections_total{reason=\"identity_mismatch\"}";
  bool refused = false;
  for (auto end = std::chrono::steady_clock::now() + 10s;
       !refused && std::chrono::steady_clock::now() < end;) {
    io.run_for(kPoll);
    refused = c.metric(0, mismatch).value_or(0) == 1;
  }
  t.stop();
  INFO(c.logs());
  CHECK(refused);
  for (int i = 0; i < c.size(); ++i) {
    auto v = c.view(i);
    CHECK_FALSE(v.contains(identity(7)));
    CHECK_FALSE(v.contains(identity(9)));
  }
}

namespace {

// Runs `esk8s-node --pre-stop --timeout S` against the node at `ip`; the exit code and seconds.
std::pair<int, double> run_pre_stop(const std::string& ip, int timeout_s) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::string a = "ESK8S_BIND_ADDRESS=" + ip, p = "ESK8S_HTTP_PORT=" + std::to_string(kHttpPort);
    char* envp[] = {a.data(), p.data(), nullptr};
    std::string bin = ESK8S_NODE_BIN, t = std::to_string(timeout_s);
    char pre[] = "--pre-stop", to[] = "--timeout";
    char* argv[] = {bin.data(), pre, to, t.data(), nullptr};
    execve(bin.c_str(), argv, envp);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, s};
}

}  // namespace

TEST_CASE("gossip processes: pre-stop passes while a majority remains and times out when not") {
  ProcessCluster c(3, 37);
  c.start_all();
  REQUIRE_MESSAGE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll), c.logs());
  auto ok = run_pre_stop(c.ip(0), 10);
  CHECK(ok.first == 0);
  // One member down: stopping another would leave 1 of 3.
  c.stop(2, SIGKILL);
  REQUIRE(eventually([&] { return c.view(0)[identity(2)]["state"] == "dead"; }, 20s, kPoll));
  auto blocked = run_pre_stop(c.ip(0), 2);
  CHECK(blocked.first == 1);
  CHECK(blocked.second >= 2.0);
}

TEST_CASE("gossip processes: a SIGTERMed node leaves gracefully and peers see it left at once") {
  ProcessCluster c(3, 38);
  c.start_all();
  REQUIRE_MESSAGE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll), c.logs());
  auto t0 = std::chrono::steady_clock::now();
  c.stop(2, SIGTERM);
  // A crash ends as `dead` after suspicion; a graceful stop announces `left`.
  REQUIRE(eventually([&] { return c.view(0)[identity(2)]["state"] == "left"; }, 10s, kPoll));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("left seen after " << s << " s");  // a crash would end as dead, not left
  CHECK(c.view(1)[identity(2)]["state"] == "left");
}
