#include "tests/cluster/cluster_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include <httplib.h>

#include "tests/unit/test_util.h"

namespace esk8s::testcluster {

using namespace std::chrono_literals;

ClusterProcess::ClusterProcess(const std::vector<std::string>& args) {
  if (access(ESK8S_CLUSTER_BIN, X_OK) != 0) {
    throw std::runtime_error("esk8s-cluster is not built at " ESK8S_CLUSTER_BIN
                             ": run scripts/setup (it builds tests/cluster with Go)");
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "esk8s-cluster-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  dir_ = tmpl;
  const std::string state = state_dir();
  log_ = dir_ + "/cluster.log";
  kubeconfig_ = state + "/kubeconfig";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    std::vector<std::string> argv_s = {ESK8S_CLUSTER_BIN, "--state-dir", state};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(ESK8S_CLUSTER_BIN, argv.data());
    _exit(127);
  }
  const auto end = std::chrono::steady_clock::now() + 240s;
  bool exited = false;
  while (server_.empty() && !exited && std::chrono::steady_clock::now() < end) {
    std::ifstream in(log_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("esk8s-cluster: ready https://", 0) == 0) server_ = line.substr(21);
    }
    if (server_.empty()) {
      exited = waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (exited) pid_ = -1;
      std::this_thread::sleep_for(100ms);
    }
  }
  if (server_.empty()) {
    const std::string tail = log_tail();
    stop();
    throw std::runtime_error(std::string("esk8s-cluster ") +
                             (exited ? "exited before it was ready" : "not ready after 240 s") +
                             "; its last lines:\n" + tail);
  }
  host_ = server_.substr(8, server_.rfind(':') - 8);
  port_ = std::stoi(server_.substr(server_.rfind(':') + 1));
  std::ifstream tokens(state + "/tokens.csv");  // token,user,uid,"groups"
  std::string line;
  while (std::getline(tokens, line)) {
    if (line.find(",admin,") != std::string::npos) token_ = line.substr(0, line.find(','));
  }
  if (token_.empty()) {
    stop();
    throw std::runtime_error("no admin token in " + state + "/tokens.csv");
  }
}

ClusterProcess::~ClusterProcess() {
  stop();
  if (getenv("ESK8S_TEST_KEEP")) {
    std::cerr << "kept " << dir_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void ClusterProcess::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (waitpid(pid_, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > end) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  pid_ = -1;
}

std::string ClusterProcess::log_tail(size_t lines) const {
  std::ifstream in(log_);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

int ClusterProcess::kubectl(const std::string& args, std::string* out) const {
  auto r = test::run_command("kubectl --kubeconfig " + kubeconfig_ + " " + args);
  if (out) *out = r.out;
  return r.rc;
}

ApiReply ClusterProcess::api(const std::string& method, const std::string& path,
                             const std::string& body, const std::string& token,
                             const std::string& content_type) const {
  httplib::SSLClient cli(host_, port_);
  cli.set_ca_cert_path(ca_file().c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_bearer_token_auth(token.empty() ? token_ : token);
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(10, 0);
  const std::string type = !content_type.empty() ? content_type
                           : method == "PATCH"   ? "application/merge-patch+json"
                                                 : "application/json";
  auto send = [&]() -> httplib::Result {
    if (method == "GET") return cli.Get(path);
    if (method == "POST") return cli.Post(path, body, type);
    if (method == "PUT") return cli.Put(path, body, type);
    if (method == "PATCH") return cli.Patch(path, body, type);
    if (method == "DELETE") return cli.Delete(path, body, type);
    throw std::invalid_argument("ClusterProcess::api: unsupported method " + method);
  };
  httplib::Result r = send();
  if (!r) return {};
  return {r->status, r->body};
}

nlohmann::json ClusterProcess::api_get(const std::string& path) const {
  ApiReply r = api("GET", path);
  if (r.status != 200) return nullptr;
  return nlohmann::json::parse(r.body, nullptr, false);
}

}  // namespace esk8s::testcluster
