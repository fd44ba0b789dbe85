// The monitoring files against the real thing (label "monitoring"):
//   - the PrometheusRule carries exactly the groups of the plain rule file;
//   - every esk8s_* metric the rules and the Grafana dashboard read is one a running esk8s-node
//     exports (names taken from its /metrics, not from a list kept here);
//   - end to end: a real Prometheus server scrapes three real esk8s-node processes with the
//     shipped rules; Esk8sQuorumLost stays silent while all three live and fires on the survivor
//     after two are SIGKILLed; every rule evaluates without error and every dashboard query is
//     accepted by that server.
//
// The shipped `for:` durations (2 minutes and more) do not fit a test; the end-to-end test loads
// the shipped file through `with_short_for` below, which rewrites the `for:` of every alerting
// rule to kTestFor and changes nothing else (expressions, labels and annotations are the
// shipped ones; a check below compares them).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "tests/adversarial/harness.h"

namespace esk8s::monitoring {
namespace {

using adversarial::ProcessCluster;
using adversarial::eventually;
using adversarial::http_raw;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kRoot = ESK8S_SOURCE_DIR;
const std::string kRules = kRoot + "/monitoring/prometheus/esk8s-rules.yaml";
const std::string kPrometheusRule = kRoot + "/monitoring/kubernetes/prometheusrule.yaml";
const std::string kDashboard = kRoot + "/monitoring/grafana/esk8s-dashboard.json";
constexpr const char* kTestFor = "2s";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A YAML node as JSON (scalars as strings: both files are read the same way, so equal YAML gives
// equal JSON).
json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& v : n) a.push_back(to_json(v));
      return a;
    }
    case YAML::NodeType::Scalar:
      return n.as<std::string>();
    default:
      return nullptr;
  }
}

// Every esk8s_* metric name in a PromQL expression (recording rule names, esk8s:..., are not
// metric names and do not match).
std::set<std::string> metric_names(const std::string& expr) {
  static const std::regex name("esk8s_[a-z0-9_]+");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name); it != std::sregex_iterator();
       ++it) {
    out.insert(it->str());
  }
  return out;
}

std::vector<std::string> rule_exprs() {
  std::vector<std::string> out;
  for (const auto& g : YAML::LoadFile(kRules)["groups"]) {
    for (const auto& r : g["rules"]) out.push_back(r["expr"].as<std::string>());
  }
  return out;
}

// Every "expr" of the dashboard's panel targets (rows may nest panels).
void collect_exprs(const json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k == "expr" && v.is_string()) out.push_back(v.get<std::string>());
      else collect_exprs(v, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) collect_exprs(v, out);
  }
}

std::vector<std::string> dashboard_exprs() {
  json d = json::parse(read_file(kDashboard));  // throws (fails the test) on invalid JSON
  std::vector<std::string> out;
  collect_exprs(d["panels"], out);
  return out;
}

// A dashboard query as Prometheus itself would get it from Grafana: the template variables
// replaced by what they stand for.
std::string as_promql(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
  expr = std::regex_replace(expr, std::regex(R"(\$__interval)"), "15s");
  expr = std::regex_replace(expr, std::regex(R"(\$job)"), ".*");
  expr = std::regex_replace(expr, std::regex(R"(\$instance)"), ".*");
  return expr;
}

// The shipped rule file with the `for:` of every alerting rule set to kTestFor; nothing else
// changes.
std::string with_short_for(const std::string& path) {
  YAML::Node doc = YAML::LoadFile(path);
  for (auto g : doc["groups"]) {
    for (auto r : g["rules"]) {
      if (r["alert"]) r["for"] = kTestFor;
    }
  }
  YAML::Emitter out;
  out << doc;
  return out.c_str();
}

// The family names of a Prometheus text exposition (its "# TYPE" lines).
std::set<std::string> exported_families(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::string name = line.substr(7, line.find(' ', 7) - 7);
    out.insert(name);
  }
  return out;
}

