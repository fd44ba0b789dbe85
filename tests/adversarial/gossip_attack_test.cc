// A hostile member against real esk8s-node processes over real mutual-TLS sockets. With a
// certificate the cluster CA issued (for esdb-9, which the allow-list accepts) it speaks the
// gossip protocol correctly but lies: it announces another member's identity at its own address,
// names every member dead at incarnation 2^64-1, floods a push-pull with made-up identities and
// asks members to probe arbitrary host:ports. Without such a certificate it gets nothing through.
// Each test asserts the outcome: nobody crashed, membership and addresses unchanged, nobody
// superseded or dead, liveness answered, memory bounded, each refusal counted with its reason.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <span>
#include <map>
#include <string>
#include <vector>

#include "gossip/claim.h"
#include "gossip/tls_claims.h"
#include "gossip/tls_snapshot.h"
#include "gossip/wire.h"
#include "tests/adversarial/harness.h"

using namespace std::chrono_literals;
using namespace esk8s;
using namespace esk8s::adversarial;
using gossip::Envelope;
using gossip::MemberRecord;
using gossip::MemberState;

namespace {

constexpr int kSubnet = 90;
const std::string kHostile = "esdb-9.esdb.prod.svc.cluster.local";

class HostileMember {
 public:
  HostileMember(const ProcessCluster& c, Credential cred) : cluster_(c.cluster_name()) {
    auto tls = gossip::TlsSnapshot::make({cred.cert_pem, cred.key_pem, cred.cert_pem});
    REQUIRE(tls.is_ok());
    // Signs as esdb-9 with esdb-9's own key: the strongest thing an honest-looking member has.
    signer_ = std::make_unique<gossip::TlsClaimAuthority>(
        tls.value(), [](const std::string&, const std::string&, bool) { return gossip::PeerCheck{}; });
    cred_ = std::move(cred);
  }

  bool connect(const std::string& ip) { return conn_.connect(ip, kGossipPort, cred_, 3s); }
  TlsConnection& connection() { return conn_; }

