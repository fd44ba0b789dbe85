// The dns discovery source: the wire codec against well-formed and hostile messages, and
// resolution against a tiny DNS server on 127.0.0.1 (UDP and TCP on one port) run by the test.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/logger.h"
#include "discovery/dns_message.h"
#include "discovery/dns_source.h"
#include "fake_env.h"
#include "log_lines.h"
#include "test_util.h"

using namespace esk8s;
using namespace esk8s::discovery;
using namespace std::chrono_literals;

namespace {

// ---- wire helpers -------------------------------------------------------------------------

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}

uint16_t get16(std::string_view b, size_t pos) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[pos]) << 8) |
                               static_cast<uint8_t>(b[pos + 1]));
}

std::string header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                   uint16_t ar) {
  std::string h;
  put16(h, id);
  put16(h, flags);
  put16(h, qd);
  put16(h, an);
  put16(h, ns);
  put16(h, ar);
  return h;
}

constexpr uint16_t kResponseFlags = 0x8180;  // QR, RD, RA

struct TestRecord {
  std::string name;
  uint16_t type = 0;
  uint32_t ttl = 30;
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;   // SRV
  std::string address;  // A/AAAA
  std::string raw;      // RDATA of other types
};

TestRecord srv(std::string name, uint16_t port, std::string target, uint16_t prio = 0,
               uint16_t weight = 100) {
  TestRecord r;
  r.name = std::move(name);
  r.type = kDnsTypeSrv;
  r.port = port;
  r.target = std::move(target);
  r.priority = prio;
  r.weight = weight;
  return r;
}

TestRecord addr(std::string name, std::string address) {
  TestRecord r;
  r.name = std::move(name);
  r.type = address.find(':') == std::string::npos ? kDnsTypeA : kDnsTypeAaaa;
  r.address = std::move(address);
  return r;
}

// Builds responses, compressing names (RFC 1035 4.1.4) unless told not to.
class ResponseBuilder {
 public:
  explicit ResponseBuilder(uint16_t id, int rcode = 0) : id_(id), rcode_(rcode) {}
  ResponseBuilder& truncated() {
    tc_ = true;
    return *this;
  }
  ResponseBuilder& no_compression() {
    compress_ = false;
    return *this;
  }
  ResponseBuilder& question(std::string name, uint16_t type) {
    qname_ = std::move(name);
    qtype_ = type;
    has_question_ = true;
    return *this;
  }
  ResponseBuilder& answer(TestRecord r) {
    an_.push_back(std::move(r));
    return *this;
  }
  ResponseBuilder& authority(TestRecord r) {
    ns_.push_back(std::move(r));
    return *this;
  }
  ResponseBuilder& additional(TestRecord r) {
    ar_.push_back(std::move(r));
    return *this;
  }

  std::string bytes() const {
    offsets_.clear();
    std::string out =
        header(id_, static_cast<uint16_t>(kResponseFlags | (tc_ ? 0x0200 : 0) | rcode_),
               has_question_ ? 1 : 0, static_cast<uint16_t>(an_.size()),
               static_cast<uint16_t>(ns_.size()), static_cast<uint16_t>(ar_.size()));
    if (has_question_) {
      put_name(out, qname_);
      put16(out, qtype_);
      put16(out, 1);
    }
    for (const auto* sec : {&an_, &ns_, &ar_}) {
      for (const TestRecord& r : *sec) put_record(out, r);
    }
    return out;
  }

