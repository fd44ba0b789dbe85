// esk8s-node: a reference database host for libesk8s.so. It stands in for an event-store node:
// loads the plugin, passes configuration from the ESK8S_* environment, prints what the plugin
// logs and every membership snapshot, reports a node status, and on SIGTERM/SIGINT stops the
// plugin (joining its threads) before dlclose. The test cluster (tests/cluster) runs it as the "database" of its pods.
//
// Only the public C header of the plugin is used, as a real database would; esk8s_common's
// logger formats the lines (--log-format text or json).
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/logger.h"
#include "esk8s/plugin.h"

namespace {

const char* kUsage =
    "usage: esk8s-node [--plugin PATH] [--state NAME] [--state-file PATH] [--node-priority N]\n"
    "                  [--int-tcp-port N] [--ext-tcp-port N] [--http-port N] [--insecure]\n"
    "                  [--advertise-host-to-client-as HOST] [--advertise-tcp-port-to-client-as N]\n"
    "                  [--advertise-http-port-to-client-as N] [--quiet]\n"
    "                  [--log-format text|json]\n"
    "       esk8s-node --pre-stop [--timeout SECONDS]\n"
    "\n"
    "Reference database host for the esk8s plugin. Loads libesk8s.so, configures it from the\n"
    "ESK8S_* environment variables (see the README's configuration table), prints the plugin's\n"
    "log and every membership change, and stops cleanly on SIGTERM or SIGINT.\n"
    "\n"
    "  --plugin PATH        libesk8s.so to load (default: next to this binary, then ../lib/,\n"
    "                       then the build tree it was built in)\n"
    "  --state NAME         node state reported to the plugin, an EventStoreDB VNodeState name\n"
    "                       (default: Follower)\n"
    "  --state-file PATH    read the node state from this file at every status poll (its\n"
    "                       first line; while it is missing or empty, --state), so a test or\n"
    "                       an operator can make this node the Leader and back\n"
    "  --node-priority N    node priority reported to the plugin (default: 0)\n"
    "  --int-tcp-port N     the database's internal (replication) TCP port, 0: not served\n"
    "  --ext-tcp-port N     the database's external (client) TCP port, 0: not served\n"
    "  --http-port N        the database's HTTP port, 0: not served (defaults 0)\n"
    "  --insecure           the TCP ports are plain TCP, as EventStoreDB's --insecure serves\n"
    "                       them (default: TLS); /gossip reports them as externalTcpPort and\n"
    "                       internalTcpPort instead of the *SecureTcpPort fields\n"
    "  --advertise-host-to-client-as HOST, --advertise-tcp-port-to-client-as N,\n"
    "  --advertise-http-port-to-client-as N\n"
    "                       what /gossip tells clients instead of the member's identity and\n"
    "                       the ports above (EventStoreDB's options of these names)\n"
    "  --quiet              print only warnings and errors of the plugin\n"
    "  --log-format FORMAT  text (default): lines for people; json: every line this program\n"
    "                       prints (stdout and stderr) is one JSON object with time (RFC 3339,\n"
    "                       UTC), level, component, message and fields, for log pipelines\n"
    "  --pre-stop           for a preStop hook: wait until this node's /health/disruptable\n"
    "                       answers 200 (stopping it keeps a quorum of the others), polling\n"
    "                       every 500 ms at ESK8S_BIND_ADDRESS:ESK8S_HTTP_PORT, then exit 0;\n"
    "                       exit 1 when --timeout (default 60) passes first. The node announces\n"
    "                       its graceful leave itself when SIGTERM follows.\n"
    "  --help               this text\n"
    "\n"
    "Exit status: 0 after a clean shutdown, 1 when the plugin fails to load, init or start,\n"
    "2 on a usage error.\n";

struct Options {
  std::string plugin;
  std::string state = "Follower";
  std::string state_file;
  int node_priority = 0;
  uint16_t int_tcp_port = 0;
  uint16_t ext_tcp_port = 0;
  uint16_t http_port = 0;
  bool insecure = false;
  std::string advertise_host_to_client_as;
  uint16_t advertise_tcp_port_to_client_as = 0;
  uint16_t advertise_http_port_to_client_as = 0;
  bool quiet = false;
  esk8s::LogFormat log_format = esk8s::LogFormat::kText;
};

// The node state from the first line of `path`, or "" when the file is missing, not a regular
// file, empty, or its line does not fit esk8s_node_status.state.
std::string read_state_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st{};
  char buf[64] = {};
  ssize_t n = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = read(fd, buf, sizeof buf - 1);
  close(fd);
  std::string line(buf, n > 0 ? static_cast<size_t>(n) : 0);
  line = line.substr(0, line.find_first_of("\r\n"));
  if (line.size() >= sizeof(esk8s_node_status{}.state)) return "";
  return line;
}

