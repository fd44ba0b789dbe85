// Gossip between real esk8s-node processes on loopback over mutual TLS (static discovery, a
// local CA made here with OpenSSL): 3 and 5 nodes converge; a SIGKILLed node is detected by all;
// a restarted node (new instance id, new address) is re-admitted under its identity; a node
// with a certificate from another CA, or a peer presenting a certificate for a different identity
// than it claims, is refused and never appears in any member list.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gossip/transport.h"
#include "gossip/wire.h"
#include "tests/process/test_tls.h"
#include "tests/unit/test_util.h"
#include "tls/x509.h"

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace x509 = esk8s::tls;
using esk8s::test::eventually;
// How often the tests poll the nodes' /members views (each poll is a GET to every node).
constexpr auto kPoll = 100ms;

namespace {

constexpr uint16_t kGossipPort = 2114;
constexpr uint16_t kHttpPort = 2115;

std::string identity(int i) { return "esdb-" + std::to_string(i) + ".esdb.prod.svc.cluster.local"; }

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path) << content;
  chmod(path.c_str(), mode);
}

// A CA directory as `esk8s cert create-ca` writes it.
std::string make_ca_dir(const std::string& dir, const std::string& name) {
  fs::create_directories(dir);
  auto ca = x509::make_self_signed_ca(name, x509::KeyType::kEcdsaP256, 24h * 30).value();
  write_file(dir + "/ca.crt", ca.cert_pem, 0644);
  write_file(dir + "/ca.key", ca.key_pem, 0600);
  return dir;
}

struct Node {
  int index = 0;
  std::string ip;
  pid_t pid = -1;
  std::string log;
};

