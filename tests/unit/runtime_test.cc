// The runtime against real sockets: HTTP endpoints served on loopback, the event loop's
// heartbeat, host callbacks, and start/stop behaviour.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "plugin/runtime.h"
#include "tests/unit/test_util.h"
#include "tls/x509.h"

using namespace esk8s;
using namespace esk8s::plugin;
using namespace std::chrono_literals;

namespace {

class FakeHost : public Host {
 public:
  void membership_changed(const std::vector<MemberView>& members) override {
    std::lock_guard lock(mu);
    snapshots.push_back(members);
  }
  std::optional<gossip::HostStatus> node_status() override {
    gossip::HostStatus s;
    s.host_ready = host_ready.load() != 0;
    s.state = state.load() == 0 ? "Follower" : "Leader";
    return s;
  }
  std::mutex mu;
  std::vector<std::vector<MemberView>> snapshots;
  std::atomic<int> state{0};
  std::atomic<uint8_t> host_ready{1};
};

// A cluster CA (ca.crt, ca.key 0600) for local-ca mode, shared by the tests of this file.
const std::string& ca_dir() {
  static test::TempDir dir;
  static bool made = [] {
    auto ca = tls::make_self_signed_ca("runtime test CA", tls::KeyType::kEcdsaP256, 24h);
    dir.write("ca.crt", ca.value().cert_pem);
    std::string key = dir.write("ca.key", ca.value().key_pem);
    std::filesystem::permissions(
        key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return true;
  }();
  (void)made;
  return dir.path();
}

Config test_config() {
  Config c;
  c.tls_ca_dir = ca_dir();
  c.gossip_port = 0;  // any free port: tests run in parallel on 127.0.0.1
  c.service = "esdb";
  c.namespace_name = "unit";
  c.pod_name = "esdb-0";
  c.cluster_domain = "cluster.local";
  c.cluster_name = "esdb.unit";
  c.discovery = DiscoveryMode::kStatic;
  discovery::Peer peer;
  peer.identity = "esdb-1.esdb.unit.svc.cluster.local";
  peer.address = "127.0.0.2";
  peer.gossip_port = 2114;
  c.static_peers = {peer};
  c.cluster_size = 2;
  c.http_port = 0;
  c.https_port = 0;  // the default 2116 would collide between tests running in parallel
  c.bind_address = "127.0.0.1";
  c.preset = Preset::kLocal;
  return c;
}

Logger quiet_logger() { return Logger(std::make_shared<StderrSink>(LogLevel::kWarn), "test"); }

struct Reply {
  int status = 0;
  nlohmann::json body;
};

Reply get(uint16_t port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(2, 0);
  auto res = cli.Get(path);
  if (!res) return {};
  return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
}

using esk8s::test::eventually;

}  // namespace

TEST_CASE("runtime: /health/live and /health/startup answer 200 with their checks once started") {
  auto host = std::make_shared<FakeHost>();
  Runtime rt(test_config(), Timings::local(), quiet_logger(), host);
  REQUIRE(rt.start().is_ok());
  uint16_t port = rt.http_port();
  CHECK(port != 0);

  REQUIRE(eventually([&] { return get(port, "/health/startup").status == 200; }));
  Reply startup = get(port, "/health/startup");
  CHECK(startup.body["status"] == "ok");
  std::vector<std::string> names;
  for (const auto& c : startup.body["checks"]) names.push_back(c["name"]);
  CHECK(names ==
        std::vector<std::string>{"config", "discovery", "http-listener", "tls", "gossip-listener"});

  Reply live = get(port, "/health/live");
  CHECK(live.status == 200);
  CHECK(live.body["status"] == "ok");
  rt.stop();
}

TEST_CASE("runtime: unknown endpoints and methods get a JSON error naming the endpoints") {
  Runtime rt(test_config(), Timings::local(), quiet_logger(), nullptr);
  REQUIRE(rt.start().is_ok());
  Reply r = get(rt.http_port(), "/health/nope");
  CHECK(r.status == 404);
  CHECK(r.body["reason"] == "unknown-endpoint");
  CHECK(r.body["endpoints"].size() == 7);

  httplib::Client cli("127.0.0.1", rt.http_port());
  auto res = cli.Post("/health/live", "x", "text/plain");
  REQUIRE(res);
  CHECK(res->status >= 400);
  CHECK(nlohmann::json::parse(res->body, nullptr, false)["status"] == "error");
  rt.stop();
}

TEST_CASE(
    "runtime: /health/live fails while the event loop is stuck and answers without waiting for "
    "it") {
  Runtime rt(test_config(), Timings::local(), quiet_logger(), nullptr);
  REQUIRE(rt.start().is_ok());
  uint16_t port = rt.http_port();
  REQUIRE(eventually([&] { return get(port, "/health/live").status == 200; }));

  std::atomic<bool> release{false};
  rt.post([&] {
    while (!release.load()) std::this_thread::sleep_for(5ms);
  });
  // The local preset's deadline is 1 s: after it, live must fail, and must say so promptly.
  bool failed = eventually([&] { return get(port, "/health/live").status == 503; }, 3000ms);
  auto t0 = std::chrono::steady_clock::now();
  Reply stuck = get(port, "/health/live");
  auto took = std::chrono::steady_clock::now() - t0;
  release = true;
  CHECK(failed);
  CHECK(stuck.status == 503);
  CHECK(stuck.body["reason"] == "event-loop-stalled");
  // Generous bound (a loaded CI machine); precise latency belongs to the benchmarks.
  CHECK(took < 1000ms);
  // Startup stays ok: it is about local readiness, not loop latency.
  CHECK(get(port, "/health/startup").status == 200);
  CHECK(eventually([&] { return get(port, "/health/live").status == 200; }));
  rt.stop();
}

TEST_CASE(
    "runtime: the host hears the membership (self alive, static peers discovered) and status "
    "changes are published") {
  auto host = std::make_shared<FakeHost>();
  Runtime rt(test_config(), Timings::local(), quiet_logger(), host);
  REQUIRE(rt.start().is_ok());
  REQUIRE(eventually([&] {
    std::lock_guard lock(host->mu);
    return !host->snapshots.empty();
  }));
  {
    std::lock_guard lock(host->mu);
    const auto& members = host->snapshots.front();
    REQUIRE(members.size() == 2);
    CHECK(members[0].identity == "esdb-0.esdb.unit.svc.cluster.local");
    CHECK(members[0].is_self);
    CHECK(members[0].state == MemberState::kAlive);
    REQUIRE(members[0].status.has_value());
    CHECK(std::string(members[0].status->state) == "Follower");
    CHECK(members[1].identity == "esdb-1.esdb.unit.svc.cluster.local");
    CHECK(members[1].state == MemberState::kDiscovered);
    CHECK(members[1].address == "127.0.0.2");
  }
  host->state = 1;
  CHECK(eventually([&] {
    auto s = rt.snapshot();
    return !s->members.empty() && s->members[0].status &&
           std::string(s->members[0].status->state) == "Leader";
  }));
  rt.stop();
}

TEST_CASE("runtime: stop closes the listener, and a restart gets a new instance id") {
  Runtime rt(test_config(), Timings::local(), quiet_logger(), nullptr);
  REQUIRE(rt.start().is_ok());
  uint16_t port = rt.http_port();
  REQUIRE(eventually([&] { return rt.snapshot()->started; }));
  auto first_id = rt.snapshot()->members.at(0).instance_id;
  rt.stop();
  CHECK_FALSE(rt.running());
  CHECK(get(port, "/health/live").status == 0);  // connection refused
  CHECK_FALSE(rt.snapshot()->started);
  rt.stop();  // idempotent

  REQUIRE(rt.start().is_ok());
  REQUIRE(eventually([&] { return rt.snapshot()->started; }));
  CHECK(rt.snapshot()->members.at(0).instance_id != first_id);
  CHECK(rt.start().code() == Status::Code::kState);
  rt.stop();
}

TEST_CASE(
    "runtime: kubernetes discovery without an API to talk to, and dns discovery, are refused at "
    "start") {
  Config c = test_config();
  c.discovery = DiscoveryMode::kKubernetes;
  c.static_peers.clear();
  c.service_account_dir = "/nonexistent";
  unsetenv("KUBECONFIG");
  unsetenv("KUBERNETES_SERVICE_HOST");
  Runtime rt(c, Timings::local(), quiet_logger(), nullptr);
  Status s = rt.start();
  CHECK(s.code() == Status::Code::kConfig);
  CHECK(s.message().find("no Kubernetes API to talk to") != std::string::npos);
  CHECK_FALSE(rt.running());
}

TEST_CASE("runtime: dns discovery starts and keeps an empty peer set while DNS has no answer") {
  Config c = test_config();
  c.discovery = DiscoveryMode::kDns;
  c.static_peers.clear();
  Runtime dns(c, Timings::local(), quiet_logger(), nullptr);
  REQUIRE(dns.start().is_ok());
  REQUIRE(eventually([&] { return dns.snapshot()->started; }));
  CHECK(dns.snapshot()->members.size() == 1);  // only self: nothing invented
  dns.stop();
}

TEST_CASE("runtime: a taken port fails start with the address and port named") {
  Runtime a(test_config(), Timings::local(), quiet_logger(), nullptr);
  REQUIRE(a.start().is_ok());
  Config c = test_config();
  c.http_port = a.http_port();
  Runtime b(c, Timings::local(), quiet_logger(), nullptr);
  Status s = b.start();
  CHECK(s.code() == Status::Code::kIo);
  CHECK(s.message().find("ESK8S_HTTP_PORT=" + std::to_string(c.http_port)) != std::string::npos);
  CHECK_FALSE(b.running());
  a.stop();
}

TEST_CASE("runtime: /metrics serves Prometheus text with member counts and the loop heartbeat") {
  Runtime rt(test_config(), Timings::local(), quiet_logger(), nullptr);
  REQUIRE(rt.start().is_ok());
  REQUIRE(eventually([&] { return rt.snapshot()->started; }));
  httplib::Client cli("127.0.0.1", rt.http_port());
  std::string body;
  REQUIRE(eventually([&] {
    auto res = cli.Get("/metrics");
    if (!res || res->status != 200) return false;
    body = res->body;
    return body.find("esk8s_members{state=\"alive\"} 1") != std::string::npos;
  }));
  CHECK(body.find("# TYPE esk8s_members gauge") != std::string::npos);
  CHECK(body.find("esk8s_members{state=\"discovered\"} 1") != std::string::npos);
  CHECK(body.find("esk8s_event_loop_heartbeat_age_seconds ") != std::string::npos);
  CHECK(body.find("esk8s_started 1") != std::string::npos);
  rt.stop();
}

TEST_CASE("metrics: label values are escaped and each name gets one HELP and TYPE") {
  std::string text = render_prometheus({{"a_total", "Help.", "counter", {{"code", "4\"0\\4\n"}}, 3},
                                        {"a_total", "Help.", "counter", {{"code", "500"}}, 1.5}});
  CHECK(text ==
        "# HELP a_total Help.\n# TYPE a_total counter\na_total{code=\"4\\\"0\\\\4\\n\"} "
        "3\na_total{code=\"500\"} 1.5\n");
}

TEST_CASE("runtime: local-ca mode without a readable CA fails start naming the file and the fix") {
  Config c = test_config();
  test::TempDir empty;
  c.tls_ca_dir = empty.path();
  Runtime rt(c, Timings::local(), quiet_logger(), nullptr);
  Status s = rt.start();
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.message().find(empty.path() + "/ca.crt") != std::string::npos);
  CHECK_FALSE(rt.running());