std::mutex g_print_mu;

void write_out(FILE* out, const std::string& s) {
  std::lock_guard lock(g_print_mu);
  std::fputs(s.c_str(), out);
  std::fflush(out);
}

void print_line(const std::string& s) { write_out(stdout, s + "\n"); }

std::string str(esk8s_str s) { return std::string(s.ptr ? s.ptr : "", s.len); }

// Set once by main before the plugin starts any thread.
esk8s::LogFormat g_log_format = esk8s::LogFormat::kText;

// One record of this host's own to `out`: `text` as a line in text format; in json format a
// record of component "esk8s-node" with `message` and `fields` instead.
void node_record(FILE* out, esk8s::LogLevel level, const std::string& text,
                 std::string_view message, std::initializer_list<esk8s::LogField> fields = {}) {
  if (g_log_format == esk8s::LogFormat::kText) {
    write_out(out, text + "\n");
    return;
  }
  const std::span<const esk8s::LogField> kv(fields.begin(), fields.size());
  write_out(out, esk8s::format_line(esk8s::LogFormat::kJson, std::chrono::system_clock::now(),
                                    level, "esk8s-node", message, kv));
}

// A failure, to stderr: "esk8s-node: WHAT: DETAIL" as text; an error record with WHAT as its
// message and DETAIL (the plugin's message, dlerror) as the field "error" in json.
void node_failure(const std::string& what, const std::string& detail) {
  node_record(stderr, esk8s::LogLevel::kError, "esk8s-node: " + what + ": " + detail, what,
              {{"error", detail}});
}

const char* level_name(esk8s_log_level l) {
  switch (l) {
    case ESK8S_LOG_TRACE:
      return "trace";
    case ESK8S_LOG_DEBUG:
      return "debug";
    case ESK8S_LOG_INFO:
      return "info";
    case ESK8S_LOG_WARN:
      return "warn";
    case ESK8S_LOG_ERROR:
      return "error";
  }
  return "?";
}

const char* state_name(int32_t s) {
  switch (s) {
    case ESK8S_MEMBER_DISCOVERED:
      return "discovered";
    case ESK8S_MEMBER_ALIVE:
      return "alive";
    case ESK8S_MEMBER_SUSPECT:
      return "suspect";
    case ESK8S_MEMBER_DEAD:
      return "dead";
    case ESK8S_MEMBER_LEFT:
      return "left";
  }
  return "?";
}

struct Host {
  Options opts;
};

int on_log_enabled(void* ctx, esk8s_log_level level) {
  auto* host = static_cast<Host*>(ctx);
  return level >= (host->opts.quiet ? ESK8S_LOG_WARN : ESK8S_LOG_INFO);
}

void on_log(void*, esk8s_log_level level, esk8s_str component, esk8s_str message,
            const esk8s_kv* fields, size_t n) {
  if (g_log_format == esk8s::LogFormat::kJson) {
    std::vector<esk8s::LogField> kv;
    kv.reserve(n);
    for (size_t i = 0; i < n; ++i) kv.emplace_back(str(fields[i].key), str(fields[i].value));
    // The C and C++ levels have the same values; an unknown one is shown as an error.
    auto lvl = level >= ESK8S_LOG_TRACE && level <= ESK8S_LOG_ERROR
                   ? static_cast<esk8s::LogLevel>(level)
                   : esk8s::LogLevel::kError;
    write_out(stdout, esk8s::format_line(esk8s::LogFormat::kJson, std::chrono::system_clock::now(),
                                         lvl, str(component), str(message), kv));
    return;
  }
  std::string line = "[esk8s] ";
  line += level_name(level);
  line += " " + str(component) + ": " + str(message);
  for (size_t i = 0; i < n; ++i) line += " " + str(fields[i].key) + "=" + str(fields[i].value);
  print_line(line);
}