std::string http_body(const std::string& ip, uint16_t port, const std::string& target) {
  // HTTP/1.0: the answer is not chunked and ends when the server closes.
  std::string raw = http_raw(ip, port, "GET " + target + " HTTP/1.0\r\nHost: x\r\n\r\n", 3s);
  auto body = raw.find("\r\n\r\n");
  return body == std::string::npos ? "" : raw.substr(body + 4);
}

uint16_t free_port(const std::string& ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A real Prometheus server (Debian's /usr/bin/prometheus) in a temporary directory, killed by the
// destructor (and by PR_SET_PDEATHSIG if the test dies).
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dir, const std::string& ip, const std::string& rules,
                   const std::vector<std::string>& targets)
      : dir_(dir), ip_(ip), port_(free_port(ip)) {
    std::string bin = ESK8S_PROMETHEUS_BIN;
    const bool installed = !bin.empty() && ::access(bin.c_str(), X_OK) == 0;
    REQUIRE_MESSAGE(installed,
                    "the prometheus server is not installed (ESK8S_PROMETHEUS_BIN='"
                        << bin << "'); scripts/setup installs Debian's prometheus package");
    fs::create_directories(dir_ + "/data");
    std::ofstream(dir_ + "/rules.yaml") << rules;
    std::string t;
    for (const auto& x : targets) t += (t.empty() ? "'" : ", '") + x + "'";
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        << "rule_files: ['" << dir_ << "/rules.yaml']\n"
        << "scrape_configs:\n  - job_name: esk8s\n    static_configs:\n      - targets: [" << t
        << "]\n";
    std::vector<std::string> args = {bin,
                                     "--config.file=" + dir_ + "/prometheus.yml",
                                     "--storage.tsdb.path=" + dir_ + "/data",
                                     "--web.listen-address=" + address(),
                                     "--log.level=warn"};
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open((dir_ + "/prometheus.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~PrometheusServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::string address() const { return ip_ + ":" + std::to_string(port_); }
  bool ready() const {
    std::string raw = http_raw(ip_, port_, "GET /-/ready HTTP/1.0\r\n\r\n", 1s);
    return raw.rfind("HTTP/1.0 200", 0) == 0 || raw.rfind("HTTP/1.1 200", 0) == 0;
  }
  // GET an API path (query parameters encoded by httplib); the parsed answer, or null when
  // there is none or it is not JSON.
  json api(const std::string& path, const httplib::Params& params = {}) const {
    httplib::Client cli(ip_, port_);
    cli.set_connection_timeout(2s);
    cli.set_read_timeout(5s);
    auto res = cli.Get(path, params, httplib::Headers{});
    if (!res) return json();
    json j = json::parse(res->body, nullptr, false);
    return j.is_discarded() ? json() : j;
  }
  // The result vector of an instant query (empty on any error).
  json query(const std::string& promql) const {
    json j = api("/api/v1/query", {{"query", promql}});
    if (!j.is_object() || j.value("status", "") != "success") return json::array();
    return j["data"]["result"];
  }
  // State of every alert named `name` by instance label ("pending" or "firing").
  std::map<std::string, std::string> alerts(const std::string& name) const {
    std::map<std::string, std::string> out;
    json j = api("/api/v1/alerts");
    if (!j.is_object()) return out;
    for (const auto& a : j["data"]["alerts"]) {
      if (a["labels"].value("alertname", "") != name) continue;
      out[a["labels"].value("instance", "")] = a.value("state", "");
    }
    return out;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/prometheus.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 8000 ? s.substr(s.size() - 8000) : s;
  }

 private:
  std::string dir_, ip_;
  uint16_t port_;
  pid_t pid_ = -1;
};

TEST_CASE("prometheus rule holds the rule file groups") {
  // generate-prometheusrule.sh writes it; an edit to one file without the other fails here.
  json plain = to_json(YAML::LoadFile(kRules)["groups"]);
  YAML::Node pr = YAML::LoadFile(kPrometheusRule);
  CHECK(pr["apiVersion"].as<std::string>() == "monitoring.coreos.com/v1");
  CHECK(pr["kind"].as<std::string>() == "PrometheusRule");
  json generated = to_json(pr["spec"]["groups"]);
  REQUIRE(plain.is_array());
  CHECK(plain.size() >= 2);
  CHECK_MESSAGE(generated == plain,
                "monitoring/kubernetes/prometheusrule.yaml differs from the rule file: run "
                "monitoring/kubernetes/generate-prometheusrule.sh");
}

TEST_CASE("the dashboard is grafana JSON whose panels fit the grid and use defined variables") {
  json d = json::parse(read_file(kDashboard));  // throws (fails) on invalid JSON
  CHECK(d.value("uid", "") == "esk8s-overview");
  CHECK_FALSE(d.value("title", "").empty());
  std::set<std::string> variables;
  for (const auto& v : d["templating"]["list"]) variables.insert(v.value("name", ""));
  std::set<int> ids;
  size_t queries = 0;
  for (const auto& p : d["panels"]) {
    CAPTURE(p.value("title", ""));
    CHECK(ids.insert(p.value("id", -1)).second);  // ids unique
    const json& g = p["gridPos"];
    CHECK(g.value("x", -1) >= 0);
    CHECK(g.value("w", 0) >= 1);
    CHECK(g.value("x", 0) + g.value("w", 0) <= 24);
    CHECK(g.value("h", 0) >= 1);
    if (p.value("type", "") == "row") continue;
    REQUIRE(p["targets"].is_array());
    CHECK(p["targets"].size() >= 1);
    std::set<std::string> refs;
    for (const auto& t : p["targets"]) {
      ++queries;
      CHECK(refs.insert(t.value("refId", "")).second);
      // Every $variable a query uses is defined (Grafana's own $__ variables aside).
      std::string e = t.value("expr", "");
      static const std::regex var(R"(\$([A-Za-z_][A-Za-z0-9_]*))");
      for (auto it = std::sregex_iterator(e.begin(), e.end(), var); it != std::sregex_iterator();
           ++it) {
        std::string v = (*it)[1];
        if (v.rfind("__", 0) != 0) CHECK_MESSAGE(variables.count(v), "undefined $" << v);
      }
    }
    CHECK(p["datasource"].value("uid", "") == "${datasource}");
  }
  CHECK(variables.count("datasource"));
  CHECK(queries >= 10);
}

TEST_CASE("every metric the rules and the dashboard read is exported by a running node") {
  // Kubernetes discovery against an API server that is not there: the node runs gossip and TLS
  // and its discovery source counts failed requests, so every family it can export is there.
  ProcessCluster c(1, 151);
  std::string sa = c.dir() + "/serviceaccount";
  fs::create_directories(sa);
  std::ofstream(sa + "/token") << "not-a-real-token";
  fs::copy_file(c.ca_dir() + "/ca.crt", sa + "/ca.crt");
  std::ofstream(sa + "/namespace") << "prod";
  c.start(0, {"ESK8S_DISCOVERY=kubernetes", "ESK8S_STATIC_PEERS=",
              "ESK8S_KUBE_API=https://127.0.151.99:1", "ESK8S_SERVICE_ACCOUNT_DIR=" + sa});
  std::set<std::string> exported;
  bool complete = eventually(
      [&] {
        exported = exported_families(http_body(c.ip(0), adversarial::kHttpPort, "/metrics"));
        return exported.count("esk8s_gossip_local_health") &&
               exported.count("esk8s_tls_certificate_expiry_seconds") &&
               exported.count("esk8s_discovery_api_errors_total");
      },
      30s);
  INFO(c.logs());
  REQUIRE_MESSAGE(complete, "the node never exported gossip, TLS and discovery metrics");
  std::vector<std::string> rules = rule_exprs(), dash = dashboard_exprs();
  CHECK(rules.size() >= 10);
  CHECK(dash.size() >= 10);
  std::set<std::string> used_by_rules, used_by_dashboard;
  for (const auto& e : rules) used_by_rules.merge(metric_names(e));
  for (const auto& e : dash) used_by_dashboard.merge(metric_names(e));
  for (const auto& n : used_by_rules) CHECK_MESSAGE(exported.count(n), "rules read " << n);
  for (const auto& n : used_by_dashboard) CHECK_MESSAGE(exported.count(n), "dashboard reads " << n);
  // The names the alerts stand on are really read (the regex found them).
  for (const char* n : {"esk8s_quorum", "esk8s_cluster_size", "esk8s_disruption_quorum_safe",
                        "esk8s_members", "esk8s_tls_certificate_expiry_seconds",
                        "esk8s_discovery_api_errors_total", "esk8s_gossip_tls_rejections_total"}) {
    CHECK_MESSAGE(used_by_rules.count(n), "no rule reads " << n);
    CHECK_MESSAGE(used_by_dashboard.count(n), "no dashboard panel reads " << n);
  }
}

TEST_CASE("a real prometheus fires the quorum alert after two of three members are killed") {
  const auto t0 = std::chrono::steady_clock::now();
  ProcessCluster c(3, 150);
  c.start_all();
  INFO(c.logs());
  REQUIRE(c.wait_converged(30s));

  std::string rules = with_short_for(kRules);
  {
    // Only `for:` changed: the quorum alert's expression is the shipped one.
    YAML::Node shipped = YAML::LoadFile(kRules), loaded = YAML::Load(rules);
    for (size_t g = 0; g < shipped["groups"].size(); ++g) {
      for (size_t r = 0; r < shipped["groups"][g]["rules"].size(); ++r) {
        YAML::Node a = shipped["groups"][g]["rules"][r], b = loaded["groups"][g]["rules"][r];
        json ja = to_json(a), jb = to_json(b);
        if (ja.contains("for")) ja["for"] = kTestFor;
        CHECK(ja == jb);
      }
    }
  }
  std::vector<std::string> targets;
  for (int i = 0; i < 3; ++i) {
    targets.push_back(c.ip(i) + ":" + std::to_string(adversarial::kHttpPort));
  }
  PrometheusServer prom(c.dir() + "/prometheus", "127.0.150.100", rules, targets);
  INFO(prom.log());
  REQUIRE_MESSAGE(eventually([&] { return prom.ready(); }, 20s), "prometheus never became ready");

  // All three scraped and seen with a quorum.
  REQUIRE(eventually([&] { return prom.query("esk8s_quorum == 1").size() == 3; }, 20s));
  // Every rule evaluated at least once on real data, without an error.
  REQUIRE(eventually(
      [&] {
        json j = prom.api("/api/v1/rules");
        if (!j.is_object()) return false;
        size_t ok = 0;
        for (const auto& g : j["data"]["groups"]) {
          for (const auto& r : g["rules"]) ok += r.value("health", "") == "ok";
        }
        return ok == rule_exprs().size();
      },
      10s));
  // Every dashboard query is PromQL this server accepts.
  for (const auto& e : dashboard_exprs()) {
    json j = prom.api("/api/v1/query", {{"query", as_promql(e)}});
    CHECK_MESSAGE(j.value("status", "") == "success", "dashboard query refused: " << e << " -> "
                                                                                   << j.dump());
  }
  // Silent while all live, for longer than the test `for:` (2 s) plus evaluations.
  std::this_thread::sleep_for(4s);
  CHECK(prom.alerts("Esk8sQuorumLost").empty());
  CHECK(prom.alerts("Esk8sMemberDown").empty());

  c.stop(1, SIGKILL);
  c.stop(2, SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  const std::string survivor = targets[0];
  bool fired = eventually(
      [&] {
        auto a = prom.alerts("Esk8sQuorumLost");
        return a.size() == 1 && a.count(survivor) && a[survivor] == "firing";
      },
      40s);
  const auto since = [](auto start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  MESSAGE("Esk8sQuorumLost firing " << since(killed) << " s after the kills; test " << since(t0)
                                    << " s so far");
  CHECK_MESSAGE(fired, "Esk8sQuorumLost did not fire for " << survivor);
  CHECK(c.metric(0, "esk8s_quorum") == 0.0);
  // The survivor also sees two members missing.
  CHECK(eventually([&] { return prom.alerts("Esk8sMemberDown")[survivor] == "firing"; }, 10s));
}

}  // namespace
}  // namespace esk8s::monitoring
