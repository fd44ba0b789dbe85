#include "kube/exec_credential.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/rfc3339.h"

extern char** environ;

namespace esk8s::kube {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

// At most `n` characters of `s` with control characters replaced, for quoting output in errors.
std::string excerpt(std::string_view s, size_t n) {
  std::string out;
  for (char c : s.substr(0, n)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  if (s.size() > n) out += "...";
  return out;
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Kills the child's process group (it runs in its own) and reaps the child.
void kill_and_reap(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

ProcessOutcome run_process(const ProcessSpec& spec) {
  ProcessOutcome outcome;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    outcome.error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return outcome;
  }
  Fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

  // The environment: inherited, minus what spec.env replaces, plus spec.env.
  std::set<std::string> replaced;
  for (const auto& [name, value] : spec.env) replaced.insert(name);
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    const std::string name(entry.substr(0, entry.find('=')));
    if (!replaced.count(name)) env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : spec.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::vector<std::string> arg_strings;
  arg_strings.push_back(spec.program);
  arg_strings.insert(arg_strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (std::string& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  if (spec.stderr_fd != 2) posix_spawn_file_actions_adddup2(&actions, spec.stderr_fd, 2);
  // Its own process group (so a timeout kills its children too), no blocked signals, and
  // SIGPIPE back to the default in case the host ignores it.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const bool search_path = spec.program.find('/') == std::string::npos;
  int rc = search_path
               ? posix_spawnp(&pid, spec.program.c_str(), &actions, &attr, argv.data(), envp.data())
               : posix_spawn(&pid, spec.program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  write_end.reset();
  if (rc != 0) {
    outcome.kind = rc == ENOENT    ? ProcessOutcome::Kind::kNotFound
                   : rc == EACCES || rc == ENOEXEC || rc == EISDIR
                       ? ProcessOutcome::Kind::kNotExecutable
                       : ProcessOutcome::Kind::kFailed;
    outcome.error = std::strerror(rc);
    return outcome;
  }

  const auto deadline = Clock::now() + spec.timeout;
  auto stop = [&](ProcessOutcome::Kind kind) {
    kill_and_reap(pid);
    outcome.kind = kind;
    return outcome;
  };
  char buf[16384];
  bool eof = false;
  while (!eof) {
    if (spec.cancelled && spec.cancelled->load()) return stop(ProcessOutcome::Kind::kCancelled);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return stop(ProcessOutcome::Kind::kTimedOut);
    pollfd p{read_end.get(), POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (n < 0 && errno != EINTR) {
      outcome.error = std::string("poll: ") + std::strerror(errno);
      return stop(ProcessOutcome::Kind::kFailed);
    }
    if (n <= 0) continue;
    ssize_t got = read(read_end.get(), buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      outcome.error = std::string("read: ") + std::strerror(errno);
      return stop(ProcessOutcome::Kind::kFailed);
    }
    if (got == 0) {
      eof = true;
      break;
    }
    if (outcome.out.size() + static_cast<size_t>(got) > spec.max_output) {
      outcome.out.append(buf, spec.max_output - outcome.out.size());
      return stop(ProcessOutcome::Kind::kOutputTooLarge);
    }
    outcome.out.append(buf, static_cast<size_t>(got));
  }
  // Stdout is closed; the process still has until the deadline to exit.
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      if (WIFEXITED(status)) {
        outcome.kind = ProcessOutcome::Kind::kExited;
        outcome.exit_code = WEXITSTATUS(status);
      } else {
        outcome.kind = ProcessOutcome::Kind::kSignaled;
        outcome.exit_code = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
      }
      return outcome;
    }
    if (w < 0 && errno != EINTR) {
      // ECHILD: the host reaps children itself (SIGCHLD ignored); the status is unknown.
      outcome.kind = ProcessOutcome::Kind::kExited;
      outcome.exit_code = 0;
      return outcome;
    }
    if (spec.cancelled && spec.cancelled->load()) return stop(ProcessOutcome::Kind::kCancelled);
    if (Clock::now() >= deadline) return stop(ProcessOutcome::Kind::kTimedOut);
    usleep(5000);
  }
}

std::string exec_credential_request(const ExecConfig& exec, const ExecClusterInfo* cluster) {
  json spec = {{"interactive", false}};
  if (cluster) {
    json c = {{"server", cluster->server}};
    if (!cluster->ca_pem.empty()) c["certificate-authority-data"] = base64_encode(cluster->ca_pem);
    spec["cluster"] = std::move(c);
  }
  json req = {{"apiVersion", exec.api_version}, {"kind", "ExecCredential"}, {"spec", spec}};
  return req.dump();
}

Result<ExecCredential> parse_exec_credential(std::string_view out, const ExecConfig& exec) {
  const std::string who = exec.origin + ": exec plugin " + in_quotes(exec.command);
  auto bad = [&](const std::string& why) {
    return Status::config(who + " " + why +
                          "; run the command by hand to see what it prints (it must print an "
                          "ExecCredential JSON object on stdout)");
  };
  json doc = json::parse(out.begin(), out.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    if (out.find_first_not_of(" \t\r\n") == std::string_view::npos) return bad("printed nothing");
    return bad("printed something that is not JSON: \"" + excerpt(out, 80) + "\"");
  }
  // obj[key] as a string ("" when absent or null); nullopt when it is not a string.
  auto str = [](const json& obj, const char* key) -> std::optional<std::string> {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::string();
    if (!it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto kind = str(doc, "kind");
  auto api_version = str(doc, "apiVersion");
  if (!kind || *kind != "ExecCredential") {
    return bad("printed JSON whose kind is not ExecCredential");
  }
  if (!api_version || *api_version != exec.api_version) {
    return bad("answered with apiVersion " + in_quotes(api_version ? *api_version : "?") +
               " but the kubeconfig asks for " + in_quotes(exec.api_version) +
               " (set exec.apiVersion to what the plugin speaks)");
  }
  auto status = doc.find("status");
  if (status == doc.end() || !status->is_object()) {
    return bad("printed an ExecCredential without status");
  }
  auto token = str(*status, "token");
  auto cert = str(*status, "clientCertificateData");
  auto key = str(*status, "clientKeyData");
  auto expiry = str(*status, "expirationTimestamp");
  if (!token || !cert || !key || !expiry) return bad("printed a status field that is not a string");
  ExecCredential c;
  c.token = std::move(*token);
  c.client_cert_pem = std::move(*cert);
  c.client_key_pem = std::move(*key);
  if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
    return bad("returned a client certificate without a key, or a key without a certificate");
  }
  if (!c.client_cert_pem.empty() && (c.client_cert_pem.find("-----BEGIN") == std::string::npos ||
                                     c.client_key_pem.find("-----BEGIN") == std::string::npos)) {
    return bad("returned clientCertificateData/clientKeyData that are not PEM");
  }
  if (c.token.empty() && c.client_cert_pem.empty()) {
    return bad("returned neither a token nor a client certificate and key");
  }
  if (!expiry->empty()) {
    c.expiry = parse_rfc3339(*expiry);
    if (!c.expiry) {
      return bad("returned expirationTimestamp " + in_quotes(excerpt(*expiry, 40)) +
                 ", which is not an RFC 3339 time");
    }
  }
  return c;
}

ExecCredentialProvider::ExecCredentialProvider(ExecConfig exec, ExecClusterInfo cluster,
                                               ExecCredentialOptions options)
    : exec_(std::move(exec)), cluster_(std::move(cluster)), options_(std::move(options)) {}

Result<ExecCredential> ExecCredentialProvider::get() {
  std::lock_guard lock(mu_);
  const auto now = options_.now ? options_.now() : std::chrono::system_clock::now();
  if (cached_ && (!cached_->expiry || now < *cached_->expiry)) return *cached_;
  cached_.reset();
  auto fresh = run();
  if (fresh.is_ok()) cached_ = fresh.value();
  return fresh;
}

void ExecCredentialProvider::invalidate(const ExecCredential& used) {
  std::lock_guard lock(mu_);
  if (cached_ && cached_->token == used.token && cached_->client_cert_pem == used.client_cert_pem &&
      cached_->client_key_pem == used.client_key_pem) {
    cached_.reset();
  }
}

void ExecCredentialProvider::cancel() { cancelled_ = true; }
void ExecCredentialProvider::reset_cancel() { cancelled_ = false; }

// REQUIRES: mu_ held.
Result<ExecCredential> ExecCredentialProvider::run() {
  const std::string who = exec_.origin + ": exec plugin " + in_quotes(exec_.command);
  if (cancelled_) return Status::config(who + " was not run: the client is stopping");
  ProcessSpec spec;
  spec.program = exec_.command;
  spec.args = exec_.args;
  spec.env = exec_.env;
  spec.env.emplace_back("KUBERNETES_EXEC_INFO",
                        exec_credential_request(exec_, exec_.provide_cluster_info ? &cluster_
                                                                                  : nullptr));
  spec.max_output = options_.max_output;
  spec.timeout = options_.timeout;
  spec.stderr_fd = options_.stderr_fd;
  spec.cancelled = &cancelled_;
  ++runs_;
  ProcessOutcome r = options_.runner ? options_.runner(spec) : run_process(spec);
  using Kind = ProcessOutcome::Kind;
  switch (r.kind) {
    case Kind::kExited:
      if (r.exit_code == 0) return parse_exec_credential(r.out, exec_);
      return Status::config(who + " failed with exit status " + std::to_string(r.exit_code) +
                            " (its error output is on stderr); run it by hand to fix it");
    case Kind::kSignaled:
      return Status::config(who + " was killed by signal " + std::to_string(r.exit_code));
    case Kind::kNotFound: {
      std::string hint = exec_.install_hint;
      while (!hint.empty() && (hint.back() == '\n' || hint.back() == ' ')) hint.pop_back();
      while (!hint.empty() && (hint.front() == '\n' || hint.front() == ' ')) hint.erase(0, 1);
      return Status::config(
          who + " was not found" +
          (exec_.command.find('/') == std::string::npos ? " in PATH" : "") + "; " +
          (hint.empty() ? "install it, or fix exec.command in the kubeconfig"
                        : "installHint: " + hint));
    }
    case Kind::kNotExecutable:
      return Status::config(who + " cannot be executed (" + r.error + ")");
    case Kind::kTimedOut:
      return Status::config(who + " did not finish within " +
                            std::to_string(options_.timeout.count()) +
                            " ms and was killed; is it waiting for a login or a prompt? Run it "
                            "by hand once");
    case Kind::kOutputTooLarge:
      return Status::config(who + " printed more than " + std::to_string(options_.max_output) +
                            " bytes and was killed");
    case Kind::kCancelled:
      return Status::config(who + " was stopped: the client is stopping");
    case Kind::kFailed:
      break;
  }
  return Status::config(who + " could not be run: " + r.error);
}

}  // namespace esk8s::kube