  Envelope envelope(gossip::Body body, std::vector<MemberRecord> updates = {}) const {
    Envelope e;
    e.cluster = cluster_;
    e.from = kHostile;
    e.from_instance = gossip::InstanceId{1, 1};
    e.body = std::move(body);
    e.updates = std::move(updates);
    return e;
  }
  bool send(const Envelope& e) {
    std::vector<uint8_t> bytes = gossip::encode(e);
    return conn_.write_frame(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  // The node's table with its members' real proofs: a join push-pull and its reply.
  std::vector<MemberRecord> fetch_table() {
    if (!send(envelope(gossip::PushPull{true, false, {}}))) return {};
    for (int i = 0; i < 20; ++i) {
      auto frame = conn_.read_frame(3s);
      if (!frame) return {};
      auto e = gossip::decode(std::span(reinterpret_cast<const uint8_t*>(frame->data()), frame->size()));
      if (!e.is_ok()) continue;
      if (const auto* pp = std::get_if<gossip::PushPull>(&e.value().body)) return pp->members;
    }
    return {};
  }
  // `r` re-signed with esdb-9's own key (a valid signature, by the wrong member).
  MemberRecord signed_by_me(MemberRecord r) {
    gossip::ClaimAuthority::Proof p = signer_->sign(gossip::signed_claim_bytes(cluster_, r));
    r.credential = p.credential;
    r.signature = p.signature;
    return r;
  }

 private:
  std::string cluster_;
  Credential cred_;
  std::unique_ptr<gossip::TlsClaimAuthority> signer_;
  TlsConnection conn_;
};

const MemberRecord* find(const std::vector<MemberRecord>& table, const std::string& id) {
  for (const MemberRecord& r : table) {
    if (r.identity == id) return &r;
  }
  return nullptr;
}

// A TCP listener on 127.0.0.1 that only records whether anybody tried to connect.
class Listener {
 public:
  Listener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
  }
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const { return port_; }
  bool connection_pending() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("a member with a cluster certificate cannot speak for others, kill them or grow the table") {
  ProcessCluster c(3, kSubnet);
  c.start_all();
  REQUIRE_MESSAGE(c.wait_converged(30s), c.logs());
  const auto before = identities_at(c, 0);
  REQUIRE(before.size() == 3);

  HostileMember h(c, issue_member_cert(c.ca_dir(), kHostile));
  REQUIRE_MESSAGE(h.connect(c.ip(0)), h.connection().error());
  const std::vector<MemberRecord> table = h.fetch_table();
  REQUIRE(table.size() == 3);
  const MemberRecord victim = *find(table, c.identity(1));
  const MemberRecord target = *find(table, c.identity(0));

  // 1. Hijack esdb-1: a newer instance (all 0xff: a lockout that would survive restarts) at the
  //    hostile address, signed with the hostile key, and the same with esdb-1's replayed proof.
  MemberRecord hijack = victim;
  hijack.instance = gossip::InstanceId{UINT64_MAX, UINT64_MAX};
  hijack.address = "127.0.90.50";
  MemberRecord replayed = hijack;
  replayed.instance = victim.instance;
  replayed.incarnation = victim.incarnation + 1;
  REQUIRE(h.send(h.envelope(gossip::Ack{0}, {h.signed_by_me(hijack), replayed})));
  // The same claims about the receiver itself: superseded only by a signed newer instance.
  MemberRecord self_hijack = target;
  self_hijack.instance = gossip::InstanceId{UINT64_MAX, UINT64_MAX};
  REQUIRE(h.send(h.envelope(gossip::Ack{0}, {h.signed_by_me(self_hijack)})));

  // 2. Every member dead at incarnation 2^64-1 (a refutation would wrap to 0 and lose).
  std::vector<MemberRecord> deaths;
  for (const MemberRecord& r : table) {
    MemberRecord d = r;
    d.state = MemberState::kDead;
    d.incarnation = UINT64_MAX;
    d.accuser = kHostile;
    deaths.push_back(d);
  }
  REQUIRE(h.send(h.envelope(gossip::Ack{0}, deaths)));

  // 3. A push-pull of 16,384 made-up identities: invalid names, then valid names it has no
  //    certificate for.
  std::vector<MemberRecord> junk;
  const std::vector<std::string> bad = {"UPPER.esdb.prod.svc.cluster.local", "trailing.dot.",
                                        "<script>alert(1)</script>", "new\nline", "\xff\xfe\xfd"};
  for (size_t i = 0; i < gossip::kMaxPushPullMembers - 200; ++i) {
    MemberRecord r = victim;
    r.identity = std::to_string(i) + bad[i % bad.size()];
    r.meta.clear();
    r.credential.clear();
    r.signature.clear();
    junk.push_back(r);
  }
  for (int i = 0; i < 200; ++i) {
    MemberRecord r = victim;
    r.identity = "ghost-" + std::to_string(i) + ".esdb.prod.svc.cluster.local";
    r.meta.clear();
    junk.push_back(h.signed_by_me(r));
  }
  REQUIRE(h.send(h.envelope(gossip::PushPull{false, false, junk})));

  // 4. Make esdb-0 dial somewhere: an unsigned address of a real member, and a stranger. Both
  //    point at a listener of ours, which must never see a connection attempt. (Real members may
  //    have indirect probes refused too under load, so the counter only has to grow by two.)
  Listener bait;
  REQUIRE(bait.port() != 0);
  const double refused_before =
      c.metric(0, "esk8s_gossip_indirect_probes_refused_total").value_or(0);
  REQUIRE(h.send(h.envelope(gossip::IndirectPing{7, victim.identity, "127.0.0.1", bait.port(), true})));
  REQUIRE(h.send(h.envelope(gossip::IndirectPing{8, "stranger.example", "127.0.0.1", bait.port(), true})));

  // Each refusal counted by reason on the node attacked.
  auto rejected = [&](const char* reason) {
    return c.metric(0, std::string("esk8s_gossip_claims_rejected_total{reason=\"") + reason + "\"}")
        .value_or(-1);
  };
  REQUIRE_MESSAGE(eventually([&] { return rejected("invalid_identity") >= double(junk.size() - 200); },
                             10s, kPoll),
                  c.log(0));
  CHECK(rejected("not_allowed") >= 1 + 200);  // the hijack + every ghost
  CHECK(rejected("bad_signature") >= 1 + 2);  // the replayed proof + two deaths of peers
  CHECK(rejected("forged_self") >= 1);        // its own death at 2^64-1
  double refused = 0;
  CHECK_MESSAGE(eventually(
                    [&] {
                      refused = c.metric(0, "esk8s_gossip_indirect_probes_refused_total").value_or(0);
                      return refused >= refused_before + 2;
                    },
                    10s, kPoll),
                "indirect probes refused: " << refused << ", before the attack: " << refused_before);

  // Give the attack the time to spread it would have needed had it worked: every member sends
  // three rounds of probes (each probe and ack carries the sender's updates to another member).
  CHECK_MESSAGE(wait_gossip_rounds(c, 3, 20s), c.logs());
  CHECK_MESSAGE(!bait.connection_pending(), "esk8s-0 dialled the address an attacker named");
  check_cluster_unharmed(c, before, kRssCeilingKib);
  for (int i = 0; i < c.size(); ++i) {
    CHECK(c.log(i, 1u << 20).find("a newer process claims this node's identity") == std::string::npos);
  }

  // Restarting the victim works as always: its new instance replaces the old one everywhere.
  c.stop(1, SIGTERM);
  c.start(1);
  REQUIRE_MESSAGE(c.wait_converged(30s), c.logs());
  CHECK(identities_at(c, 0)[c.identity(1)].first != before.at(c.identity(1)).first);
}

TEST_CASE("a member without a cluster certificate gets no claim through and is counted") {
  ProcessCluster c(3, kSubnet + 1);
  c.start_all();
  REQUIRE_MESSAGE(c.wait_converged(30s), c.logs());
  const auto before = identities_at(c, 0);

  // A certificate for an allowed identity, from another CA.
  HostileMember foreign(c, foreign_member_cert(kHostile));
  HostileMember legit(c, issue_member_cert(c.ca_dir(), kHostile));
  REQUIRE(legit.connect(c.ip(0)));
  const std::vector<MemberRecord> table = legit.fetch_table();
  REQUIRE(table.size() == 3);
  MemberRecord hijack = *find(table, c.identity(1));
  hijack.instance = gossip::InstanceId{UINT64_MAX, UINT64_MAX};
  hijack.address = "127.0.91.50";

  if (foreign.connect(c.ip(0))) {  // TLS completes; the verdict right after closes it
    foreign.send(foreign.envelope(gossip::Ack{0}, {foreign.signed_by_me(hijack)}));
    CHECK(foreign.connection().closed_by_peer(5s));
  }
  CHECK(eventually(
      [&] {
        return c.metric(0, "esk8s_gossip_tls_rejections_total{reason=\"untrusted_issuer\"}")
                   .value_or(0) >= 1;
      },
      5s, kPoll));
  // No certificate at all: the handshake fails, or completes and the verdict closes it.
  const double bare_refusals_before =
      c.metric(0, "esk8s_gossip_tls_handshake_failures_total").value_or(0) +
      c.metric(0, "esk8s_gossip_tls_rejections_total{reason=\"no_certificate\"}").value_or(0);
  TlsConnection bare;
  if (bare.connect(c.ip(0), kGossipPort, std::nullopt, 3s)) CHECK(bare.closed_by_peer(5s));
  CHECK(eventually(
      [&] {
        return c.metric(0, "esk8s_gossip_tls_handshake_failures_total").value_or(0) +
                   c.metric(0, "esk8s_gossip_tls_rejections_total{reason=\"no_certificate\"}")
                       .value_or(0) >=
               bare_refusals_before + 1;
      },
      5s, kPoll));

  // The forged claim would have spread within three probe rounds of every member.
  CHECK_MESSAGE(wait_gossip_rounds(c, 3, 20s), c.logs());
  check_cluster_unharmed(c, before, kRssCeilingKib);
}
