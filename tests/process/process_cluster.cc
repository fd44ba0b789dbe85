#include "tests/process/process_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/unit/test_util.h"
#include "tls/x509.h"

namespace esk8s::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path) << content;
  ::chmod(path.c_str(), mode);
}

std::string read_whole(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string key_of(const std::string& kv) { return kv.substr(0, kv.find('=')); }

// `base` with every KEY=... in `overrides` replacing the same key (or appended).
std::vector<std::string> merge_env(std::vector<std::string> base,
                                   const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    bool replaced = false;
    for (auto& b : base) {
      if (key_of(b) == key_of(o)) {
        b = o;
        replaced = true;
      }
    }
    if (!replaced) base.push_back(o);
  }
  return base;
}

tls::CertAndKey load_ca(const std::string& ca_dir) {
  return {read_whole(ca_dir + "/ca.crt"), read_whole(ca_dir + "/ca.key")};
}

Credential leaf(const tls::CertAndKey& ca, const std::string& identity) {
  tls::CertSpec spec;
  spec.common_name = identity;
  spec.dns_names = {identity};
  auto issued = tls::issue(spec, ca);
  if (!issued.is_ok()) throw std::runtime_error("process cluster: cannot issue: " + issued.status().message());
  return {issued.value().cert_pem, issued.value().key_pem};
}

// Remaining time until `deadline` in ms for poll(), at least 0.
int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}
}  // namespace

bool wait_fd(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  int r = ::poll(&p, 1, remaining_ms(deadline));
  return r > 0;
}

std::string member_identity(int i) {
  return "esdb-" + std::to_string(i) + ".esdb.prod.svc.cluster.local";
}

// ---- ProcessCluster ---------------------------------------------------------------------------

std::string make_ca_dir(const std::string& dir, const std::string& name) {
  fs::create_directories(dir);
  auto ca = tls::make_self_signed_ca(name, tls::KeyType::kEcdsaP256, 24h * 30);
  if (!ca.is_ok()) throw std::runtime_error("process cluster: cannot make a CA: " + ca.status().message());
  write_file(dir + "/ca.crt", ca.value().cert_pem, 0644);
  write_file(dir + "/ca.key", ca.value().key_pem, 0600);
  return dir;
}

std::map<std::string, std::string> all_alive(int n) {
  std::map<std::string, std::string> m;
  for (int i = 0; i < n; ++i) m[member_identity(i)] = "alive";
  return m;
}