 private:
  void put_name(std::string& out, std::string name) const {
    if (!name.empty() && name.back() == '.') name.pop_back();
    std::vector<std::string> labels;
    size_t start = 0;
    while (!name.empty()) {
      size_t dot = name.find('.', start);
      labels.push_back(name.substr(start, dot == std::string::npos ? dot : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    for (size_t i = 0; i < labels.size(); ++i) {
      std::string suffix;
      for (size_t j = i; j < labels.size(); ++j) suffix += labels[j] + ".";
      auto it = offsets_.find(suffix);
      if (compress_ && it != offsets_.end()) {
        put16(out, static_cast<uint16_t>(0xc000 | it->second));
        return;
      }
      if (out.size() < 0x3fff) offsets_[suffix] = out.size();
      out.push_back(static_cast<char>(labels[i].size()));
      out += labels[i];
    }
    out.push_back('\0');
  }

  void put_record(std::string& out, const TestRecord& r) const {
    put_name(out, r.name);
    put16(out, r.type);
    put16(out, 1);
    put32(out, r.ttl);
    const size_t len_at = out.size();
    put16(out, 0);
    const size_t start = out.size();
    if (r.type == kDnsTypeA || r.type == kDnsTypeAaaa) {
      unsigned char buf[16];
      const int family = r.type == kDnsTypeA ? AF_INET : AF_INET6;
      if (inet_pton(family, r.address.c_str(), buf) != 1) std::abort();  // a broken test
      out.append(reinterpret_cast<const char*>(buf), r.type == kDnsTypeA ? 4 : 16);
    } else if (r.type == kDnsTypeSrv) {
      put16(out, r.priority);
      put16(out, r.weight);
      put16(out, r.port);
      put_name(out, r.target);
    } else {
      out += r.raw;
    }
    const size_t len = out.size() - start;
    out[len_at] = static_cast<char>(len >> 8);
    out[len_at + 1] = static_cast<char>(len & 0xff);
  }

  uint16_t id_;
  int rcode_;
  bool tc_ = false, compress_ = true, has_question_ = false;
  std::string qname_;
  uint16_t qtype_ = 0;
  std::vector<TestRecord> an_, ns_, ar_;
  mutable std::map<std::string, size_t> offsets_;
};

// Parses `bytes` from an exactly sized heap buffer, so ASan catches any read past the end.
Result<DnsResponse> parse_exact(std::string_view bytes) {
  std::unique_ptr<char[]> buf(new char[bytes.size() == 0 ? 1 : bytes.size()]);
  std::copy(bytes.begin(), bytes.end(), buf.get());
  return parse_dns_response(std::string_view(buf.get(), bytes.size()));
}

std::string refusal(std::string_view bytes) {
  Result<DnsResponse> r = parse_exact(bytes);
  if (r) return "(accepted)";
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

// ---- the test DNS server ------------------------------------------------------------------

struct Query {
  uint16_t id = 0;
  std::string name;  // without the trailing dot
  uint16_t qtype = 0;
};

std::optional<Query> parse_query(std::string_view b) {
  if (b.size() < 12) return std::nullopt;
  Query q;
  q.id = get16(b, 0);
  size_t pos = 12;
  while (true) {
    if (pos >= b.size()) return std::nullopt;
    const size_t len = static_cast<uint8_t>(b[pos]);
    if (len == 0) break;
    if (len > 63 || pos + 1 + len > b.size()) return std::nullopt;
    if (!q.name.empty()) q.name += '.';
    q.name.append(b.substr(pos + 1, len));
    pos += 1 + len;
  }
  if (pos + 5 > b.size()) return std::nullopt;
  q.qtype = get16(b, pos + 1);
  return q;
}

std::string read_n(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r <= 0) return out.substr(0, got);
    got += static_cast<size_t>(r);
  }
  return out;
}

// Answers queries on 127.0.0.1:<port> over UDP and TCP with what `handler` returns: no
// datagram for an empty vector, several datagrams for several strings (TCP sends the first).
class TestDnsServer {
 public:
  using Handler = std::function<std::vector<std::string>(const Query&, bool tcp)>;

  explicit TestDnsServer(Handler handler) : handler_(std::move(handler)) {
    for (int attempt = 0; attempt < 50 && port_ == 0; ++attempt) {
      int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      if (u < 0 || ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        if (u >= 0) ::close(u);
        continue;
      }
      int t = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      ::setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (t >= 0 && ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::listen(t, 8) == 0) {
        udp_ = u;
        tcp_ = t;
        port_ = ntohs(a.sin_port);
      } else {
        ::close(u);
        if (t >= 0) ::close(t);
      }
    }
    REQUIRE(port_ != 0);
    REQUIRE(::pipe(wake_) == 0);
    thread_ = std::thread([this] { loop(); });
  }
  ~TestDnsServer() { stop(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Closes the sockets: afterwards the port refuses.
  void stop() {
    if (!thread_.joinable()) return;
    CHECK(::write(wake_[1], "x", 1) == 1);
    thread_.join();
    for (int fd : {udp_, tcp_, wake_[0], wake_[1]}) ::close(fd);
  }

  std::atomic<int> udp_queries{0}, tcp_queries{0};

 private:
  void loop() {
    while (true) {
      pollfd p[3] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(p, 3, 1000) < 0) continue;
      if (p[2].revents != 0) return;
      if (p[0].revents & POLLIN) {
        char buf[4096];
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        ssize_t n = ::recvfrom(udp_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        std::optional<Query> q;
        if (n > 0) q = parse_query(std::string_view(buf, static_cast<size_t>(n)));
        if (q) {
          ++udp_queries;
          for (const std::string& r : handler_(*q, false)) {
            ::sendto(udp_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
          }
        }
      }
      if (p[1].revents & POLLIN) {
        int c = ::accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          serve_tcp(c);
          ::close(c);
        }
      }
    }
  }

  void serve_tcp(int c) {
    timeval tv{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string len = read_n(c, 2);
    if (len.size() != 2) return;
    std::string body = read_n(c, get16(len, 0));
    std::optional<Query> q = parse_query(body);
    if (!q) return;
    ++tcp_queries;
    std::vector<std::string> answers = handler_(*q, true);
    if (answers.empty()) return;
    std::string frame;
    put16(frame, static_cast<uint16_t>(answers[0].size()));
    frame += answers[0];
    size_t sent = 0;
    while (sent < frame.size()) {
      ssize_t r = ::send(c, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (r <= 0) return;
      sent += static_cast<size_t>(r);
    }
  }

  Handler handler_;
  int udp_ = -1, tcp_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
};

// A bound UDP socket nobody reads: queries to it are never answered.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Datagrams received so far (drains them).
  int drain() {
    int n = 0;
    char buf[512];
    while (::recv(fd_, buf, sizeof buf, 0) >= 0) ++n;
    return n;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// ---- a cluster as DNS publishes it --------------------------------------------------------

const std::string kBase = "esdb.prod.svc.cluster.local";
const std::string kSrvName = "_gossip._tcp." + kBase;

std::string member(const std::string& pod) { return pod + "." + kBase; }

struct Member {
  std::string pod, address;
  uint16_t port = 2114;
};

struct ClusterDns {
  std::vector<Member> members;
  bool srv_exists = true;
  bool additionals = true;
  bool tc_over_udp = false;
  std::set<std::string> no_address;  // pods whose name has no A record
  int rotation = 0;                  // rotates the record order per answer

  std::vector<std::string> answer(const Query& q, bool tcp) {
    std::vector<Member> ms = members;
    if (!ms.empty()) std::rotate(ms.begin(), ms.begin() + (rotation++ % ms.size()), ms.end());
    if (tc_over_udp && !tcp) {
      return {ResponseBuilder(q.id).truncated().question(q.name, q.qtype).bytes()};
    }
    if (q.name == kSrvName && q.qtype == kDnsTypeSrv) {
      if (!srv_exists)
        return {ResponseBuilder(q.id, kDnsRcodeNxDomain).question(q.name, q.qtype).bytes()};
      ResponseBuilder b(q.id);
      b.question(q.name, q.qtype);
      for (const Member& m : ms) b.answer(srv(kSrvName, m.port, member(m.pod)));
      if (additionals) {
        for (const Member& m : ms) b.additional(addr(member(m.pod), m.address));
      }
      return {b.bytes()};
    }
    ResponseBuilder b(q.id);
    b.question(q.name, q.qtype);
    bool exists = false;
    for (const Member& m : ms) {
      const bool v6 = m.address.find(':') != std::string::npos;
      const uint16_t type = v6 ? kDnsTypeAaaa : kDnsTypeA;
      if (q.name == kBase || (q.name == member(m.pod) && !no_address.count(m.pod))) {
        exists = true;
        if (q.qtype == type) b.answer(addr(q.name, m.address));
      }
    }
    if (!exists)
      return {ResponseBuilder(q.id, kDnsRcodeNxDomain).question(q.name, q.qtype).bytes()};
    return {b.bytes()};
  }
};

DnsSourceOptions options(const std::vector<std::string>& nameservers) {
  DnsSourceOptions o;
  o.service = "esdb";
  o.namespace_name = "prod";
  o.cluster_domain = "cluster.local";
  o.self_identity = member("esdb-0");
  o.nameservers = nameservers;
  o.timeout = 300ms;
  o.interval = 50ms;
  return o;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

using esk8s::test::eventually;
using esk8s::test::FakeEnv;


}  // namespace

// ---- codec --------------------------------------------------------------------------------

TEST_CASE("dns codec: a query carries the id, RD, one question, the labels, type and class IN") {
  const std::string q = encode_dns_query(0x1234, "a.bc", kDnsTypeSrv);
  const std::string want = header(0x1234, 0x0100, 1, 0, 0, 0) +
                           std::string(
                               "\x01"
                               "a\x02"
                               "bc\x00",
                               6) +
                           std::string("\x00\x21\x00\x01", 4);
  CHECK(q == want);
  CHECK(encode_dns_query(0x1234, "a.bc.", kDnsTypeSrv) == want);
  CHECK(encode_dns_query(7, ".", kDnsTypeA).size() == 12 + 1 + 4);
  CHECK(encode_dns_query(7, std::string(63, 'x') + ".y", kDnsTypeA).size() == 12 + 64 + 3 + 4);
  // Names that cannot be encoded.
  CHECK(encode_dns_query(7, std::string(64, 'x') + ".y", kDnsTypeA).empty());
  CHECK(encode_dns_query(7, "a..b", kDnsTypeA).empty());
  CHECK(encode_dns_query(7, ".a", kDnsTypeA).empty());
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'x') + ".";
  CHECK(encode_dns_query(7, long_name, kDnsTypeA).empty());
  // A query is not a response.
  CHECK(contains(refusal(q), "QR bit is clear"));
}

TEST_CASE("dns codec: responses round-trip with and without name compression") {
  for (bool compress : {true, false}) {
    CAPTURE(compress);
    ResponseBuilder b(0xbeef);
    if (!compress) b.no_compression();
    TestRecord soa;
    soa.name = "cluster.local";
    soa.type = 6;
    soa.raw = std::string(22, '\x01');
    b.question(kSrvName, kDnsTypeSrv)
        .answer(srv(kSrvName, 2114, member("esdb-1"), 0, 50))
        .answer(srv(kSrvName, 2115, member("esdb-2"), 1, 50))
        .authority(soa)
        .additional(addr(member("esdb-1"), "10.0.0.1"))
        .additional(addr(member("esdb-2"), "fd00::2"));
    const std::string bytes = b.bytes();
    if (compress) CHECK(bytes.size() < ResponseBuilder(b).no_compression().bytes().size());
    Result<DnsResponse> r = parse_exact(bytes);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    CHECK(r->id == 0xbeef);
    CHECK(r->rcode == 0);
    CHECK_FALSE(r->truncated);
    REQUIRE(r->answers.size() == 2);
    CHECK(r->answers[0].name == kSrvName + ".");
    CHECK(r->answers[0].type == kDnsTypeSrv);
    CHECK(r->answers[0].ttl == 30);
    CHECK(r->answers[0].priority == 0);
    CHECK(r->answers[0].weight == 50);
    CHECK(r->answers[0].port == 2114);
    CHECK(r->answers[0].target == member("esdb-1") + ".");
    CHECK(r->answers[1].priority == 1);
    CHECK(r->answers[1].port == 2115);
    CHECK(r->answers[1].target == member("esdb-2") + ".");
    REQUIRE(r->additionals.size() == 2);
    CHECK(r->additionals[0].name == member("esdb-1") + ".");
    CHECK(r->additionals[0].type == kDnsTypeA);
    CHECK(r->additionals[0].address == "10.0.0.1");
    CHECK(r->additionals[1].type == kDnsTypeAaaa);
    CHECK(r->additionals[1].address == "fd00::2");
  }
}

TEST_CASE("dns codec: rcode and TC are reported, odd label octets are escaped") {
  Result<DnsResponse> nx = parse_exact(ResponseBuilder(1, kDnsRcodeNxDomain).truncated().bytes());
  REQUIRE(nx.is_ok());
  CHECK(nx->rcode == kDnsRcodeNxDomain);
  CHECK(nx->truncated);
  CHECK(dns_rcode_name(kDnsRcodeNxDomain) == "NXDOMAIN");
  CHECK(dns_rcode_name(9) == "RCODE 9");

  // One answer whose owner name has labels "a.b" and "\0x" and whose class is not IN.
  std::string m = header(2, kResponseFlags, 0, 1, 0, 0);
  m += std::string(
      "\x03"
      "a.b"
      "\x02\x00x\x00",
      8);
  m += std::string("\x00\x01\x00\x03\x00\x00\x00\x05\x00\x02zz", 12);  // A, class CH, rdlength 2
  Result<DnsResponse> r = parse_exact(m);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->answers.size() == 1);
  CHECK(r->answers[0].name == "a\\.b.\\000x.");
  CHECK(r->answers[0].ttl == 5);
  CHECK(r->answers[0].address.empty());  // not class IN: not interpreted
}

TEST_CASE("dns codec: hostile inputs are refused, each with its own message") {
  const std::string qtail("\x00\x01\x00\x01", 4);
  std::map<std::string, std::string> cases;  // name -> message
  cases["truncated header"] = refusal(std::string("\x12\x34\x81", 3));
  cases["oversized"] = refusal(std::string(70000, '\0'));
  cases["compression loop"] =
      refusal(header(1, kResponseFlags, 1, 0, 0, 0) + std::string("\xc0\x0c", 2) + qtail);
  cases["two-pointer loop"] =
      refusal(header(1, kResponseFlags, 1, 0, 0, 0) + std::string("\xc0\x0e\xc0\x0c", 4) + qtail);
  cases["pointer past end"] =
      refusal(header(1, kResponseFlags, 1, 0, 0, 0) + std::string("\xc0\xff", 2) + qtail);
  cases["pointer cut off"] = refusal(header(1, kResponseFlags, 1, 0, 0, 0) + std::string("\x03"
                                                                                         "abc\xc0",
                                                                                         5));
  cases["huge counts"] = refusal(header(1, kResponseFlags, 0, 65535, 0, 0) + std::string(64, '\0'));
  cases["counts beyond size"] =
      refusal(header(1, kResponseFlags, 0, 10, 0, 0) + std::string(20, '\0'));
  cases["label > 63"] = refusal(header(1, kResponseFlags, 1, 0, 0, 0) + "\x40" +
                                std::string(64, 'a') + std::string(1, '\0') + qtail);
  cases["label past end"] =
      refusal(header(1, kResponseFlags, 1, 0, 0, 0) + "\x10" + std::string("abcdef"));
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += "\x3f" + std::string(63, 'a');
  cases["name > 255"] =
      refusal(header(1, kResponseFlags, 1, 0, 0, 0) + long_name + std::string(1, '\0') + qtail);
  cases["question cut off"] =
      refusal(header(1, kResponseFlags, 1, 0, 0, 0) + std::string("\x03"
                                                                  "abc\x00\x00",
                                                                  6));
  cases["record header cut off"] = refusal(header(1, kResponseFlags, 0, 1, 0, 0) +
                                           std::string("\x05hello\x00\x00\x01\x00\x01", 11));
  std::string a_rr = std::string("\x00\x00\x01\x00\x01\x00\x00\x00\x1e", 9);
  cases["rdata past end"] =
      refusal(header(1, kResponseFlags, 0, 1, 0, 0) + a_rr + std::string("\x00\x64\x01\x02", 4));
  cases["A of 5 octets"] = refusal(header(1, kResponseFlags, 0, 1, 0, 0) + a_rr +
                                   std::string("\x00\x05\x01\x02\x03\x04\x05", 7));
  cases["SRV too short"] =
      refusal(header(1, kResponseFlags, 0, 1, 0, 0) +
              std::string("\x00\x00\x21\x00\x01\x00\x00\x00\x1e\x00\x03xyz", 14));
  cases["SRV target overruns"] =
      refusal(header(1, kResponseFlags, 0, 1, 0, 0) +
              std::string("\x00\x00\x21\x00\x01\x00\x00\x00\x1e\x00\x08", 11) +
              std::string("\x00\x00\x00\x00\x08\x42\x03"
                          "abc\x00",
                          11));
  cases["query"] = refusal(encode_dns_query(1, "a", kDnsTypeA));

  CHECK(contains(cases["truncated header"], "truncated header"));
  CHECK(contains(cases["oversized"], "more than the 65535-byte maximum"));
  CHECK(contains(cases["compression loop"], "compression loop"));
  CHECK(contains(cases["two-pointer loop"], "compression loop"));
  CHECK(contains(cases["pointer past end"], "points to offset 255, past the end"));
  CHECK(contains(cases["pointer cut off"], "cut off by the end"));
  CHECK(contains(cases["huge counts"], "more than the 1000 accepted"));
  CHECK(contains(cases["counts beyond size"], "which need at least"));
  CHECK(contains(cases["label > 63"], "length byte 64"));
  CHECK(contains(cases["label past end"], "runs past the end"));
  CHECK(contains(cases["name > 255"], "longer than 255 octets"));
  CHECK(contains(cases["question cut off"], "type and class"));
  CHECK(contains(cases["record header cut off"], "record header"));
  CHECK(contains(cases["rdata past end"], "RDATA of 100 octets"));
  CHECK(contains(cases["A of 5 octets"], "expected 4"));
  CHECK(contains(cases["SRV too short"], "at least 7"));
  CHECK(contains(cases["SRV target overruns"], "SRV target ends at offset"));
  CHECK(contains(cases["query"], "QR bit"));
  std::set<std::string> distinct;
  for (const auto& [name, msg] : cases) {
    CAPTURE(name);
    CAPTURE(msg);
    CHECK(contains(msg, "malformed DNS response"));
    distinct.insert(msg);
  }
  // The two loop shapes share a message; every other case has its own.
  CHECK(distinct.size() == cases.size() - 1);
}

TEST_CASE("dns codec: every prefix and random corruption of a response is handled safely") {
  ResponseBuilder b(9);
  b.question(kSrvName, kDnsTypeSrv);
  for (int i = 0; i < 4; ++i) {
    const std::string pod = "esdb-" + std::to_string(i);
    b.answer(srv(kSrvName, 2114, member(pod))).additional(addr(member(pod), "10.0.0.1"));
  }
  const std::string good = b.bytes();
  REQUIRE(parse_exact(good).is_ok());
  for (size_t n = 0; n < good.size(); ++n) CHECK_FALSE(parse_exact(good.substr(0, n)).is_ok());
  std::mt19937 rng(42);
  for (int i = 0; i < 3000; ++i) {
    std::string m = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
    Result<DnsResponse> r = parse_exact(m);  // ASan/UBSan watch for over-reads
    if (r) CHECK(r->answers.size() + r->additionals.size() <= 1000);
  }
}

// ---- resolution ---------------------------------------------------------------------------

TEST_CASE("dns: SRV answers with additional records give identities, ports and addresses") {
  ClusterDns dns;
  dns.members = {{"esdb-0", "10.0.0.10"}, {"esdb-2", "10.0.0.12", 3000}, {"esdb-1", "10.0.0.11"}};
  std::mutex mu;
  TestDnsServer server([&](const Query& q, bool tcp) {
    std::lock_guard lock(mu);
    return dns.answer(q, tcp);
  });
  std::vector<std::string> warnings;
  Result<PeerSet> r = resolve_peers_once(options({server.address()}), &warnings);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->size() == 2);  // esdb-0 is self
  CHECK(r.value()[0].identity == member("esdb-1"));
  CHECK(r.value()[0].address == "10.0.0.11");
  CHECK(r.value()[0].addresses.empty());
  CHECK(r.value()[0].gossip_port == 2114);
  CHECK(r.value()[0].ready);
  CHECK(r.value()[1].identity == member("esdb-2"));
  CHECK(r.value()[1].address == "10.0.0.12");
  CHECK(r.value()[1].gossip_port == 3000);
  CHECK(warnings.empty());
  CHECK(server.udp_queries == 1);  // no follow-up queries: the additionals had the addresses
  CHECK(server.tcp_queries == 0);
}

TEST_CASE("dns: SRV targets without additional records are resolved with follow-up queries") {
  ClusterDns dns;
  dns.members = {{"esdb-1", "10.0.0.11"}, {"esdb-2", "fd00::12"}, {"esdb-3", "10.0.0.13"}};
  dns.additionals = false;
  dns.no_address = {"esdb-3"};
  std::mutex mu;
  TestDnsServer server([&](const Query& q, bool tcp) {
    std::lock_guard lock(mu);
    return dns.answer(q, tcp);
  });
  std::vector<std::string> warnings;
  Result<PeerSet> r = resolve_peers_once(options({server.address()}), &warnings);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->size() == 3);
  CHECK(r.value()[0].address == "10.0.0.11");
  CHECK(r.value()[1].address == "fd00::12");  // A was empty, AAAA asked
  CHECK(r.value()[2].identity == member("esdb-3"));
  CHECK(r.value()[2].address == member("esdb-3"));  // no address at all: the name stands in
  REQUIRE(warnings.size() == 1);
  CHECK(contains(warnings[0], "no address for SRV target " + member("esdb-3")));
  CHECK(contains(warnings[0], "using the name as its address"));
}

TEST_CASE("dns: NXDOMAIN for the SRV name falls back to A records, addresses as identities") {
  ClusterDns dns;
  dns.members = {{"esdb-1", "10.0.0.11"}, {"esdb-2", "10.0.0.12"}};
  dns.srv_exists = false;
  std::mutex mu;
  TestDnsServer server([&](const Query& q, bool tcp) {
    std::lock_guard lock(mu);
    return dns.answer(q, tcp);
  });
  std::vector<std::string> warnings;
  DnsSourceOptions o = options({server.address()});
  o.default_gossip_port = 2200;
  Result<PeerSet> r = resolve_peers_once(o, &warnings);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->size() == 2);
  CHECK(r.value()[0].identity == "10.0.0.11");
  CHECK(r.value()[0].address == "10.0.0.11");
  CHECK(r.value()[0].gossip_port == 2200);
  CHECK(r.value()[1].identity == "10.0.0.12");
  REQUIRE(warnings.size() == 1);
  CHECK(contains(warnings[0], "does not exist (NXDOMAIN)"));
  CHECK(contains(warnings[0], "fell back to the A/AAAA records of " + kBase));
  CHECK(contains(warnings[0], "use their address as identity"));

  SUBCASE("nothing published at all is an empty set and a warning, not an error") {
    {
      std::lock_guard lock(mu);
      dns.members.clear();
    }
    warnings.clear();
    Result<PeerSet> empty = resolve_peers_once(o, &warnings);
    REQUIRE_MESSAGE(empty.is_ok(), empty.status().to_string());
    CHECK(empty->empty());
    REQUIRE(warnings.size() == 1);
    CHECK(contains(warnings[0], "publishNotReadyAddresses: true"));
  }
}

TEST_CASE("dns: a truncated UDP answer is asked again over TCP") {
  ClusterDns dns;
  for (int i = 1; i <= 40; ++i) {
    dns.members.push_back({"esdb-" + std::to_string(i), "10.0.1." + std::to_string(i)});
  }
  dns.tc_over_udp = true;
  std::mutex mu;
  TestDnsServer server([&](const Query& q, bool tcp) {
    std::lock_guard lock(mu);
    return dns.answer(q, tcp);
  });
  std::vector<std::string> warnings;
  Result<PeerSet> r = resolve_peers_once(options({server.address()}), &warnings);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK(r->size() == 40);
  CHECK(server.udp_queries == 1);
  CHECK(server.tcp_queries == 1);
  CHECK(warnings.empty());
}

TEST_CASE("dns: answers with a foreign id are ignored, the matching one is used") {
  ClusterDns dns;
  dns.members = {{"esdb-1", "10.0.0.11"}};
  std::mutex mu;
  TestDnsServer server([&](const Query& q, bool tcp) {
    std::lock_guard lock(mu);
    Query forged = q;
    forged.id = static_cast<uint16_t>(q.id + 1);
    ClusterDns other;
    other.members = {{"evil-1", "10.6.6.6"}};
    std::vector<std::string> out = other.answer(forged, tcp);
    out.push_back(dns.answer(q, tcp)[0]);
    return out;
  });
  Result<PeerSet> r = resolve_peers_once(options({server.address()}), nullptr);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->size() == 1);
  CHECK(r.value()[0].identity == member("esdb-1"));
}

TEST_CASE("dns: a silent nameserver is asked twice within the timeout, then the next one") {
  SilentServer silent;
  ClusterDns dns;
  dns.members = {{"esdb-1", "10.0.0.11"}};
  std::mutex mu;
  TestDnsServer server([&](const Query& q, bool tcp) {
    std::lock_guard lock(mu);
    return dns.answer(q, tcp);
  });
  DnsSourceOptions o = options({silent.address(), server.address()});
  o.timeout = 150ms;
  const auto t0 = std::chrono::steady_clock::now();
  Result<PeerSet> r = resolve_peers_once(o, nullptr);
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  CHECK(r->size() == 1);
  CHECK(took >= 300ms);
  CHECK(took < 2000ms);
  CHECK(silent.drain() == 2);  // one query, retried once
}

TEST_CASE("dns: when every nameserver fails the result is an error naming each, never a set") {
  SilentServer silent;
  TestDnsServer servfail([](const Query& q, bool) {
    return std::vector<std::string>{
        ResponseBuilder(q.id, kDnsRcodeServFail).question(q.name, q.qtype).bytes()};
  });
  TestDnsServer garbage([](const Query& q, bool) {
    std::string m = header(q.id, kResponseFlags, 0, 3, 0, 0) + "junk";
    return std::vector<std::string>{m};
  });
  DnsSourceOptions o = options({silent.address(), servfail.address(), garbage.address()});
  o.timeout = 100ms;
  const auto t0 = std::chrono::steady_clock::now();
  Result<PeerSet> r = resolve_peers_once(o, nullptr);
  CHECK(std::chrono::steady_clock::now() - t0 < 2000ms);
  REQUIRE_FALSE(r.is_ok());
  const std::string msg = r.status().message();
  CAPTURE(msg);
  CHECK(r.status().code() == Status::Code::kIo);
  CHECK(contains(msg, "every nameserver failed to resolve SRV " + kSrvName));
  CHECK(contains(msg, "nameserver " + silent.address() + ": no answer within 100 ms (2 attempts"));
  CHECK(contains(msg, "nameserver " + servfail.address() + ": answered SERVFAIL"));
  CHECK(contains(msg, "nameserver " + garbage.address() + ": malformed DNS response"));

  SUBCASE("a nameserver that is gone is refused quickly") {
    TestDnsServer gone([](const Query&, bool) { return std::vector<std::string>{}; });
    const std::string where = gone.address();
    gone.stop();
    Result<PeerSet> g = resolve_peers_once(options({where}), nullptr);
    REQUIRE_FALSE(g.is_ok());
    CHECK(contains(g.status().message(), "connection refused"));
  }
}

TEST_CASE("dns: options, nameserver specs and resolv.conf are checked") {
  DnsSourceOptions o = options({"127.0.0.1:53"});
  o.service = "Bad_Service";
  Result<PeerSet> r = resolve_peers_once(o, nullptr);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Status::Code::kConfig);
  CHECK(contains(r.status().message(), "service \"Bad_Service\" is not a DNS label"));

