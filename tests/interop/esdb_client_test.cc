// A real EventStoreDB client library (node-eventstore-client from npm, the TCP client that
// discovers a cluster through GET /gossip on its gossip seeds) against a three-member esk8s
// cluster of real esk8s-node processes on loopback, in plain and in TLS mode. The client must
// dial the Leader's advertised endpoint and, after the Leader is killed and another member
// reports Leader, dial the new one; it must never dial a Follower.
//
// What is real: the esk8s-node processes (gossip over mutual TLS, /gossip rendered from the
// members' host statuses, HTTPS with the node's certificate), the client library and its
// discovery, Node's HTTP(S) and TLS stacks with certificate verification on in TLS mode. What is
// a stand-in: the database's client TCP endpoints (esdb_client_probe.js listens there and records
// the client's first package; it does not speak the EventStoreDB protocol), the cluster DNS
// (identities resolve through a map inside the probe), and the leader election (each node's
// esk8s-node reads its VNodeState from a --state-file the test writes).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/adversarial/harness.h"

namespace esk8s::interop {
namespace {

using adversarial::ProcessCluster;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kExtTcpPort = 1113;
constexpr uint16_t kIntTcpPort = 1112;
constexpr uint16_t kDbHttpPort = 2113;
constexpr uint16_t kHttpsPort = 2116;  // ESK8S_HTTPS_PORT's default
constexpr int kIdentifyClient = 0xF5;  // the TCP client's first package (TcpCommand)

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

// esdb_client_probe.js under Node.js, with a pipe each way; killed by the destructor (and with
// the test, through PR_SET_PDEATHSIG).
class Probe {
 public:
  Probe(const json& config, const std::string& extra_ca) {
    REQUIRE_MESSAGE(std::string(ESK8S_NODEJS).size() > 0,
                    "Node.js (node) was not found when CMake configured the build; install it "
                    "(scripts/setup does) and configure again");
    REQUIRE_MESSAGE(std::filesystem::exists(std::string(ESK8S_INTEROP_DIR) +
                                            "/node_modules/node-eventstore-client/package.json"),
                    "tests/interop/node_modules lacks node-eventstore-client: run scripts/setup "
                    "(npm ci in tests/interop)");
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    std::string script = std::string(ESK8S_INTEROP_DIR) + "/esdb_client_probe.js";
    std::string cfg = config.dump();
    std::string node = ESK8S_NODEJS;
    std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
    if (!extra_ca.empty()) env.push_back("NODE_EXTRA_CA_CERTS=" + extra_ca);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      std::vector<char*> envp;
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      char* argv[] = {node.data(), script.data(), cfg.data(), nullptr};
      ::execve(node.c_str(), argv, envp.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Probe() {
    ::close(to_);
    ::close(from_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  void send(const json& cmd) {
    std::string line = cmd.dump() + "\n";
    CHECK(::write(to_, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  }

  // The next event of kind `kind` (log events are kept in the transcript) within `limit`.
  std::optional<json> next(const std::string& kind, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    for (;;) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        transcript_ += line + "\n";
        json e = json::parse(line, nullptr, false);
        if (!e.is_discarded() && e.value("event", "") == kind) return e;
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(from_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;  // the probe exited
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  // Everything the probe printed so far (the client's log included), for failure messages.
  const std::string& transcript() const { return transcript_; }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buffer_, transcript_;
};

// The /gossip row of `identity` as node `i` serves it (plain HTTP), or null.
json gossip_row(const ProcessCluster& c, int i, const std::string& identity) {
  std::string raw = adversarial::http_raw(
      c.ip(i), adversarial::kHttpPort, "GET /gossip HTTP/1.0\r\n\r\n", 2000ms);
  auto body = raw.find("\r\n\r\n");
  if (body == std::string::npos) return nullptr;
  json g = json::parse(raw.substr(body + 4), nullptr, false);
  if (g.is_discarded() || !g.contains("members")) return nullptr;
  for (const json& m : g["members"]) {
    if (m.value("externalTcpIp", "") == identity || m.value("internalTcpIp", "") == identity) return m;
  }
  return nullptr;
}

bool everyone_sees_state(const ProcessCluster& c, const std::vector<int>& nodes,
                         const std::string& identity, const std::string& state) {
  for (int i : nodes) {
    json row = gossip_row(c, i, identity);
    if (row.is_null() || row.value("state", "") != state || !row.value("isAlive", false)) {
      return false;
    }
  }
  return true;
}

// The whole story for one mode. `subnet`: the cluster's own 127.0.<subnet>.x addresses.
void leader_dial_and_failover(bool tls, int subnet) {
  ProcessCluster c(3, subnet);
  json config = {{"tls", tls}, {"seeds", json::array()}, {"resolve", json::object()},
                 {"endpoints", json::array()}};
  for (int i = 0; i < 3; ++i) {
    const std::string state_file = c.dir() + "/state-" + std::to_string(i);
    write_file(state_file, i == 0 ? "Leader\n" : "Follower\n");
    std::vector<std::string> args = {"--state-file",   state_file,
                                     "--int-tcp-port", std::to_string(kIntTcpPort),
                                     "--ext-tcp-port", std::to_string(kExtTcpPort),
                                     "--http-port",    std::to_string(kDbHttpPort)};
    if (!tls) args.push_back("--insecure");
    c.set_args(i, args);
    config["seeds"].push_back(
        {{"host", c.identity(i)}, {"port", tls ? kHttpsPort : adversarial::kHttpPort}});
    config["resolve"][c.identity(i)] = c.ip(i);
    json ep = {{"name", c.identity(i)}, {"host", c.ip(i)}, {"port", kExtTcpPort}};
    if (tls) {
      adversarial::Credential cred = adversarial::issue_member_cert(c.ca_dir(), c.identity(i));
      write_file(c.dir() + "/endpoint-" + std::to_string(i) + ".crt", cred.cert_pem);
      write_file(c.dir() + "/endpoint-" + std::to_string(i) + ".key", cred.key_pem);
      ep["cert"] = c.dir() + "/endpoint-" + std::to_string(i) + ".crt";
      ep["key"] = c.dir() + "/endpoint-" + std::to_string(i) + ".key";
    }
    config["endpoints"].push_back(ep);
  }
  c.start_all();
  REQUIRE_MESSAGE(c.wait_converged(30s), c.logs());
  REQUIRE_MESSAGE(adversarial::eventually(
                      [&] { return everyone_sees_state(c, {0, 1, 2}, c.identity(0), "Leader"); },
                      15s),
                  c.logs());

  // /gossip advertises the client endpoint as EventStoreDB does for this kind of node.
  json row = gossip_row(c, 1, c.identity(0));
  INFO("/gossip row of the leader: " << row.dump());
  CHECK(row["externalTcpIp"] == c.identity(0));
  CHECK(row["externalTcpPort"] == (tls ? 0 : kExtTcpPort));
  CHECK(row["externalSecureTcpPort"] == (tls ? kExtTcpPort : 0));
  CHECK(row["internalTcpPort"] == (tls ? 0 : kIntTcpPort));
  CHECK(row["internalSecureTcpPort"] == (tls ? kIntTcpPort : 0));
  CHECK(row["httpEndPointIp"] == c.identity(0));
  CHECK(row["httpEndPointPort"] == kDbHttpPort);

  Probe probe(config, tls ? c.ca_dir() + "/ca.crt" : "");
  REQUIRE_MESSAGE(probe.next("listening", 15s), probe.transcript());

  std::optional<json> dial = probe.next("dial", 30s);
  INFO("probe transcript:\n" << probe.transcript());
  REQUIRE_MESSAGE(dial, "the client never dialed any advertised endpoint");
  CHECK((*dial)["endpoint"] == c.identity(0));
  CHECK((*dial)["tls"] == tls);
  CHECK((*dial)["first_command"] == kIdentifyClient);

  // The Leader dies; the member that reports Leader next is esdb-1. esdb-2 stays a Follower.
  c.stop(0, SIGKILL);
  probe.send({{"cmd", "close"}, {"endpoint", c.identity(0)}});
  REQUIRE(probe.next("closed", 5s));
  write_file(c.dir() + "/state-1", "Leader\n");
  const auto killed = Clock::now();

  std::optional<json> next_dial;
  for (;;) {
    next_dial = probe.next("dial", 45s);
    REQUIRE_MESSAGE(next_dial, "no dial after the leader was killed\n" << c.logs());
    if ((*next_dial)["endpoint"] != c.identity(0)) break;  // accepted just before the close
  }
  MESSAGE("the client dialed " << (*next_dial)["endpoint"].get<std::string>() << " "
                               << std::chrono::duration_cast<std::chrono::milliseconds>(
                                      Clock::now() - killed)
                                      .count()
                               << " ms after the leader was killed");
  CHECK((*next_dial)["endpoint"] == c.identity(1));
  CHECK((*next_dial)["tls"] == tls);
  CHECK((*next_dial)["first_command"] == kIdentifyClient);
  CHECK(everyone_sees_state(c, {1, 2}, c.identity(1), "Leader"));
  // Redials while the new leader holds still go to it, never to the Follower.
  while (std::optional<json> more = probe.next("dial", 3s)) {
    CHECK((*more)["endpoint"] == c.identity(1));
  }
  if (tls) {
    // Secure clients fetched /gossip over HTTPS; no handshake was refused.
    for (int i : {1, 2}) {
      CHECK(c.metric(i, "esk8s_http_refused_connections_total{reason=\"tls_handshake\"}") == 0);
    }
  }
}

TEST_CASE("esdb client in plain mode dials the leader's advertised endpoint and follows failover") {
  leader_dial_and_failover(false, 110);
}

TEST_CASE("esdb client in TLS mode fetches gossip over HTTPS dials the leader and follows failover") {
  leader_dial_and_failover(true, 111);
}

}  // namespace
}  // namespace esk8s::interop