  // A CA key other users can read is refused with the chmod that fixes it.
  test::TempDir loose;
  auto ca = tls::make_self_signed_ca("loose CA", tls::KeyType::kEcdsaP256, 24h).value();
  loose.write("ca.crt", ca.cert_pem);
  std::string key = loose.write("ca.key", ca.key_pem);
  std::filesystem::permissions(key, std::filesystem::perms(0644));
  c.tls_ca_dir = loose.path();
  Runtime rt2(c, Timings::local(), quiet_logger(), nullptr);
  Status s2 = rt2.start();
  REQUIRE_FALSE(s2.is_ok());
  CHECK(s2.message().find("chmod 600") != std::string::npos);
}

TEST_CASE("runtime: /members and /gossip list this node with its identity and host status") {
  auto host = std::make_shared<FakeHost>();
  Runtime rt(test_config(), Timings::local(), quiet_logger(), host);
  REQUIRE(rt.start().is_ok());
  uint16_t port = rt.http_port();
  REQUIRE(eventually([&] {
    Reply g = get(port, "/gossip");
    return g.status == 200 && g.body["members"].size() == 2 &&
           g.body["members"][0]["state"] == "Follower";
  }));
  Reply g = get(port, "/gossip");
  CHECK(g.body["serverIp"] == "esdb-0.esdb.unit.svc.cluster.local");
  CHECK(g.body["serverPort"] == port);
  CHECK(g.body["members"][0]["httpEndPointIp"] == "esdb-0.esdb.unit.svc.cluster.local");
  CHECK(g.body["members"][0]["isAlive"] == true);
  CHECK(g.body["members"][1]["isAlive"] == false);  // the static peer never answered

  Reply m = get(port, "/members");
  REQUIRE(m.status == 200);
  CHECK(m.body["self"] == "esdb-0.esdb.unit.svc.cluster.local");
  CHECK(m.body["members"][0]["identity"] == "esdb-0.esdb.unit.svc.cluster.local");
  CHECK(m.body["members"][0]["state"] == "alive");
  CHECK(m.body["members"][0]["instanceId"].get<std::string>().size() == 36);
  CHECK(m.body["members"][1]["state"] == "discovered");  // known from discovery, never heard
  rt.stop();
}