class Cluster {
 public:
  // `subnet`: the third octet of this test's loopback addresses (distinct per test).
  Cluster(int size, int subnet) : size_(size), subnet_(subnet) {
    std::string tmpl = (fs::temp_directory_path() / "esk8s-gossip-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    ca_dir_ = make_ca_dir(dir_ + "/ca", "esk8s test CA");
    for (int i = 0; i < size; ++i) nodes_.push_back({i, ip_for(i, 0), -1, ""});
  }
  ~Cluster() {
    for (auto& n : nodes_) kill_node(n, SIGKILL);
    for (auto& n : extra_) kill_node(n, SIGKILL);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string ip_for(int i, int generation) const {
    return "127.0." + std::to_string(subnet_) + "." + std::to_string(1 + i + 20 * generation);
  }
  std::string peers() const {
    std::string p;
    for (int i = 0; i < size_; ++i) {
      p += (p.empty() ? "" : ",") + identity(i) + "=" + ip_for(i, 0) + ":" +
           std::to_string(kGossipPort);
    }
    return p;
  }

  void start(Node& n, const std::string& ca_dir = "", const std::string& pod = "") {
    std::vector<std::string> env = {
        "ESK8S_SERVICE=esdb",
        "ESK8S_NAMESPACE=prod",
        "ESK8S_POD_NAME=" + (pod.empty() ? "esdb-" + std::to_string(n.index) : pod),
        "ESK8S_CLUSTER_DOMAIN=cluster.local",
        "ESK8S_CLUSTER_SIZE=" + std::to_string(size_),
        "ESK8S_DISCOVERY=static",
        "ESK8S_STATIC_PEERS=" + peers(),
        "ESK8S_BIND_ADDRESS=" + n.ip,
        "ESK8S_GOSSIP_PORT=" + std::to_string(kGossipPort),
        "ESK8S_HTTP_PORT=" + std::to_string(kHttpPort),
        "ESK8S_PRESET=local",
        "ESK8S_TLS_MODE=local-ca",
        "ESK8S_TLS_CA_DIR=" + (ca_dir.empty() ? ca_dir_ : ca_dir),
        "PATH=/usr/bin:/bin",
    };
    n.log = dir_ + "/" + n.ip + ".log";
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      int fd = open(n.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> envp;
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      std::string bin = ESK8S_NODE_BIN;
      char* argv[] = {bin.data(), nullptr};
      execve(bin.c_str(), argv, envp.data());
      _exit(127);
    }
    n.pid = pid;
  }
  void start_all() {
    for (auto& n : nodes_) start(n);
  }
  void kill_node(Node& n, int sig) {
    if (n.pid <= 0) return;
    kill(n.pid, sig);
    int status = 0;
    waitpid(n.pid, &status, 0);
    n.pid = -1;
  }

  // /members of a node, or null when it does not answer.
  static json members(const std::string& ip) {
    httplib::Client c(ip, kHttpPort);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(2, 0);
    auto r = c.Get("/members");
    if (!r || r->status != 200) return nullptr;
    try {
      return json::parse(r->body);
    } catch (const json::exception&) {
      return nullptr;
    }
  }
  static std::string metrics(const std::string& ip) {
    httplib::Client c(ip, kHttpPort);
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }
  // identity -> (state, address, instanceId) as `ip` sees it.
  static std::map<std::string, json> view(const std::string& ip) {
    std::map<std::string, json> out;
    json m = members(ip);
    if (!m.is_object()) return out;
    for (const auto& row : m.value("members", json::array())) {
      out[row.value("identity", "")] = row;
    }
    return out;
  }
  // Every running node sees exactly `expected` (identity -> state).
  bool all_see(const std::map<std::string, std::string>& expected) const {
    for (const auto& n : nodes_) {
      if (n.pid <= 0) continue;
      auto v = view(n.ip);
      for (const auto& [id, state] : expected) {
        if (!v.contains(id) || v[id].value("state", "") != state) return false;
      }
    }
    return true;
  }
  std::string logs() const {
    std::string all;
    for (const auto& n : nodes_) {
      std::ifstream f(n.log);
      all += "--- " + n.log + "\n" + std::string(std::istreambuf_iterator<char>(f), {});
    }
    return all.size() > 20000 ? all.substr(all.size() - 20000) : all;
  }

  std::vector<Node>& nodes() { return nodes_; }
  std::vector<Node>& extra() { return extra_; }
  const std::string& dir() const { return dir_; }
  const std::string& ca_dir() const { return ca_dir_; }
  int size() const { return size_; }

 private:
  int size_;
  int subnet_;
  std::string dir_, ca_dir_;
  std::vector<Node> nodes_, extra_;
};

std::map<std::string, std::string> all_alive(int n) {
  std::map<std::string, std::string> m;
  for (int i = 0; i < n; ++i) m[identity(i)] = "alive";
  return m;
}

}  // namespace

TEST_CASE("gossip processes: 3 nodes over mutual TLS converge to 3 alive members") {
  Cluster c(3, 31);
  c.start_all();
  bool ok = eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll);
  INFO(c.logs());
  REQUIRE(ok);
  // Addresses are where each node listens, instance ids are GUIDs, and the quorum gauge is 1.
  auto v = Cluster::view(c.nodes()[0].ip);
  CHECK(v[identity(1)].value("address", "") == c.nodes()[1].ip);
  CHECK(v[identity(2)].value("instanceId", "").size() == 36);
  const std::string metrics = Cluster::metrics(c.nodes()[0].ip);
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
  Cluster c(5, 32);
  c.start_all();
  REQUIRE(eventually([&] { return c.all_see(all_alive(5)); }, 25s, kPoll));
  c.kill_node(c.nodes()[3], SIGKILL);
  auto expected = all_alive(5);
  expected[identity(3)] = "dead";
  bool ok = eventually([&] { return c.all_see(expected); }, 20s, kPoll);
  INFO(c.logs());
  CHECK(ok);
}