  for (const std::string bad : {"127.0.0.1:0", "127.0.0.1:70000", "not-an-ip", "[::1", "[::1]x"}) {
    CAPTURE(bad);
    Result<PeerSet> b = resolve_peers_once(options({bad}), nullptr);
    REQUIRE_FALSE(b.is_ok());
    CHECK(b.status().code() == Status::Code::kConfig);
    CHECK(contains(b.status().message(), "nameserver \"" + bad + "\""));
  }

  test::TempDir dir;
  const std::string conf =
      dir.write("resolv.conf",
                "# generated\nsearch prod.svc.cluster.local svc.cluster.local\n"
                "nameserver 10.96.0.10\n  nameserver   fd00::a ; comment\n"
                "options ndots:5\n");
  Result<std::vector<std::string>> ns = read_resolv_conf_nameservers(conf);
  REQUIRE_MESSAGE(ns.is_ok(), ns.status().to_string());
  CHECK(ns.value() == std::vector<std::string>{"10.96.0.10", "fd00::a"});
  Result<std::vector<std::string>> none =
      read_resolv_conf_nameservers(dir.write("empty.conf", "search x\n"));
  REQUIRE_FALSE(none.is_ok());
  CHECK(contains(none.status().message(), "lists no nameserver"));
  Result<std::vector<std::string>> missing = read_resolv_conf_nameservers(dir.path() + "/nope");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(contains(missing.status().message(), dir.path() + "/nope"));
  // A FIFO is refused at once instead of blocking the resolver thread.
  const std::string fifo = dir.path() + "/fifo.conf";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  Result<std::vector<std::string>> not_regular = read_resolv_conf_nameservers(fifo);
  REQUIRE_FALSE(not_regular.is_ok());
  CHECK(contains(not_regular.status().message(), "FIFO"));