ProcessCluster::ProcessCluster(int size, int subnet, std::vector<std::string> extra_env,
                               int first_host)
    : size_(size), subnet_(subnet), first_host_(first_host), extra_env_(std::move(extra_env)) {
  std::string tmpl = (fs::temp_directory_path() / "esk8s-processes-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("process cluster: mkdtemp failed");
  dir_ = tmpl;
  ca_dir_ = make_ca_dir(dir_ + "/ca", "esk8s test CA");
  for (int i = 0; i < size; ++i) {
    ips_.push_back(address(i));
    pids_.push_back(-1);
  }
}

ProcessCluster::~ProcessCluster() {
  for (int i = 0; i < static_cast<int>(pids_.size()); ++i) stop(i, SIGKILL);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string ProcessCluster::address(int host) const {
  return "127.0." + std::to_string(subnet_) + "." + std::to_string(first_host_ + host);
}

int ProcessCluster::add_outsider() {
  ips_.push_back(address(static_cast<int>(ips_.size())));
  pids_.push_back(-1);
  return static_cast<int>(ips_.size()) - 1;
}

std::vector<std::string> ProcessCluster::base_env(int i) const {
  std::string peers;
  for (int j = 0; j < size(); ++j) {
    peers += (peers.empty() ? "" : ",") + member_identity(j) + "=" + address(j) + ":" +
             std::to_string(kGossipPort);
  }
  std::vector<std::string> env = {
      "ESK8S_SERVICE=esdb",
      "ESK8S_NAMESPACE=prod",
      "ESK8S_POD_NAME=esdb-" + std::to_string(i),
      "ESK8S_CLUSTER_DOMAIN=cluster.local",
      "ESK8S_CLUSTER_SIZE=" + std::to_string(size()),
      "ESK8S_DISCOVERY=static",
      "ESK8S_STATIC_PEERS=" + peers,
      "ESK8S_BIND_ADDRESS=" + ip(i),
      "ESK8S_GOSSIP_PORT=" + std::to_string(kGossipPort),
      "ESK8S_HTTP_PORT=" + std::to_string(kHttpPort),
      "ESK8S_PRESET=local",
      "ESK8S_TLS_MODE=local-ca",
      "ESK8S_TLS_CA_DIR=" + ca_dir_,
      "ESK8S_TLS_OUT_DIR=" + dir_ + "/tls-" + std::to_string(i),
      "PATH=/usr/bin:/bin",
      // Under AddressSanitizer freed memory sits in a quarantine (256 MB by default) and counts
      // in the RSS; a small one keeps the attack tests' RSS ceilings about live memory.
      // Uninstrumented nodes ignore it.
      "ASAN_OPTIONS=quarantine_size_mb=16",
  };
  return merge_env(std::move(env), extra_env_);
}

void ProcessCluster::start_all() {
  for (int i = 0; i < size(); ++i) start(i);
}

void ProcessCluster::start(int i, std::vector<std::string> env_override) {
  stop(i, SIGKILL);
  std::vector<std::string> env = merge_env(base_env(i), env_override);
  std::string log_path = dir_ + "/node-" + std::to_string(i) + ".log";
  std::string bin = ESK8S_NODE_BIN;
  std::vector<std::string> args = args_[i];
  std::vector<char*> argv = {bin.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("process cluster: fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    if (::getppid() != parent) ::_exit(1);  // it died before the line above
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(bin.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  pids_.at(static_cast<size_t>(i)) = pid;
  exits_.erase(i);
}

void ProcessCluster::stop(int i, int sig) {
  pid_t& pid = pids_.at(static_cast<size_t>(i));
  if (pid <= 0) return;
  ::kill(pid, sig);
  int status = 0;
  if (sig != SIGKILL) {
    auto end = Clock::now() + 10s;
    while (Clock::now() < end && ::waitpid(pid, &status, WNOHANG) == 0) {
      std::this_thread::sleep_for(20ms);
    }
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  } else {
    ::waitpid(pid, &status, 0);
  }
  pid = -1;
}

bool ProcessCluster::running(int i) {
  pid_t& pid = pids_.at(static_cast<size_t>(i));
  if (pid <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return true;
  std::string what;
  if (WIFEXITED(status)) {
    what = "exited with status " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    what = std::string("killed by signal ") + strsignal(WTERMSIG(status));
  } else {
    what = "gone";
  }
  exits_[i] = what;
  pid = -1;
  return false;
}

std::string ProcessCluster::exit_description(int i) {
  running(i);
  auto it = exits_.find(i);
  return it == exits_.end() ? "running" : it->second;
}

bool ProcessCluster::wait_converged(std::chrono::milliseconds limit) {
  const auto expected = all_alive(size());
  return eventually([&] { return all_see(expected); }, limit);
}

bool ProcessCluster::all_see(const std::map<std::string, std::string>& expected) const {
  for (int i = 0; i < size(); ++i) {
    if (pids_[static_cast<size_t>(i)] <= 0) continue;
    auto v = view(i);
    for (const auto& [id, state] : expected) {
      auto it = v.find(id);
      if (it == v.end() || it->second.value("state", "") != state) return false;
    }
  }
  return true;
}

nlohmann::json ProcessCluster::members(int i) const {
  std::string raw = http_raw(ip(i), kHttpPort,
                             "GET /members HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2s);
  auto body = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) return nullptr;
  auto j = nlohmann::json::parse(raw.substr(body + 4), nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::map<std::string, nlohmann::json> ProcessCluster::view(int i) const {
  std::map<std::string, nlohmann::json> out;
  nlohmann::json m = members(i);
  if (!m.is_object()) return out;
  for (const auto& row : m.value("members", nlohmann::json::array())) {
    out[row.value("identity", "")] = row;
  }
  return out;
}

std::string ProcessCluster::metrics(int i) const {
  std::string raw = http_raw(ip(i), kHttpPort,
                             "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2s);
  auto body = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) return "";
  return raw.substr(body + 4);
}

std::optional<double> ProcessCluster::metric(int i, std::string_view series) const {
  std::istringstream in(metrics(i));
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

double ProcessCluster::metric_sum(int i, std::string_view family) const {
  std::istringstream in(metrics(i));
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.compare(0, family.size(), family) != 0) continue;
    char next = line.size() > family.size() ? line[family.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    auto sp = line.rfind(' ');
    if (sp != std::string::npos) sum += std::stod(line.substr(sp + 1));
  }
  return sum;
}

long ProcessCluster::rss_kib(int i) const {
  pid_t pid = pids_.at(static_cast<size_t>(i));
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

std::string ProcessCluster::log(int i, size_t max_bytes) const {
  std::string all = read_whole(dir_ + "/node-" + std::to_string(i) + ".log");
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

std::string ProcessCluster::logs() const {
  std::string all;
  for (int i = 0; i < static_cast<int>(ips_.size()); ++i) {
    all += "--- node " + std::to_string(i) + " (" + ip(i) + ")\n" + log(i, 8000);
  }
  return all;
}

// ---- credentials ------------------------------------------------------------------------------

Credential issue_member_cert(const std::string& ca_dir, const std::string& identity) {
  return leaf(load_ca(ca_dir), identity);
}

Credential foreign_member_cert(const std::string& identity) {
  auto ca = tls::make_self_signed_ca("foreign CA", tls::KeyType::kEcdsaP256, 24h);
  if (!ca.is_ok()) throw std::runtime_error("process cluster: cannot make a CA");
  return leaf(ca.value(), identity);
}

// ---- sockets ----------------------------------------------------------------------------------

int tcp_connect(const std::string& ip, uint16_t port, std::chrono::milliseconds timeout) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  auto deadline = Clock::now() + timeout;
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (r != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  if (r != 0) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!wait_fd(fd, POLLOUT, deadline) ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd);
      return -1;
    }
  }
  // Back to blocking with timeouts, which is what the tests' simple loops want.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

std::string http_raw(const std::string& ip, uint16_t port, std::string_view raw,
                     std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int fd = tcp_connect(ip, port, timeout);
  if (fd < 0) return "";
  size_t off = 0;
  while (off < raw.size()) {
    ssize_t n = ::send(fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string out;
  char buf[16384];
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  while (Clock::now() < deadline && out.size() < (64u << 20)) {
    if (!wait_fd(fd, POLLIN, deadline)) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

int http_status(const std::string& ip, uint16_t port, const std::string& path,
                std::chrono::milliseconds timeout) {
  std::string raw = http_raw(
      ip, port, "GET " + path + " HTTP/1.1\r\nHost: " + ip + "\r\nConnection: close\r\n\r\n",
      timeout);
  // Complete means: a status line, the head, and the whole body the head announces.
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return -1;
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return -1;
  std::string head = raw.substr(0, head_end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto cl = head.find("content-length:");
  if (cl != std::string::npos) {
    size_t want = std::stoul(head.substr(cl + 15));
    if (raw.size() - head_end - 4 < want) return -1;
  }
  return std::stoi(raw.substr(9, 3));
}

}  // namespace esk8s::test