// Text: "membership: N member(s)" and an indented line per member. JSON: one record, a field
// per member ("member.I": "IDENTITY STATE ADDRESS:PORT[ (self)]").
void on_membership(void*, const esk8s_member* members, size_t count) {
  std::string out = "membership: " + std::to_string(count) + " member(s)";
  std::vector<esk8s::LogField> fields = {{"count", std::to_string(count)}};
  for (size_t i = 0; i < count; ++i) {
    const esk8s_member& m = members[i];
    std::string row = str(m.identity) + " " + state_name(m.state) + " " + str(m.address) + ":" +
                      std::to_string(m.gossip_port) + (m.is_self ? " (self)" : "");
    out += "\n  " + row;
    fields.emplace_back("member." + std::to_string(i), row);
  }
  if (g_log_format == esk8s::LogFormat::kJson) {
    write_out(stdout, esk8s::format_line(esk8s::LogFormat::kJson, std::chrono::system_clock::now(),
                                         esk8s::LogLevel::kInfo, "esk8s-node",
                                         "membership changed", fields));
    return;
  }
  print_line(out);
}

// True when the plugin's struct (its struct_size) holds the whole of `member`.
#define STATUS_HAS(out, member) \
  ((out)->struct_size >= offsetof(esk8s_node_status, member) + sizeof((out)->member))