  // Empty nameservers come from resolv_conf_path.
  DnsSourceOptions from_file = options({});
  from_file.resolv_conf_path = dir.path() + "/empty.conf";
  Result<PeerSet> f = resolve_peers_once(from_file, nullptr);
  REQUIRE_FALSE(f.is_ok());
  CHECK(contains(f.status().message(), "empty.conf lists no nameserver"));
}

// ---- DnsSource ----------------------------------------------------------------------------

TEST_CASE("dns source: calls back on change only and keeps the peers when the server goes away") {
  // Virtual time: the source re-resolves only when the test advances its Env past the interval,
  // and settle(1) returns once that round is over and the source sleeps again, so each step below
  // checks exactly one round. The DNS exchanges themselves are real UDP on loopback.
  ClusterDns dns;
  dns.members = {{"esdb-1", "10.0.0.11"}, {"esdb-2", "10.0.0.12"}, {"esdb-3", "10.0.0.13"}};
  std::mutex mu;
  TestDnsServer server([&](const Query& q, bool tcp) {
    std::lock_guard lock(mu);
    return dns.answer(q, tcp);  // rotates the record order on every answer
  });
  auto sink = std::make_shared<esk8s::test::LogLines>();
  std::mutex calls_mu;
  std::vector<PeerSet> calls;
  auto call_count = [&] {
    std::lock_guard lock(calls_mu);
    return calls.size();
  };
  FakeEnv env;
  DnsSourceOptions o = options({server.address()});
  o.interval = 5s;
  o.timeout = 100ms;
  DnsSource source(
      o, Logger(sink, "dns"),
      [&](const PeerSet& p) {
        std::lock_guard lock(calls_mu);
        calls.push_back(p);
      },
      env);
  source.start();
  REQUIRE(env.settle(1));
  CHECK(call_count() == 1);
  const int per_round = server.udp_queries;
  REQUIRE(per_round >= 1);
  // Just short of the interval: no round.
  env.advance(4999ms);
  REQUIRE(env.settle(1));
  CHECK(server.udp_queries == per_round);
  // Five more rounds with the same members in a different order: five resolutions, no call.
  env.advance(1ms);
  REQUIRE(env.settle(1));
  for (int round = 0; round < 4; ++round) {
    env.advance(o.interval);
    REQUIRE(env.settle(1));
  }
  CHECK(server.udp_queries == 6 * per_round);
  CHECK(call_count() == 1);

  {
    std::lock_guard lock(mu);
    dns.members[1].address = "10.0.0.22";
  }
  env.advance(o.interval);
  REQUIRE(env.settle(1));
  {
    std::lock_guard lock(calls_mu);
    REQUIRE(calls.size() == 2);
    REQUIRE(calls[1].size() == 3);
    CHECK(calls[1][1].identity == member("esdb-2"));
    CHECK(calls[1][1].address == "10.0.0.22");
  }

  // The server goes away: the next round fails and says so once, keeping the three peers; the
  // three rounds after it fail again quietly (debug) and call nobody.
  server.stop();
  env.advance(o.interval);
  REQUIRE(env.settle(1));
  CHECK(sink->count("DNS discovery failed; keeping the last known peers") == 1);
  CHECK(contains(sink->line_with("keeping the last known peers"), "peers=3"));
  for (int round = 0; round < 3; ++round) {
    env.advance(o.interval);
    REQUIRE(env.settle(1));
  }
  CHECK(sink->count("DNS discovery still failing") == 3);
  CHECK(sink->count("DNS discovery failed; keeping the last known peers") == 1);
  CHECK(call_count() == 2);
  source.stop();
  CHECK(call_count() == 2);
}

