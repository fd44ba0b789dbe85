#include "tests/kubesim/kubelet.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <httplib.h>

#include "tests/kubesim/base64.h"
#include "tests/kubesim/rbac.h"

extern char** environ;

namespace kubesim {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string base64_decode_or_empty(const std::string& in) { return base64_decode(in).value_or(""); }

// Kubernetes' $(VAR) expansion in env values, command and args.
std::string expand(const std::string& s, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      out.push_back('$');
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      size_t close = s.find(')', i + 2);
      if (close == std::string::npos) {
        out.append(s.substr(i));
        break;
      }
      std::string name = s.substr(i + 2, close - i - 2);
      auto it = env.find(name);
      out.append(it != env.end() ? it->second : "$(" + name + ")");
      i = close;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct ProbeSpec {
  bool present = false;
  std::string path = "/";
  std::string host;
  int port = 0;
  std::chrono::milliseconds initial_delay{0}, period{10000}, timeout{1000};
  int success_threshold = 1, failure_threshold = 3;
};

ProbeSpec parse_probe(const json& container, const char* field) {
  ProbeSpec p;
  if (!container.contains(field) || !container[field].is_object()) return p;
  const json& j = container[field];
  if (!j.contains("httpGet")) return p;
  const json& h = j["httpGet"];
  p.present = true;
  p.path = h.value("path", "/");
  p.host = h.value("host", "");
  if (h.contains("port") && h["port"].is_number_integer()) {
    p.port = h["port"].get<int>();
  } else if (h.contains("port") && h["port"].is_string()) {
    std::string name = h["port"].get<std::string>();
    for (const auto& cp : container.value("ports", json::array())) {
      if (cp.value("name", "") == name) p.port = cp.value("containerPort", 0);
    }
    if (p.port == 0) p.port = std::atoi(name.c_str());
  }
  p.initial_delay = std::chrono::seconds(j.value("initialDelaySeconds", 0));
  p.period = std::chrono::seconds(std::max(1, j.value("periodSeconds", 10)));
  p.timeout = std::chrono::seconds(std::max(1, j.value("timeoutSeconds", 1)));
  p.success_threshold = std::max(1, j.value("successThreshold", 1));
  p.failure_threshold = std::max(1, j.value("failureThreshold", 3));
  return p;
}

std::string find_executable(const std::string& cmd, const std::vector<std::string>& path) {
  if (cmd.find('/') != std::string::npos) return cmd;
  std::vector<std::string> dirs = path;
  if (const char* p = std::getenv("PATH")) {
    std::string all = p;
    size_t start = 0;
    while (start <= all.size()) {
      size_t colon = all.find(':', start);
      dirs.push_back(
          all.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  for (const auto& d : dirs) {
    std::string candidate = d + "/" + cmd;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// fork/exec with a clean signal mask, a new process group, stdout+stderr to `log`, and no
// inherited descriptors. Everything is prepared before fork (the child only calls
// async-signal-safe functions).
pid_t spawn(const std::string& exe, const std::vector<std::string>& argv,
            const std::vector<std::string>& env, const std::string& log) {
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  sigset_t empty;
  sigemptyset(&empty);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // If kubesim dies (even by SIGKILL) its pods die with it instead of lingering.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    for (int i = 3; i < 4096; ++i) close(i);
    execve(exe.c_str(), av.data(), ev.data());
    _exit(127);
  }
  close(fd);
  if (pid > 0) setpgid(pid, pid);
  return pid;
}

json condition(const std::string& type, bool status, const std::string& since) {
  return {{"type", type},
          {"status", status ? "True" : "False"},
          {"lastProbeTime", nullptr},
          {"lastTransitionTime", since}};
}

}  // namespace

struct Kubelet::PodProcess {
  std::string uid, ns, name, ip, node, dir, sa;
  json pod;        // the object when started
  json container;  // spec.containers[0]
  std::string exe;
  std::vector<std::string> argv, env;
  std::string restart_policy = "Always";

  std::mutex mu;  // guards everything below
  pid_t pid = -1;
  int restart_count = 0;
  int last_exit_code = 0;
  bool started = false;  // startup probe passed (or there is none)
  bool ready = false;
  bool terminating = false;
  bool removed = false;
  bool crashloop = false;
  std::string error;  // why the container cannot run
  std::string start_time, container_started_at, ready_since, started_since;
  Clock::time_point process_started{};
  Clock::time_point next_restart{};
  int backoff_seconds = 1;
  uint64_t process_generation = 0;  // bumps on every (re)start; probes reset on change
  std::string token;
  Clock::time_point token_minted{};
  json last_status;

  std::atomic<bool> stop{false};
  std::thread prober;
  std::thread terminator;
};

Kubelet::Kubelet(KubeletOptions opts, Store& store, ResourceRegistry& registry, Authenticator& auth)
    : opts_(std::move(opts)), store_(store), registry_(registry), auth_(auth) {
  pods_ = *registry_.find("", "v1", "pods");
}

Kubelet::~Kubelet() { stop(); }

void Kubelet::start() {
  if (running_.exchange(true)) return;
  auto nodes = *registry_.find("", "v1", "nodes");
  for (int i = 0; i < opts_.nodes; ++i) {
    std::string name = "kubesim-node-" + std::to_string(i);
    std::string zone = std::string("zone-") + static_cast<char>('a' + i % 3);
    json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata",
                  {{"name", name},
                   {"labels",
                    {{"kubernetes.io/hostname", name},
                     {"topology.kubernetes.io/zone", zone},
                     {"kubernetes.io/os", "linux"}}}}},
                 {"status",
                  {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
                   {"addresses",
                    {{{"type", "InternalIP"}, {"address", "10.0.0." + std::to_string(i + 1)}},
                     {{"type", "Hostname"}, {"address", name}}}}}}};
    (void)store_.create(nodes, "", node);
  }
  sync_thread_ = std::thread([this] { sync_loop(); });
}

void Kubelet::stop() {
  if (!running_.load()) return;
  // No more (re)starts; the sync thread keeps reaping while the pods stop. It must outlive the
  // processes: they were forked by it and get SIGKILL when it exits (PR_SET_PDEATHSIG).
  stopping_ = true;
  std::map<std::string, std::shared_ptr<PodProcess>> pods;
  {
    std::lock_guard lock(mu_);
    pods = pods_by_uid_;
  }
  for (auto& [uid, p] : pods) {
    p->stop = true;
    std::lock_guard lock(p->mu);
    if (p->pid > 0) kill(-p->pid, SIGTERM);
  }
  auto deadline = Clock::now() + std::chrono::seconds(2);
  for (auto& [uid, p] : pods) {
    while (true) {
      {
        std::lock_guard lock(p->mu);
        if (p->pid <= 0) break;
        if (Clock::now() > deadline) kill(-p->pid, SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (p->prober.joinable()) p->prober.join();
    if (p->terminator.joinable()) p->terminator.join();
  }
  running_ = false;
  if (sync_thread_.joinable()) sync_thread_.join();
  std::lock_guard lock(mu_);
  pods_by_uid_.clear();
}

bool Kubelet::kill_pod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  for (auto& [uid, p] : pods_by_uid_) {
    if (p->ns != ns || p->name != name) continue;
    std::lock_guard pl(p->mu);
    if (p->pid <= 0) return false;
    kill(-p->pid, SIGKILL);
    return true;
  }
  return false;
}

void Kubelet::write_token(PodProcess& p) {
  // The kubelet's atomic projected-volume update: write a new timestamped directory, then swap
  // the `..data` symlink; `token` is a symlink through `..data`.
  std::string sa_dir = p.dir + "/serviceaccount";
  std::string stamp = "..gen_" + std::to_string(Clock::now().time_since_epoch().count());
  std::filesystem::create_directories(sa_dir + "/" + stamp);
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(sa_dir + "/" + stamp + "/" + name) << content;
  };
  write("token", p.token);
  write("ca.crt", opts_.ca_pem);
  write("namespace", p.ns);
  std::string tmp = sa_dir + "/..data_tmp";
  std::filesystem::remove(tmp);
  std::filesystem::create_directory_symlink(stamp, tmp);
  std::filesystem::rename(tmp, sa_dir + "/..data");
  for (const char* f : {"token", "ca.crt", "namespace"}) {
    std::string link = sa_dir + "/" + f;
    if (!std::filesystem::is_symlink(link))
      std::filesystem::create_symlink(std::string("..data/") + f, link);
  }
  // Older generations go away (the kubelet keeps only the current one).
  for (const auto& e : std::filesystem::directory_iterator(sa_dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind("..gen_", 0) == 0 && n != stamp) std::filesystem::remove_all(e.path());
  }
}

void Kubelet::rotate_tokens() {
  std::lock_guard lock(mu_);
  for (auto& [uid, p] : pods_by_uid_) {
    std::lock_guard pl(p->mu);
    std::string old = p->token;
    p->token = auth_.mint(service_account_user(p->ns, p->sa), opts_.token_ttl);
    p->token_minted = Clock::now();
    write_token(*p);
    auth_.retire(old);
  }
}

void Kubelet::sync_loop() {
  uint64_t seen = 0;
  while (running_) {
    sync_once();
    seen = store_.wait_for_change(seen, std::chrono::milliseconds(100));
  }
}

void Kubelet::start_pod(const json& pod) {
  auto p = std::make_shared<PodProcess>();
  const json& md = pod["metadata"];
  p->uid = md.value("uid", "");
  p->ns = md.value("namespace", "");
  p->name = md.value("name", "");
  p->node = pod["spec"].value("nodeName", "");
  p->sa = pod["spec"].value("serviceAccountName", "default");
  p->pod = pod;
  p->restart_policy = pod["spec"].value("restartPolicy", "Always");
  if (pod["spec"].contains("containers") && !pod["spec"]["containers"].empty()) {
    p->container = pod["spec"]["containers"][0];
  }
  {
    std::lock_guard lock(mu_);
    // 127.<pod_network>.0.1 upwards, skipping host parts .0 and .255; never reused while
    // kubesim runs (after 65k pods it moves on to the next /16).
    uint32_t n;
    do {
      n = ++next_ip_;
    } while ((n & 0xff) == 0 || (n & 0xff) == 255);
    p->ip = "127." + std::to_string(1 + (opts_.pod_network - 1 + (n >> 16)) % 254) + "." +
            std::to_string((n >> 8) & 0xff) + "." + std::to_string(n & 0xff);
  }
  p->dir = opts_.state_dir + "/pods/" + p->ns + "_" + p->name + "_" + p->uid;
  std::filesystem::create_directories(p->dir + "/serviceaccount");
  p->token = auth_.mint(service_account_user(p->ns, p->sa), opts_.token_ttl);
  p->token_minted = Clock::now();
  write_token(*p);
  p->start_time = rfc3339_now();

  // Environment: the container's, with fieldRef/configMap/secret references resolved.
  std::map<std::string, std::string> env;
  std::vector<std::string> order;
  auto set = [&](const std::string& k, const std::string& v) {
    if (!env.count(k)) order.push_back(k);
    env[k] = v;
  };
  set("PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  set("HOSTNAME", pod["spec"].value("hostname", p->name));
  set("KUBERNETES_SERVICE_HOST", opts_.api_host);
  set("KUBERNETES_SERVICE_PORT", std::to_string(opts_.api_port));
  set("KUBERNETES_SERVICE_PORT_HTTPS", std::to_string(opts_.api_port));
  set("ESK8S_SERVICE_ACCOUNT_DIR", p->dir + "/serviceaccount");
  auto lookup = [&](const char* resource, const json& ref, std::string& out) -> bool {
    auto t = registry_.find("", "v1", resource);
    auto obj = store_.get(*t, p->ns, ref.value("name", ""));
    if (!obj.ok()) return false;
    std::string key = ref.value("key", "");
    const json& data = obj.value().value("data", json::object());
    if (!data.contains(key)) return false;
    out = std::string(resource) == "secrets" ? base64_decode_or_empty(data[key].get<std::string>())
                                             : data[key].get<std::string>();
    return true;
  };
  for (const auto& ef : p->container.value("envFrom", json::array())) {
    std::string prefix = ef.value("prefix", "");
    const char* res = ef.contains("configMapRef") ? "configmaps" : "secrets";
    const json& ref =
        ef.contains("configMapRef") ? ef["configMapRef"] : ef.value("secretRef", json::object());
    auto t = registry_.find("", "v1", res);
    auto obj = store_.get(*t, p->ns, ref.value("name", ""));
    if (!obj.ok()) {
      if (!ref.value("optional", false))
        p->error = std::string(res) + " \"" + ref.value("name", "") + "\" not found";
      continue;
    }
    const json& data = obj.value().contains("data") ? obj.value()["data"] : json::object();
    for (auto it = data.begin(); data.is_object() && it != data.end(); ++it) {
      std::string value = it->is_string() ? it->get<std::string>() : "";
      set(prefix + it.key(), std::string(res) == "secrets" ? base64_decode_or_empty(value) : value);
    }
  }
  for (const auto& e : p->container.value("env", json::array())) {
    std::string name = e.value("name", "");
    if (e.contains("value")) {
      set(name, expand(e["value"].get<std::string>(), env));
    } else if (e.contains("valueFrom")) {
      const json& vf = e["valueFrom"];
      std::string v;
      if (vf.contains("fieldRef")) {
        std::string f = vf["fieldRef"].value("fieldPath", "");
        if (f == "metadata.name")
          v = p->name;
        else if (f == "metadata.namespace")
          v = p->ns;
        else if (f == "metadata.uid")
          v = p->uid;
        else if (f == "status.podIP")
          v = p->ip;
        else if (f == "status.hostIP")
          v = "10.0.0.1";
        else if (f == "spec.nodeName")
          v = p->node;
        else if (f == "spec.serviceAccountName")
          v = p->sa;
        else if (f.rfind("metadata.labels['", 0) == 0)
          v = md.value("labels", json::object()).value(f.substr(17, f.size() - 19), "");
        else if (f.rfind("metadata.annotations['", 0) == 0)
          v = md.value("annotations", json::object()).value(f.substr(22, f.size() - 24), "");
      } else if (vf.contains("configMapKeyRef") || vf.contains("secretKeyRef")) {
        bool cm = vf.contains("configMapKeyRef");
        const json& ref = cm ? vf["configMapKeyRef"] : vf["secretKeyRef"];
        if (!lookup(cm ? "configmaps" : "secrets", ref, v) && !ref.value("optional", false)) {
          p->error = std::string(cm ? "configmap" : "secret") + " \"" + ref.value("name", "") +
                     "\" or key \"" + ref.value("key", "") + "\" not found";
        }
      }
      set(name, v);
    }
  }
  // Volumes: secret, configMap and emptyDir volumes are materialised under the pod directory,
  // persistentVolumeClaim volumes under DIR/claims/<namespace>/<claim> (kept across pods)
  // (pods are host processes and cannot mount), and every environment value, command word and
  // argument that names a mount path is rewritten to that directory. Files get the volume's
  // defaultMode (0644 unless set, as in Kubernetes).
  std::vector<std::pair<std::string, std::string>> mounts;  // mountPath -> local directory
  for (const auto& vm : p->container.value("volumeMounts", json::array())) {
    std::string vname = vm.value("name", ""), mpath = vm.value("mountPath", "");
    std::optional<json> vol;
    for (const auto& v : pod["spec"].value("volumes", json::array())) {
      if (v.value("name", "") == vname) vol = v;
    }
    if (!vol || mpath.empty() || mpath[0] != '/') {
      p->error = "volumeMount \"" + vname + "\" has no matching volume or an invalid mountPath";
      continue;
    }
    std::string local = p->dir + "/volumes" + mpath;
    if (vol->contains("persistentVolumeClaim")) {
      // A claim outlives its pods: one directory per claim under the state directory.
      local = opts_.state_dir + "/claims/" + p->ns + "/" +
              (*vol)["persistentVolumeClaim"].value("claimName", vname);
    }
    std::filesystem::create_directories(local);
    mounts.emplace_back(mpath, local);
    const bool secret = vol->contains("secret");
    if (!secret && !vol->contains("configMap")) continue;  // emptyDir: just the directory
    const json& src = secret ? (*vol)["secret"] : (*vol)["configMap"];
    std::string obj_name = secret ? src.value("secretName", "") : src.value("name", "");
    auto t = registry_.find("", "v1", secret ? "secrets" : "configmaps");
    auto obj = store_.get(*t, p->ns, obj_name);
    if (!obj.ok()) {
      if (!src.value("optional", false)) {
        p->error = std::string(secret ? "secret" : "configmap") + " \"" + obj_name +
                   "\" for volume \"" + vname + "\" not found";
      }
      continue;
    }
    int mode = src.value("defaultMode", 0644);
    const json data = obj.value().value("data", json::object());
    for (auto it = data.begin(); data.is_object() && it != data.end(); ++it) {
      std::string value = it->is_string() ? it->get<std::string>() : "";
      std::string file = local + "/" + it.key();
      std::ofstream(file) << (secret ? base64_decode_or_empty(value) : value);
      std::filesystem::permissions(file, static_cast<std::filesystem::perms>(mode & 0777));
    }
  }
  auto remap = [&](std::string v) {
    for (const auto& [mpath, local] : mounts) {
      if (v == mpath || (v.rfind(mpath, 0) == 0 && v[mpath.size()] == '/')) {
        return local + v.substr(mpath.size());
      }
    }
    return v;
  };
  for (const auto& k : order) p->env.push_back(k + "=" + remap(env[k]));

  std::vector<std::string> cmd;
  for (const auto& c : p->container.value("command", json::array()))
    cmd.push_back(remap(expand(c.get<std::string>(), env)));
  for (const auto& a : p->container.value("args", json::array()))
    cmd.push_back(remap(expand(a.get<std::string>(), env)));
  if (cmd.empty()) {
    p->error = "kubesim runs commands, not images: the container needs `command`";
  } else {
    p->exe = find_executable(cmd[0], opts_.path);
    if (p->exe.empty()) p->error = "executable \"" + cmd[0] + "\" not found in the pod PATH";
    p->argv = cmd;
  }
  {
    std::lock_guard lock(mu_);
    pods_by_uid_[p->uid] = p;
  }
  p->prober = std::thread([this, p] { probe_loop(p); });
}

void Kubelet::terminate_pod(const std::shared_ptr<PodProcess>& p, int64_t grace_seconds) {
  auto deadline = Clock::now() + std::chrono::seconds(std::max<int64_t>(grace_seconds, 0));
  pid_t pid;
  {
    std::lock_guard lock(p->mu);
    pid = p->pid;
  }
  // preStop exec hook, bounded by the grace period.
  const json& lifecycle = p->container.value("lifecycle", json::object());
  if (pid > 0 && lifecycle.contains("preStop") && lifecycle["preStop"].contains("exec")) {
    std::vector<std::string> cmd;
    for (const auto& c : lifecycle["preStop"]["exec"].value("command", json::array()))
      cmd.push_back(c.get<std::string>());
    std::string exe = cmd.empty() ? "" : find_executable(cmd[0], opts_.path);
    if (!exe.empty()) {
      pid_t hook = spawn(exe, cmd, p->env, p->dir + "/prestop.log");
      while (hook > 0 && Clock::now() < deadline) {
        int st;
        if (waitpid(hook, &st, WNOHANG) == hook) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (hook > 0 && Clock::now() >= deadline) {
        kill(-hook, SIGKILL);
        waitpid(hook, nullptr, 0);
      }
    }
  }
  {
    std::lock_guard lock(p->mu);
    pid = p->pid;
    if (pid > 0) kill(-pid, SIGTERM);
  }
  while (pid > 0) {
    {
      std::lock_guard lock(p->mu);
      if (p->pid <= 0) break;  // reaped by the sync loop
    }
    if (Clock::now() >= deadline) {
      std::lock_guard lock(p->mu);
      if (p->pid > 0) kill(-p->pid, SIGKILL);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Wait for the reap, then remove the object.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(p->mu);
      if (p->pid <= 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  p->stop = true;
  (void)store_.remove(pods_, p->ns, p->name, p->uid);
  auth_.retire(p->token);
  std::lock_guard lock(p->mu);
  p->removed = true;
}

void Kubelet::probe_loop(std::shared_ptr<PodProcess> p) {
  ProbeSpec startup = parse_probe(p->container, "startupProbe");
  ProbeSpec readiness = parse_probe(p->container, "readinessProbe");
  ProbeSpec liveness = parse_probe(p->container, "livenessProbe");
  struct State {
    int successes = 0, failures = 0;
    Clock::time_point next{};
  };
  State ss, rs, ls;
  uint64_t generation = 0;
  auto run = [&](const ProbeSpec& spec) {
    httplib::Client cli(spec.host.empty() ? p->ip : spec.host, spec.port);
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(spec.timeout).count();
    cli.set_connection_timeout(secs, 0);
    cli.set_read_timeout(secs, 0);
    auto res = cli.Get(spec.path);
    return res && res->status >= 200 && res->status < 400;
  };
  while (!p->stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Clock::time_point started_at;
    bool started, alive;
    {
      std::lock_guard lock(p->mu);
      alive = p->pid > 0 && !p->terminating;
      if (p->process_generation != generation) {
        generation = p->process_generation;
        ss = rs = ls = State{};
        p->started = !startup.present;
        p->ready = false;
      }
      started = p->started;
      started_at = p->process_started;
      if (alive && !readiness.present && started && !p->ready) {
        p->ready = true;
        p->ready_since = rfc3339_now();
      }
    }
    if (!alive) continue;
    auto now = Clock::now();
    auto due = [&](const ProbeSpec& spec, State& s) {
      if (!spec.present || now < started_at + spec.initial_delay || now < s.next) return false;
      s.next = now + spec.period;
      return true;
    };
    auto restart = [&](const char* why) {
      std::lock_guard lock(p->mu);
      (void)why;
      if (p->pid > 0) kill(-p->pid, SIGKILL);  // the sync loop restarts it per restartPolicy
    };
    if (!started) {
      if (due(startup, ss)) {
        if (run(startup)) {
          std::lock_guard lock(p->mu);
          p->started = true;
          p->started_since = rfc3339_now();
        } else if (++ss.failures >= startup.failure_threshold) {
          restart("startup probe failed");
        }
      }
      continue;
    }
    if (due(readiness, rs)) {
      bool ok = run(readiness);
      std::lock_guard lock(p->mu);
      if (ok) {
        rs.failures = 0;
        if (++rs.successes >= readiness.success_threshold && !p->ready) {
          p->ready = true;
          p->ready_since = rfc3339_now();
        }
      } else {
        rs.successes = 0;
        if (++rs.failures >= readiness.failure_threshold && p->ready) {
          p->ready = false;
          p->ready_since = rfc3339_now();
        }
      }
    }
    if (due(liveness, ls)) {
      if (run(liveness)) {
        ls.failures = 0;
      } else if (++ls.failures >= liveness.failure_threshold) {
        ls.failures = 0;
        restart("liveness probe failed");
      }
    }
  }
}

void Kubelet::write_status(const std::shared_ptr<PodProcess>& p) {
  json status;
  {
    std::lock_guard lock(p->mu);
    if (p->removed) return;
    bool running = p->pid > 0;
    json state;
    if (running) {
      state = {{"running", {{"startedAt", p->container_started_at}}}};
    } else if (!p->error.empty()) {
      state = {{"waiting", {{"reason", "CreateContainerConfigError"}, {"message", p->error}}}};
    } else if (p->crashloop) {
      state = {{"waiting",
                {{"reason", "CrashLoopBackOff"},
                 {"message", "back-off restarting failed container, exit code " +
                                 std::to_string(p->last_exit_code)}}}};
    } else {
      state = {{"waiting", {{"reason", "ContainerCreating"}}}};
    }
    bool ready = running && p->ready && !p->terminating;
    std::string since = p->ready_since.empty() ? p->start_time : p->ready_since;
    status = {{"phase", running || p->restart_count > 0 ? "Running" : "Pending"},
              {"hostIP", "10.0.0.1"},
              {"podIP", p->ip},
              {"podIPs", {{{"ip", p->ip}}}},
              {"startTime", p->start_time},
              {"conditions",
               {condition("PodScheduled", true, p->start_time),
                condition("Initialized", true, p->start_time),
                condition("ContainersReady", ready, since), condition("Ready", ready, since)}},
              {"containerStatuses",
               {{{"name", p->container.value("name", "main")},
                 {"image", p->container.value("image", "")},
                 {"imageID", ""},
                 {"containerID", running ? "kubesim://" + std::to_string(p->pid) : ""},
                 {"ready", ready},
                 {"started", running && p->started},
                 {"restartCount", p->restart_count},
                 {"state", state}}}}};
    if (status == p->last_status) return;
    p->last_status = status;
  }
  json body = {{"status", status}};
  auto cur = store_.get(pods_, p->ns, p->name);
  if (!cur.ok()) return;
  json next = cur.value();
  next["status"] = status;
  next["metadata"].erase("resourceVersion");
  (void)store_.update(pods_, p->ns, p->name, next, UpdateScope::kStatus);
}

void Kubelet::sync_once() {
  auto pods = store_.all(pods_.qualified());
  std::set<std::string> present;
  // Scheduling: bind unassigned pods to the least loaded node.
  std::map<std::string, int> load;
  for (int i = 0; i < opts_.nodes; ++i) load["kubesim-node-" + std::to_string(i)] = 0;
  for (const auto& pod : pods) {
    std::string n = pod["spec"].value("nodeName", "");
    if (!n.empty()) ++load[n];
  }
  for (auto& pod : pods) {
    const json& md = pod["metadata"];
    std::string uid = md.value("uid", "");
    present.insert(uid);
    if (pod["spec"].value("nodeName", "").empty()) {
      auto best = std::min_element(load.begin(), load.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
      json next = pod;
      next["spec"]["nodeName"] = best->first;
      ++best->second;
      next["metadata"].erase("resourceVersion");
      auto r = store_.update(pods_, md.value("namespace", ""), md.value("name", ""), next);
      if (!r.ok()) continue;
      pod = r.value();  // `md` referred into the old value
    }
    const json& meta = pod["metadata"];
    std::shared_ptr<PodProcess> p;
    {
      std::lock_guard lock(mu_);
      auto it = pods_by_uid_.find(uid);
      if (it != pods_by_uid_.end()) p = it->second;
    }
    if (!p) {
      if (meta.contains("deletionTimestamp")) {
        (void)store_.remove(pods_, meta.value("namespace", ""), meta.value("name", ""), uid);
        continue;
      }
      start_pod(pod);
      std::lock_guard lock(mu_);
      p = pods_by_uid_[uid];
    }
    // Graceful deletion.
    if (meta.contains("deletionTimestamp")) {
      std::lock_guard lock(p->mu);
      if (!p->terminating) {
        p->terminating = true;
        int64_t grace = meta.value("deletionGracePeriodSeconds", int64_t{30});
        p->terminator = std::thread([this, p, grace] { terminate_pod(p, grace); });
      }
    }
  }
  // Processes: reap, (re)start, rotate tokens, report status.
  std::vector<std::shared_ptr<PodProcess>> all;
  {
    std::lock_guard lock(mu_);
    for (auto it = pods_by_uid_.begin(); it != pods_by_uid_.end();) {
      auto& p = it->second;
      bool gone = !present.count(it->first);
      bool removed;
      {
        std::lock_guard pl(p->mu);
        removed = p->removed;
        if (gone && p->pid > 0) kill(-p->pid, SIGKILL);  // force-deleted
      }
      if ((gone || removed) && !stopping_) {  // while stopping, stop() owns the threads
        std::lock_guard pl(p->mu);
        if (p->pid > 0) {
          int st;
          if (waitpid(p->pid, &st, WNOHANG) == p->pid) p->pid = -1;
        }
        if (p->pid <= 0) {
          p->stop = true;
          auto victim = p;
          std::thread([victim] {
            if (victim->prober.joinable()) victim->prober.join();
            if (victim->terminator.joinable()) victim->terminator.join();
          }).detach();
          it = pods_by_uid_.erase(it);
          continue;
        }
      }
      all.push_back(p);
      ++it;
    }
  }
  for (auto& p : all) {
    {
      std::lock_guard lock(p->mu);
      if (p->pid > 0) {
        int st = 0;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
          p->pid = -1;
          p->last_exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
          p->ready = false;
          bool restart =
              !p->terminating && (p->restart_policy == "Always" ||
                                  (p->restart_policy == "OnFailure" && p->last_exit_code != 0));
          if (restart) {
            p->crashloop = true;
            p->next_restart = Clock::now() + std::chrono::seconds(p->backoff_seconds);
            p->backoff_seconds = std::min(p->backoff_seconds * 2, 10);
          }
        }
      }
      bool want_start =
          !stopping_ && p->pid <= 0 && !p->terminating && p->error.empty() && !p->removed &&
          (p->process_generation == 0 || (p->crashloop && Clock::now() >= p->next_restart));
      if (want_start) {
        if (p->process_generation > 0) ++p->restart_count;
        p->pid = spawn(p->exe, p->argv, p->env, p->dir + "/container.log");
        if (p->pid > 0) {
          ++p->process_generation;
          p->crashloop = false;
          p->process_started = Clock::now();
          p->container_started_at = rfc3339_now();
        } else {
          p->error = "cannot start " + p->exe;
        }
      }
      if (p->pid > 0 && Clock::now() - p->process_started > std::chrono::seconds(10))
        p->backoff_seconds = 1;
      if (!p->terminating && Clock::now() - p->token_minted > opts_.token_ttl * 4 / 5) {
        std::string old = p->token;
        p->token = auth_.mint(service_account_user(p->ns, p->sa), opts_.token_ttl);
        p->token_minted = Clock::now();
        write_token(*p);
        auth_.retire(old);
      }
    }
    write_status(p);
  }
}

}  // namespace kubesim