TEST_CASE(
    "gossip processes: a restarted node with a new address is re-admitted under its identity") {
  Cluster c(3, 33);
  c.start_all();
  REQUIRE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll));
  std::string old_instance = Cluster::view(c.nodes()[0].ip)[identity(2)].value("instanceId", "");
  c.kill_node(c.nodes()[2], SIGKILL);
  Node& n = c.nodes()[2];
  n.ip = c.ip_for(2, 1);  // a new "pod IP"
  c.start(n);
  bool ok = eventually(
      [&] {
        for (int i = 0; i < 3; ++i) {
          auto v = Cluster::view(c.nodes()[i].ip);
          const json& row = v[identity(2)];
          if (row.is_null() || row.value("state", "") != "alive" ||
              row.value("address", "") != n.ip || row.value("instanceId", "") == old_instance)
            return false;
        }
        return true;
      },
      20s, kPoll);
  INFO(c.logs());
  CHECK(ok);
}

TEST_CASE("gossip processes: a node whose certificate comes from another CA is refused by all") {
  Cluster c(3, 34);
  c.start_all();
  REQUIRE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll));
  // esdb-3 is allowed by name (same service and namespace) but its CA is not trusted.
  std::string rogue_ca = make_ca_dir(c.dir() + "/rogue-ca", "rogue CA");
  c.extra().push_back({3, c.ip_for(3, 0), -1, ""});
  c.start(c.extra().back(), rogue_ca);
  // Every member refused it (it dials all three static peers), so every view below is read after
  // its attempt, not after a guess at how long one takes.
  bool refused = eventually(
      [&] {
        for (const auto& n : c.nodes()) {
          if (Cluster::metrics(n.ip).find(
                  "esk8s_gossip_tls_rejections_total{reason=\"untrusted_issuer\"}") ==
              std::string::npos) {
            return false;
          }
        }
        return true;
      },
      15s, kPoll);
  INFO(c.logs());
  CHECK(refused);
  for (const auto& n : c.nodes()) {
    auto v = Cluster::view(n.ip);
    CHECK_FALSE(v.contains(identity(3)));
  }
}

TEST_CASE(
    "gossip processes: a peer claiming an identity its certificate does not carry is refused") {
  Cluster c(3, 35);
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
  t.send({identity(0), c.nodes()[0].ip, kGossipPort, e});
  io.run_for(3s);
  t.stop();

  bool refused = eventually(
      [&] {
        return Cluster::metrics(c.nodes()[0].ip)
                   .find("esk8s_gossip_tls_rejections_total{reason=\"identity_mismatch\"} 1") !=
               std::string::npos;
      },
      5s, kPoll);
  INFO(c.logs());
  CHECK(refused);
  for (const auto& n : c.nodes()) {
    auto v = Cluster::view(n.ip);
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
  Cluster c(3, 37);
  c.start_all();
  REQUIRE_MESSAGE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll), c.logs());
  auto ok = run_pre_stop(c.nodes()[0].ip, 10);
  CHECK(ok.first == 0);
  // One member down: stopping another would leave 1 of 3.
  c.kill_node(c.nodes()[2], SIGKILL);
  REQUIRE(eventually(
      [&] { return Cluster::view(c.nodes()[0].ip)[identity(2)]["state"] == "dead"; }, 20s, kPoll));
  auto blocked = run_pre_stop(c.nodes()[0].ip, 2);
  CHECK(blocked.first == 1);
  CHECK(blocked.second >= 2.0);
}

TEST_CASE("gossip processes: a SIGTERMed node leaves gracefully and peers see it left at once") {
  Cluster c(3, 38);
  c.start_all();
  REQUIRE_MESSAGE(eventually([&] { return c.all_see(all_alive(3)); }, 20s, kPoll), c.logs());
  auto t0 = std::chrono::steady_clock::now();
  c.kill_node(c.nodes()[2], SIGTERM);
  // A crash ends as `dead` after suspicion; a graceful stop announces `left`.
  REQUIRE(eventually(
      [&] { return Cluster::view(c.nodes()[0].ip)[identity(2)]["state"] == "left"; }, 10s, kPoll));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("left seen after " << s << " s");  // a crash would end as dead, not left
  CHECK(Cluster::view(c.nodes()[1].ip)[identity(2)]["state"] == "left");
}