TEST_CASE("runtime: ready mode auto without an API is bootstrap-latch and follows host readiness") {
  auto host = std::make_shared<FakeHost>();
  Runtime rt(test_config(), Timings::local(), quiet_logger(), host);
  REQUIRE(rt.start().is_ok());
  uint16_t port = rt.http_port();
  // Alone (the static peer never answers) but not yet past quorum once: ready, bootstrapping.
  REQUIRE(eventually([&] { return get(port, "/health/ready").status == 200; }));
  Reply r = get(port, "/health/ready");
  CHECK(r.body["reason"] == "bootstrapping");
  CHECK(r.body["mode"] == "bootstrap-latch");
  CHECK(r.body["modeReason"].get<std::string>().find("static") != std::string::npos);
  CHECK(r.body["alive"] == 1);
  CHECK(r.body["clusterSize"] == 2);
  host->host_ready = 0;
  REQUIRE(eventually([&] { return get(port, "/health/ready").status == 503; }));
  CHECK(get(port, "/health/ready").body["reason"] == "host-not-ready");
  host->host_ready = 1;
  CHECK(eventually([&] { return get(port, "/health/ready").status == 200; }));
  rt.stop();
}

TEST_CASE("runtime: quorum mode alone is neither ready nor disruptable and says why") {
  Config c = test_config();
  c.ready_mode = ReadyMode::kQuorum;
  Runtime rt(c, Timings::local(), quiet_logger(), std::make_shared<FakeHost>());
  REQUIRE(rt.start().is_ok());
  uint16_t port = rt.http_port();
  REQUIRE(
      eventually([&] { return get(port, "/health/ready").body.value("reason", "") == "quorum"; }));
  Reply r = get(port, "/health/ready");
  CHECK(r.status == 503);
  CHECK(r.body["status"] == "not-ready");
  CHECK(r.body["alive"] == 1);
  CHECK(r.body["needed"] == 2);
  CHECK(r.body["modeReason"] == "ESK8S_READY_MODE=quorum");
  Reply d = get(port, "/health/disruptable");
  CHECK(d.status == 503);
  CHECK(d.body["reason"] == "would-lose-quorum");
  rt.stop();
}