TEST_CASE("dns source: resolv.conf is read through the source's Env") {
  // The real /etc/resolv.conf is not looked at: the in-memory one lists no nameserver, which is
  // the error that comes back.
  FakeEnv env;
  env.set_file("/etc/resolv.conf", "search prod.svc.cluster.local\n");
  DnsSourceOptions o = options({});
  Result<PeerSet> r = resolve_peers_once(o, nullptr, env);
  REQUIRE_FALSE(r.is_ok());
  CHECK(contains(r.status().message(), "/etc/resolv.conf lists no nameserver"));
  CHECK(env.reads("/etc/resolv.conf") == 1);
  env.set_file("/etc/resolv.conf", "nameserver not-an-address\n");
  Result<PeerSet> bad = resolve_peers_once(o, nullptr, env);
  REQUIRE_FALSE(bad.is_ok());
  CHECK(contains(bad.status().message(), "not-an-address"));
}

TEST_CASE("dns source: stop cancels a resolution waiting on a slow nameserver") {
  SilentServer silent;
  DnsSourceOptions o = options({silent.address()});
  o.timeout = 5000ms;
  std::atomic<int> calls{0};
  DnsSource source(o, Logger(nullptr, "dns"), [&](const PeerSet&) { ++calls; });
  source.start();
  REQUIRE(eventually([&] { return silent.drain() > 0; }));
  const auto t0 = std::chrono::steady_clock::now();
  source.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 1000ms);
  CHECK(calls == 0);
  source.stop();  // idempotent
}
