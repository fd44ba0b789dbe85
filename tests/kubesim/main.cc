// kubesim: a Kubernetes API server simulator that runs real processes as pods.
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/kubesim/cluster.h"

namespace {

const char* kUsage =
    "usage: kubesim --state-dir DIR [options]\n"
    "\n"
    "A Kubernetes API server simulator for the esk8s demo and tests. Serves HTTPS on 127.0.0.1 "
    "with\n"
    "its own CA, writes DIR/kubeconfig (an admin user) and DIR/ca.crt, prints\n"
    "`kubesim: ready <url>` once it serves, and runs real processes as pods until SIGTERM/SIGINT,\n"
    "on which it stops every pod process and exits 0. Use it with kubectl:\n"
    "  kubectl --kubeconfig DIR/kubeconfig apply -f manifests/\n"
    "\n"
    "options:\n"
    "  --state-dir DIR              where certificates, kubeconfig and pod directories go "
    "(required)\n"
    "  --port N                     API server port (default: any free port)\n"
    "  --tokens FILE                bearer tokens, kube-apiserver --token-auth-file format:\n"
    "                               token,user,uid[,\"group1,group2\"]; re-read when it changes\n"
    "  --token-grace SECONDS        how long a token removed from FILE or rotated out keeps\n"
    "                               working (default 10)\n"
    "  --token-ttl SECONDS          lifetime of the service-account tokens pods get; the kubelet\n"
    "                               rotates them at 80% (default 3600)\n"
    "  --bin-dir DIR                look up pod commands here first (repeatable; default: the\n"
    "                               directory of kubesim and of the esk8s-node it was built with)\n"
    "  --nodes N                    simulated nodes, zones a/b/c round-robin (default 3)\n"
    "  --pod-network N              pod IPs from 127.N.0.0/16, 1-254 (default 1); give\n"
    "                               simulators running side by side different networks\n"
    "  --max-endpoints-per-slice N  EndpointSlice size (default 100)\n"
    "  --history N                  watch events kept per resource; older resourceVersions get\n"
    "                               410 Gone (default 1000)\n"
    "  --csr-signer NAME            sign CertificateSigningRequests for this signerName with a CA\n"
    "                               written to DIR/csr-ca.crt (default esk8s.io/node; \"\" "
    "disables)\n"
    "  --csr-manual-approval        leave CSRs pending until `kubectl certificate approve`; by\n"
    "                               default they are approved when their names match the pod\n"
    "  --watch-gone-as-status       answer a too-old watch with HTTP 410 instead of an ERROR "
    "event\n"
    "  --bookmark-interval-ms N     BOOKMARK period on watches that allow them (default 5000)\n"
    "  --help                       this text\n"
    "\n"
    "admin API (admin token from DIR/kubeconfig):\n"
    "  POST /kubesim/compact                      drop watch history (old resourceVersions -> "
    "410)\n"
    "  POST /kubesim/faults {\"outage\":true, \"latency_ms\":N, \"throttle_requests\":N,\n"
    "       \"retry_after_seconds\":N, \"error_requests\":N, \"malformed_events\":N, "
    "\"close_watches\":true}\n"
    "  POST /kubesim/pods/<ns>/<name>/kill         SIGKILL a pod's process (a crash)\n"
    "  POST /kubesim/tokens/rotate                 new service-account tokens for every pod\n"
    "  GET  /kubesim/requests                      request counts by user, verb and code\n";

int usage_error(const std::string& msg) {
  std::cerr << "kubesim: " << msg << "\n\n" << kUsage;
  return 2;
}

bool parse_number(const char* s, long min, long max, long& out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (*end || v < min || v > max) return false;
  out = v;
  return true;
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

}  // namespace

int main(int argc, char** argv) {
  kubesim::ClusterOptions opts;
  bool custom_bin = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    long n = 0;
    auto need = [&](const char* what) { return usage_error(a + " needs " + what); };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--state-dir") {
      if (!v) return need("a directory");
      opts.state_dir = v, ++i;
    } else if (a == "--port") {
      if (!parse_number(v, 0, 65535, n)) return need("a port 0-65535");
      opts.port = static_cast<uint16_t>(n), ++i;
    } else if (a == "--tokens") {
      if (!v) return need("a file");
      opts.tokens_file = v, ++i;
    } else if (a == "--token-grace") {
      if (!parse_number(v, 0, 86400, n)) return need("seconds 0-86400");
      opts.token_grace = std::chrono::seconds(n), ++i;
    } else if (a == "--token-ttl") {
      if (!parse_number(v, 10, 86400 * 365, n)) return need("seconds (at least 10)");
      opts.token_ttl = std::chrono::seconds(n), ++i;
    } else if (a == "--bin-dir") {
      if (!v) return need("a directory");
      opts.bin_path.push_back(v), ++i;
      custom_bin = true;
    } else if (a == "--nodes") {
      if (!parse_number(v, 1, 1000, n)) return need("a count 1-1000");
      opts.nodes = static_cast<int>(n), ++i;
    } else if (a == "--pod-network") {
      if (!parse_number(v, 1, 254, n)) return need("a network number 1-254");
      opts.pod_network = static_cast<int>(n), ++i;
    } else if (a == "--max-endpoints-per-slice") {
      if (!parse_number(v, 1, 1000, n)) return need("a count 1-1000");
      opts.max_endpoints_per_slice = static_cast<size_t>(n), ++i;
    } else if (a == "--history") {
      if (!parse_number(v, 1, 10000000, n)) return need("a count");
      opts.history = static_cast<size_t>(n), ++i;
    } else if (a == "--csr-signer") {
      if (!v) return need("a signerName (empty string disables the signer)");
      opts.csr_signer_name = v, ++i;
    } else if (a == "--csr-manual-approval") {
      opts.csr_auto_approve = false;
    } else if (a == "--watch-gone-as-status") {
      opts.watch_gone_as_http_status = true;
    } else if (a == "--bookmark-interval-ms") {
      if (!parse_number(v, 10, 3600000, n)) return need("milliseconds (at least 10)");
      opts.bookmark_interval = std::chrono::milliseconds(n), ++i;
    } else {
      return usage_error("unknown argument \"" + a + "\"");
    }
  }
  if (opts.state_dir.empty()) return usage_error("--state-dir is required");
  if (!custom_bin) {
    opts.bin_path.push_back(self_dir());
#ifdef KUBESIM_NODE_DIR
    opts.bin_path.push_back(KUBESIM_NODE_DIR);
#endif
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  kubesim::Cluster cluster(opts);
  if (esk8s::Status s = cluster.start(); !s) {
    std::cerr << "kubesim: " << s.message() << "\n";
    return 1;
  }
  std::cout << "kubesim: ready " << cluster.url() << std::endl;
  std::cerr << "kubesim: kubeconfig " << cluster.kubeconfig_path() << "\n";
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "kubesim: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", stopping pods\n";
  cluster.stop();
  std::cerr << "kubesim: stopped\n";
  return 0;
}