int on_node_status(void* ctx, esk8s_node_status* out) {
  auto* host = static_cast<Host*>(ctx);
  const Options& o = host->opts;
  // Only fields this host knows and that fit the plugin's struct are written.
  if (!STATUS_HAS(out, version)) return 1;
  out->host_ready = 1;
  std::string state = o.state_file.empty() ? "" : read_state_file(o.state_file);
  if (state.empty()) state = o.state;
  std::snprintf(out->state, sizeof out->state, "%s", state.c_str());
  out->node_priority = o.node_priority;
  std::snprintf(out->version, sizeof out->version, "esk8s-node %s", ESK8S_NODE_VERSION);
  out->http_port = o.http_port;
  if (!STATUS_HAS(out, advertise_host_to_client_as)) {
    // An ABI 1.0 plugin knows only the TLS ports and the identity as host.
    if (!o.insecure) {
      out->internal_tcp_port = o.int_tcp_port;
      out->external_tcp_port = o.ext_tcp_port;
    }
    return 0;
  }
  (o.insecure ? out->internal_insecure_tcp_port : out->internal_tcp_port) = o.int_tcp_port;
  (o.insecure ? out->external_insecure_tcp_port : out->external_tcp_port) = o.ext_tcp_port;
  out->advertise_tcp_port_to_client_as = o.advertise_tcp_port_to_client_as;
  out->advertise_http_port_to_client_as = o.advertise_http_port_to_client_as;
  std::snprintf(out->advertise_host_to_client_as, sizeof out->advertise_host_to_client_as, "%s",
                o.advertise_host_to_client_as.c_str());
  return 0;
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::string default_plugin_path() {
  std::string dir = self_dir();
  // The SONAME first (the ABI major this host was compiled for), then the development link.
  const std::string lib = dir + "/" + ESK8S_NODE_BIN_TO_LIB;
  const std::string soname = "libesk8s.so." + std::to_string(ESK8S_ABI_MAJOR);
  for (const std::string& candidate :
       {dir + "/" + soname, dir + "/libesk8s.so", lib + "/" + soname, lib + "/libesk8s.so",
        std::string(ESK8S_BUILD_PLUGIN_PATH)}) {
    if (access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return dir + "/libesk8s.so";
}

// One HTTP/1.0 GET on loopback; the status code, or 0 when there is no answer.
int http_status(const std::string& host, int port, const std::string& path) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return 0;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int code = 0;
  timeval tv{2, 0};
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[64] = {};
      ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
      if (n > 12 && std::strncmp(buf, "HTTP/1.", 7) == 0) code = std::atoi(buf + 9);
    }
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return code;
}

// preStop: wait (bounded) until stopping this node keeps a quorum of the others.
int pre_stop(int timeout_seconds) {
  const char* bind = std::getenv("ESK8S_BIND_ADDRESS");
  const char* port = std::getenv("ESK8S_HTTP_PORT");
  std::string host = bind && *bind && std::strcmp(bind, "0.0.0.0") != 0 ? bind : "127.0.0.1";
  if (host == "::") host = "::1";
  int p = port && *port ? std::atoi(port) : 2115;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int last = 0;
  while (true) {
    last = http_status(host, p, "/health/disruptable");
    if (last == 200) {
      node_record(stdout, esk8s::LogLevel::kInfo,
                  "esk8s-node: pre-stop: disruptable (a quorum of the others remains); stopping",
                  "pre-stop: disruptable (a quorum of the others remains); stopping");
      return 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::string answer = last ? std::to_string(last) : std::string("none");
  std::string url = host + ":" + std::to_string(p) + "/health/disruptable";
  node_record(stdout, esk8s::LogLevel::kWarn,
              "esk8s-node: pre-stop: not disruptable after " + std::to_string(timeout_seconds) +
                  " s (last answer " + answer + " from " + url +
                  "); stopping anyway: the grace period is over",
              "pre-stop: not disruptable; stopping anyway: the grace period is over",
              {{"timeout_s", std::to_string(timeout_seconds)}, {"last_answer", answer},
               {"url", url}});
  return 1;
}

// The option a port flag sets, or nullptr when `flag` is not one.
uint16_t* port_flag(Options& o, const std::string& flag) {
  const std::pair<const char*, uint16_t*> flags[] = {
      {"--int-tcp-port", &o.int_tcp_port},
      {"--ext-tcp-port", &o.ext_tcp_port},
      {"--http-port", &o.http_port},
      {"--advertise-tcp-port-to-client-as", &o.advertise_tcp_port_to_client_as},
      {"--advertise-http-port-to-client-as", &o.advertise_http_port_to_client_as},
  };
  for (const auto& [name, field] : flags) {
    if (flag == name) return field;
  }
  return nullptr;
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "esk8s-node: %s\n\n%s", msg.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Host host;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)flag;
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--plugin") {
      const char* v = value("--plugin");
      if (!v) return usage_error("--plugin needs a path");
      host.opts.plugin = v;
    } else if (a == "--state") {
      const char* v = value("--state");
      if (!v || !*v || std::strlen(v) >= sizeof(esk8s_node_status{}.state)) {
        return usage_error("--state needs a VNodeState name of at most 31 characters");
      }
      host.opts.state = v;
    } else if (a == "--node-priority") {
      const char* v = value("--node-priority");
      char* end = nullptr;
      long p = v ? std::strtol(v, &end, 10) : 0;
      if (!v || *end || p < INT32_MIN || p > INT32_MAX) {
        return usage_error("--node-priority needs an integer");
      }
      host.opts.node_priority = static_cast<int>(p);
    } else if (a == "--state-file") {
      const char* v = value("--state-file");
      if (!v || !*v) return usage_error("--state-file needs a path");
      host.opts.state_file = v;
    } else if (uint16_t* port = port_flag(host.opts, a)) {
      const char* v = value(a.c_str());
      char* end = nullptr;
      long p = v ? std::strtol(v, &end, 10) : -1;
      if (!v || !*v || *end || p < 0 || p > 65535) {
        return usage_error(a + " needs a port number (0-65535)");
      }
      *port = static_cast<uint16_t>(p);
    } else if (a == "--insecure") {
      host.opts.insecure = true;
    } else if (a == "--advertise-host-to-client-as") {
      const char* v = value(a.c_str());
      if (!v || !*v || std::strlen(v) >= sizeof(esk8s_node_status{}.advertise_host_to_client_as)) {
        return usage_error(a + " needs a host name or address of at most 127 characters");
      }
      host.opts.advertise_host_to_client_as = v;
    } else if (a == "--quiet") {
      host.opts.quiet = true;
    } else if (a == "--log-format" || a.starts_with("--log-format=")) {
      const char* v =
          a == "--log-format" ? value(a.c_str()) : argv[i] + std::strlen("--log-format=");
      auto format = v ? esk8s::parse_log_format(v) : std::nullopt;
      if (!format) return usage_error("--log-format needs \"text\" or \"json\"");
      host.opts.log_format = *format;
      g_log_format = *format;
    } else if (a == "--pre-stop") {
      int timeout = 60;
      if (argc - i == 3 && std::strcmp(argv[i + 1], "--timeout") == 0) {
        char* end = nullptr;
        long t = std::strtol(argv[i + 2], &end, 10);
        if (*end || t < 1 || t > 86400) {
          return usage_error("--timeout needs a number of seconds (1-86400)");
        }
        timeout = static_cast<int>(t);
      } else if (argc - i != 1) {
        return usage_error("--pre-stop takes only --timeout SECONDS");
      }
      return pre_stop(timeout);
    } else {
      return usage_error("unknown argument \"" + a + "\"");
    }
  }
  if (host.opts.plugin.empty()) host.opts.plugin = default_plugin_path();

  // Block the stop signals before the plugin starts threads, so they inherit the mask and the
  // signals are taken here by sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  void* lib = dlopen(host.opts.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    node_failure("cannot load plugin " + host.opts.plugin, why ? why : "(no message)");
    return 1;
  }
  auto init = reinterpret_cast<esk8s_init_fn>(dlsym(lib, "esk8s_init"));
  if (!init) {
    node_failure("cannot use plugin " + host.opts.plugin,
                 "it has no esk8s_init symbol; is it libesk8s.so?");
    dlclose(lib);
    return 1;
  }

  esk8s_host_api api{};
  api.struct_size = sizeof api;
  api.abi_major = ESK8S_ABI_MAJOR;
  api.abi_minor = ESK8S_ABI_MINOR;
  api.ctx = &host;
  api.log_enabled = on_log_enabled;
  api.log = on_log;
  api.membership_changed = on_membership;
  api.node_status = on_node_status;

  const esk8s_plugin_api* plugin_api = nullptr;
  esk8s_plugin* plugin = nullptr;
  char* error = nullptr;
  // No configuration entries: the plugin reads the ESK8S_* environment variables.
  if (init(&api, nullptr, 0, &plugin_api, &plugin, &error) != ESK8S_OK) {
    node_failure("plugin init failed", error ? error : "(no message)");
    if (plugin_api) plugin_api->free_error(error);
    dlclose(lib);
    return 1;
  }
  if (plugin_api->abi_major != ESK8S_ABI_MAJOR) {
    node_failure("plugin ABI " + std::to_string(plugin_api->abi_major) + "." +
                     std::to_string(plugin_api->abi_minor) + " is not ABI " +
                     std::to_string(ESK8S_ABI_MAJOR) + ".x",
                 "use a matching libesk8s.so");
    plugin_api->destroy(plugin);
    dlclose(lib);
    return 1;
  }
  const std::string version = plugin_api->version();
  node_record(stdout, esk8s::LogLevel::kInfo,
              "esk8s-node: loaded " + host.opts.plugin + " (esk8s " + version + ")",
              "loaded the plugin",
              {{"plugin", host.opts.plugin},
               {"version", version},
               {"abi", std::to_string(plugin_api->abi_major) + "." +
                           std::to_string(plugin_api->abi_minor)}});

  if (plugin_api->start(plugin, &error) != ESK8S_OK) {
    node_failure("plugin start failed", error ? error : "(no message)");
    plugin_api->free_error(error);
    plugin_api->destroy(plugin);
    dlclose(lib);
    return 1;
  }
  node_record(stdout, esk8s::LogLevel::kInfo, "esk8s-node: running; SIGTERM or SIGINT stops it",
              "running; SIGTERM or SIGINT stops it");

  int sig = 0;
  sigwait(&stop_signals, &sig);
  const std::string signal_name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
  node_record(stdout, esk8s::LogLevel::kInfo, "esk8s-node: " + signal_name + ", stopping",
              "stopping", {{"signal", signal_name}});

  int rc = 0;
  if (plugin_api->stop(plugin, &error) != ESK8S_OK) {
    node_failure("plugin stop failed", error ? error : "(no message)");
    plugin_api->free_error(error);
    rc = 1;
  }
  plugin_api->destroy(plugin);
  dlclose(lib);
  node_record(stdout, esk8s::LogLevel::kInfo, "esk8s-node: stopped", "stopped");
  return rc;
}
