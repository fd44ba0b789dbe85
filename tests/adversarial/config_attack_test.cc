// Hostile files, configuration and certificates against real esk8s-node processes: a fault file
// that never ends (/dev/zero) or never opens (a FIFO), a FIFO where the CA certificate should be,
// a static peer list without a peer, configuration values that try to forge log lines, and members
// with certificates the cluster CA did sign but that are too weak (RSA 1024) or could sign others
// (CA:TRUE). Each test asserts the outcome: the node keeps running with bounded memory and answers
// SIGTERM, or refuses to start at once with a sentence naming the file or key; every certificate
// refusal is counted under its reason and the hostile member is never listed.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/adversarial/harness.h"
#include "tls/key_file.h"
#include "tls/x509.h"

using namespace std::chrono_literals;
using namespace esk8s;
using namespace esk8s::adversarial;

namespace {

const std::string kHostile = "esdb-9.esdb.prod.svc.cluster.local";

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

bool live(const ProcessCluster& c, int i) {
  return http_status(c.ip(i), kHttpPort, "/health/live", 2s) == 200;
}

// Whether some line of `log` starts with `prefix` (what a forged record would look like).
bool has_line_starting_with(const std::string& log, const std::string& prefix) {
  for (size_t start = 0; start < log.size();) {
    if (log.compare(start, prefix.size(), prefix) == 0) return true;
    size_t nl = log.find('\n', start);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return false;
}

// A member certificate for `identity` from the cluster CA of `ca_dir`, with `flaws`.
Credential flawed_member_cert(const std::string& ca_dir, const std::string& identity,
                              const tls::LeafFlaws& flaws) {
  auto cert = tls::read_pem_file(ca_dir + "/ca.crt", "CA certificate");
  auto key = tls::read_private_key_file(ca_dir + "/ca.key", "CA key");
  REQUIRE((cert.is_ok() && key.is_ok()));
  tls::CertSpec spec;
  spec.common_name = identity;
  spec.dns_names = {identity};
  auto issued = tls::issue_flawed_for_tests(spec, tls::CertAndKey{cert.value(), key.value()},
                                            tls::KeyType::kEcdsaP256, flaws);
  REQUIRE_MESSAGE(issued.is_ok(), issued.status().to_string());
  return {issued->cert_pem, issued->key_pem};
}

// Presents `cred` to the gossip listener at `ip` and reports whether the node then closed the
// connection (during the handshake, or right after it once it has looked at the certificate).
bool presented_and_closed(const std::string& ip, const Credential& cred) {
  TlsConnection c;
  return !c.connect(ip, kGossipPort, cred, 3s) || c.closed_by_peer(5s);
}

std::string rejections(const std::string& reason) {
  return "esk8s_gossip_tls_rejections_total{reason=\"" + reason + "\"}";
}

}  // namespace

TEST_CASE("a fault file that never ends (/dev/zero) is ignored with one warning and bounded "
          "memory") {
  ProcessCluster cluster(1, 80, {"ESK8S_FAULT_FILE=/dev/zero"});
  cluster.start_all();
  const std::string warning = "ESK8S_FAULT_FILE cannot be used and is ignored";
  REQUIRE_MESSAGE(eventually([&] { return occurrences(cluster.log(0), warning) >= 1; }, 15s, kPoll),
                  cluster.logs());
  CHECK(occurrences(cluster.log(0), "fault file /dev/zero is a character device") == 1);

  // Dozens of heartbeats (each reads the fault file) later: still one warning, memory flat,
  // liveness answered, gossip not isolated.
  long peak_kib = 0;
  int answered = 0;
  eventually(
      [&] {
        peak_kib = std::max(peak_kib, cluster.rss_kib(0));
        answered += live(cluster, 0) ? 1 : 0;
        return answered >= 40;
      },
      20s, kPoll);
  MESSAGE("node RSS peak " << peak_kib << " KiB with ESK8S_FAULT_FILE=/dev/zero");
  INFO(cluster.logs());
  CHECK(answered >= 40);
  CHECK(cluster.running(0));
  CHECK(peak_kib > 0);
  CHECK(peak_kib < kRssCeilingKib);
  CHECK(occurrences(cluster.log(0), warning) == 1);
  CHECK(occurrences(cluster.log(0), "gossip isolated") == 0);
}

TEST_CASE("a FIFO fault file blocks neither the event loop nor SIGTERM") {
  ProcessCluster cluster(1, 81);
  const std::string fifo = cluster.dir() + "/fault";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  cluster.start(0, {"ESK8S_FAULT_FILE=" + fifo});
  REQUIRE_MESSAGE(eventually([&] { return live(cluster, 0); }, 15s, kPoll), cluster.logs());
  REQUIRE_MESSAGE(
      eventually([&] { return occurrences(cluster.log(0), fifo + " is a FIFO") >= 1; }, 10s, kPoll),
      cluster.logs());
  // Still answering after many heartbeats: no read ever blocked on the FIFO.
  int answered = 0;
  eventually([&] { return (answered += live(cluster, 0) ? 1 : 0) >= 10; }, 10s, kPoll);
  CHECK(answered >= 10);

  auto before = std::chrono::steady_clock::now();
  cluster.stop(0, SIGTERM);  // waits up to 10 s before it falls back to SIGKILL
  auto took = std::chrono::steady_clock::now() - before;
  INFO(cluster.logs());
  CHECK(took < 5s);
  CHECK_FALSE(cluster.running(0));
}

TEST_CASE("a FIFO ca.crt fails start at once with an error naming the file") {
  ProcessCluster cluster(1, 82);
  const std::string ca_dir = cluster.dir() + "/fifo-ca";
  REQUIRE(::mkdir(ca_dir.c_str(), 0700) == 0);
  REQUIRE(::mkfifo((ca_dir + "/ca.crt").c_str(), 0644) == 0);
  auto key = tls::read_private_key_file(cluster.ca_dir() + "/ca.key", "CA key");
  REQUIRE(key.is_ok());
  REQUIRE(tls::write_private_key_file(ca_dir + "/ca.key", key.value()));

  cluster.start(0, {"ESK8S_TLS_CA_DIR=" + ca_dir});
  bool exited = eventually([&] { return !cluster.running(0); }, 10s, kPoll);
  INFO(cluster.logs());
  REQUIRE(exited);
  CHECK(cluster.exit_description(0) != "running");
  CHECK(occurrences(cluster.log(0), ca_dir + "/ca.crt is a FIFO, not a regular file") >= 1);
}

TEST_CASE("a static peer list without a peer fails start naming ESK8S_STATIC_PEERS") {
  ProcessCluster cluster(1, 83);
  size_t attempts = 0;
  for (const char* peers : {",", " , "}) {
    CAPTURE(peers);
    ++attempts;
    cluster.start(0, {std::string("ESK8S_STATIC_PEERS=") + peers});
    bool exited = eventually([&] { return !cluster.running(0); }, 10s, kPoll);
    INFO(cluster.logs());
    REQUIRE(exited);
    // The log accumulates over both starts: each one adds its own error.
    const std::string log = cluster.log(0, 1u << 20);
    CHECK(occurrences(log, "ESK8S_STATIC_PEERS=\"" + std::string(peers) + "\" lists no peer") ==
          1);
    CHECK(occurrences(log, "lists no peer") == attempts);
    CHECK(http_status(cluster.ip(0), kHttpPort, "/health/ready", 1s) == -1);
  }
}

TEST_CASE("configuration values with a newline or an escape sequence cannot forge a log line") {
  const std::string forged = "2030-01-01T00:00:00.000Z info runtime: FORGED member joined";
  ProcessCluster cluster(1, 83);
  // An unknown environment variable is a warning the running node logs through its logger.
  cluster.start(0, {"ESK8S_NOTE\n" + forged + "\x1b[2J=1"});
  REQUIRE_MESSAGE(eventually([&] { return live(cluster, 0); }, 15s, kPoll), cluster.logs());
  REQUIRE_MESSAGE(
      eventually([&] { return occurrences(cluster.log(0), "ESK8S_NOTE\\n2030-01-01") >= 1; }, 10s, kPoll),
      cluster.logs());
  std::string log = cluster.log(0, 1u << 20);
  CHECK_FALSE(has_line_starting_with(log, forged));
  CHECK(occurrences(log, "\x1b") == 0);
  CHECK(occurrences(log, "FORGED member joined\\x1b[2J") >= 1);
  cluster.stop(0, SIGKILL);

  // An invalid identity key fails start; its error quotes the value escaped.
  cluster.start(0, {"ESK8S_SERVICE=esdb\n" + forged + "\r\xff"});
  REQUIRE(eventually([&] { return !cluster.running(0); }, 10s, kPoll));
  log = cluster.log(0, 1u << 20);
  INFO(log);
  CHECK_FALSE(has_line_starting_with(log, forged));
  CHECK(occurrences(log, "ESK8S_SERVICE=\"esdb\\n2030-01-01T00:00:00.000Z info runtime: FORGED "
                         "member joined\\r\\xff\"") >= 1);
}

TEST_CASE("members with an RSA-1024 or a CA:TRUE certificate from the cluster CA are refused, "
          "counted by reason and never listed") {
  ProcessCluster cluster(1, 84);
  cluster.start_all();
  // Converged: the gossip listener is up, not only the HTTP endpoints.
  REQUIRE_MESSAGE(cluster.wait_converged(30s), cluster.logs());

  struct Attack {
    const char* reason;
    tls::LeafFlaws flaws;
  };
  tls::LeafFlaws weak;
  weak.rsa_bits = 1024;
  tls::LeafFlaws ca_leaf;
  ca_leaf.is_ca = true;
  for (const Attack& attack : {Attack{"weak_key", weak}, Attack{"leaf_is_ca", ca_leaf}}) {
    const std::string reason = attack.reason;
    CAPTURE(reason);
    Credential cred = flawed_member_cert(cluster.ca_dir(), kHostile, attack.flaws);
    // With TLS 1.3 the client's handshake completes before the node has looked at its
    // certificate; the node then closes the connection and counts the refusal.
    CHECK(presented_and_closed(cluster.ip(0), cred));
    bool counted = eventually(
        [&] { return cluster.metric(0, rejections(attack.reason)).value_or(0) >= 1; }, 10s, kPoll);
    INFO(cluster.logs());
    CHECK(counted);
    CHECK(cluster.view(0).count(kHostile) == 0);
  }
  // Nothing else was refused under another reason, and the node is unharmed.
  CHECK(cluster.metric_sum(0, "esk8s_gossip_tls_rejections_total") ==
        cluster.metric(0, rejections("weak_key")).value_or(0) +
            cluster.metric(0, rejections("leaf_is_ca")).value_or(0));
  CHECK(cluster.running(0));
  CHECK(live(cluster, 0));
  CHECK(cluster.view(0).count(cluster.identity(0)) == 1);
}
