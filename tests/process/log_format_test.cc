// esk8s-node --log-format json, as a log pipeline reads it: every line the process writes, on
// stdout and stderr, from start to a SIGTERM stop and on a failed init, is one JSON object with
// time (RFC 3339), level, component, message and fields; hostile bytes in its configuration
// (an ESK8S_* variable named with a newline, quotes, an escape sequence and invalid UTF-8) come
// out escaped inside one record, never as a line of their own or as invalid JSON.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/escape.h"
#include "tls/x509.h"

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// What a hostile deployment could put into a variable name (anything but '=' and NUL).
const std::string kHostileName =
    "ESK8S_X\"}\n{\"level\":\"error\",\"message\":\"forged\"}\x1b[31m\xff\xfe\\";

struct Run {
  std::string dir;
  std::string log;
  pid_t pid = -1;
};

// Starts esk8s-node with `args` and `env`, stdout and stderr into one file.
Run start_node(const std::vector<std::string>& args, std::vector<std::string> env) {
  Run r;
  std::string tmpl = (fs::temp_directory_path() / "esk8s-logjson-XXXXXX").string();
  r.dir = mkdtemp(tmpl.data());
  r.log = r.dir + "/out.log";
  env.push_back("PATH=/usr/bin:/bin");
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(r.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::string bin = ESK8S_NODE_BIN;
    std::vector<char*> argv{bin.data()};
    std::vector<std::string> a = args;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    execve(bin.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  r.pid = pid;
  return r;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Waits (bounded) for the process to exit; its exit code, or -1 when it had to be killed.
int wait_exit(pid_t pid, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(50ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// Every line of `out` parsed strictly (nlohmann rejects raw control characters and ill-formed
// UTF-8 in strings), each checked for the record's shape.
std::vector<json> parse_every_line(const std::string& out) {
  INFO(out);
  REQUIRE(!out.empty());
  REQUIRE(out.back() == '\n');
  static const std::regex kRfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  static const std::set<std::string> kLevels{"trace", "debug", "info", "warn", "error"};
  std::vector<json> records;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    std::string line = out.substr(start, end - start);
    start = end + 1;
    INFO("line: " << line);
    json j;
    REQUIRE_NOTHROW(j = json::parse(line));
    REQUIRE(j.is_object());
    CHECK(j.size() == 5);
    REQUIRE(j["time"].is_string());
    CHECK(std::regex_match(j["time"].get<std::string>(), kRfc3339));
    REQUIRE(j["level"].is_string());
    CHECK(kLevels.contains(j["level"].get<std::string>()));
    REQUIRE(j["component"].is_string());
    CHECK(!j["component"].get<std::string>().empty());
    REQUIRE(j["message"].is_string());
    REQUIRE(j["fields"].is_object());
    for (const auto& [k, v] : j["fields"].items()) CHECK(v.is_string());
    records.push_back(std::move(j));
  }
  return records;
}

const json* find_message(const std::vector<json>& records, const std::string& message) {
  for (const auto& r : records) {
    if (r["message"] == message) return &r;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("log format: esk8s-node --log-format=json writes only JSON lines from start to stop") {
  std::string tmpl = (fs::temp_directory_path() / "esk8s-logjson-ca-XXXXXX").string();
  std::string ca = mkdtemp(tmpl.data());
  auto ca_pair = esk8s::tls::make_self_signed_ca("esk8s log test CA",
                                                 esk8s::tls::KeyType::kEcdsaP256, 24h).value();
  std::ofstream(ca + "/ca.crt") << ca_pair.cert_pem;
  std::ofstream(ca + "/ca.key") << ca_pair.key_pem;
  fs::permissions(ca + "/ca.key", fs::perms::owner_read | fs::perms::owner_write);
  const std::string ip = "127.93.17.1";
  const std::string id = "esdb-0.esdb.logs.svc.cluster.local";
  Run r = start_node({"--log-format=json"},
                     {"ESK8S_SERVICE=esdb", "ESK8S_NAMESPACE=logs", "ESK8S_POD_NAME=esdb-0",
                      "ESK8S_CLUSTER_DOMAIN=cluster.local", "ESK8S_DISCOVERY=static",
                      "ESK8S_STATIC_PEERS=" + id + "=" + ip + ":2114," +
                          "esdb-1.esdb.logs.svc.cluster.local=127.93.17.2:2114",
                      "ESK8S_BIND_ADDRESS=" + ip, "ESK8S_HTTP_PORT=0", "ESK8S_HTTPS_PORT=off",
                      "ESK8S_PRESET=local", "ESK8S_TLS_CA_DIR=" + ca, kHostileName + "=v\nw"});
  // Up and a membership snapshot printed (bounded), then a graceful stop.
  auto end = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < end &&
         read_all(r.log).find("\"membership changed\"") == std::string::npos) {
    std::this_thread::sleep_for(100ms);
  }
  kill(r.pid, SIGTERM);
  int code = wait_exit(r.pid, 20s);
  const std::string out = read_all(r.log);
  fs::remove_all(r.dir);
  fs::remove_all(ca);
  INFO(out);
  REQUIRE(code == 0);

  std::vector<json> records = parse_every_line(out);
  CHECK(records.size() >= 6);
  const json* loaded = find_message(records, "loaded the plugin");
  REQUIRE(loaded);
  CHECK((*loaded)["component"] == "esk8s-node");
  CHECK((*loaded)["fields"]["version"].get<std::string>().size() > 0);
  const json* members = find_message(records, "membership changed");
  REQUIRE(members);
  CHECK((*members)["fields"]["count"] == "2");
  CHECK(find_message(records, "configuration accepted"));  // the plugin's own record
  const json* stopping = find_message(records, "stopping");
  REQUIRE(stopping);
  CHECK((*stopping)["fields"]["signal"] == "SIGTERM");
  CHECK(records.back()["message"] == "stopped");

  // The hostile name: one warning, escaped as the text format shows it; no forged record.
  const json* warning = nullptr;
  for (const auto& rec : records) {
    if (rec["level"] == "warn" &&
        rec["message"].get<std::string>().find(esk8s::escape_untrusted(kHostileName)) !=
            std::string::npos) {
      warning = &rec;
    }
    CHECK(rec["message"] != "forged");
  }
  CHECK(warning);
}

TEST_CASE("log format: a failed init is a JSON error record, and a bad format is refused") {
  Run r = start_node({"--log-format", "json"},
                     {"ESK8S_SERVICE=esdb", "ESK8S_DISCOVERY=static",
                      "ESK8S_PRESET=\"fast\"\n{\"x\":1}\xff", "ESK8S_HTTP_PORT=0"});
  int code = wait_exit(r.pid, 20s);
  const std::string out = read_all(r.log);
  fs::remove_all(r.dir);
  INFO(out);
  CHECK(code == 1);
  std::vector<json> records = parse_every_line(out);
  const json* failed = find_message(records, "plugin init failed");
  REQUIRE(failed);
  CHECK((*failed)["level"] == "error");
  const std::string error = (*failed)["fields"]["error"];
  CHECK(error.find("ESK8S_PRESET") != std::string::npos);
  CHECK(error.find('\n') == std::string::npos);

  Run bad = start_node({"--log-format=xml"}, {});
  CHECK(wait_exit(bad.pid, 10s) == 2);
  const std::string usage = read_all(bad.log);
  fs::remove_all(bad.dir);
  CHECK(usage.find("--log-format needs \"text\" or \"json\"") != std::string::npos);
}
