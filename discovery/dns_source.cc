#include "discovery/dns_source.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include "common/file.h"
#include "common/identity.h"
#include "common/unique_fd.h"
#include "discovery/dns_message.h"

namespace esk8s::discovery {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often blocked socket waits look at the cancel flag.
constexpr milliseconds kCancelSlice{50};
constexpr size_t kMaxUdpMessage = 65535;

const char kCancelled[] = "DNS resolution cancelled: the source is stopping";

bool is_cancelled(const Status& s) { return s.code() == Status::Code::kState; }

std::string errno_text(int err) { return std::strerror(err); }

using Fd = UniqueFd;

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Lower-cased, without the trailing dot: the form identities are compared in.
std::string canonical_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return lower(std::string(name));
}

std::string type_name(uint16_t qtype) {
  switch (qtype) {
    case kDnsTypeA:
      return "A";
    case kDnsTypeAaaa:
      return "AAAA";
    case kDnsTypeSrv:
      return "SRV";
    default:
      return "type " + std::to_string(qtype);
  }
}

struct Nameserver {
  std::string text;  // as configured, for messages
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Result<Nameserver> parse_nameserver(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return Status::config("dns discovery: nameserver \"" + spec + "\" " + why +
                          " (expected \"ip\", \"ip:port\" or \"[ipv6]:port\")");
  };
  std::string host = spec, port = "53";
  if (!spec.empty() && spec.front() == '[') {
    const size_t close = spec.find(']');
    if (close == std::string::npos) return bad("has no closing ']'");
    host = spec.substr(1, close - 1);
    const std::string rest = spec.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("has text after ']' that is not \":port\"");
      port = rest.substr(1);
    }
  } else if (std::count(spec.begin(), spec.end(), ':') == 1) {
    const size_t colon = spec.find(':');
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  unsigned port_num = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), port_num);
  if (ec != std::errc() || p != port.data() + port.size() || port_num == 0 || port_num > 65535) {
    return bad("has port \"" + port + "\", not 1-65535");
  }
  if (host.empty()) return bad("has no address");
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* ai = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &ai) != 0 || ai == nullptr) {
    return bad("is not an IP address");
  }
  Nameserver ns;
  ns.text = spec;
  std::memcpy(&ns.addr, ai->ai_addr, ai->ai_addrlen);
  ns.len = static_cast<socklen_t>(ai->ai_addrlen);
  freeaddrinfo(ai);
  return ns;
}

enum class Wait { kReady, kTimeout, kCancelled, kError };

// Waits for `events` on `fd` until `deadline`, looking at `cancel` every kCancelSlice.
Wait wait_fd(int fd, short events, Clock::time_point deadline, const std::atomic<bool>* cancel) {
  while (true) {
    if (cancel != nullptr && cancel->load()) return Wait::kCancelled;
    const auto now = Clock::now();
    if (now >= deadline) return Wait::kTimeout;
    auto left = std::chrono::ceil<milliseconds>(deadline - now);
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min(left, kCancelSlice).count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Wait::kError;
    }
    if (n > 0) return Wait::kReady;  // POLLERR/POLLHUP too: the next call reports them
  }
}

Status wait_status(Wait w, const std::string& what, milliseconds timeout) {
  switch (w) {
    case Wait::kReady:
      return Status::ok();
    case Wait::kCancelled:
      return Status::state(kCancelled);
    case Wait::kTimeout:
      return Status::io("no " + what + " within " + std::to_string(timeout.count()) + " ms");
    case Wait::kError:
      break;
  }
  return Status::io("poll failed: " + errno_text(errno));
}

uint16_t peek_id(std::string_view msg) {
  return static_cast<uint16_t>((static_cast<uint8_t>(msg[0]) << 8) | static_cast<uint8_t>(msg[1]));
}

// Sends queries to the nameservers in turn; see resolve_peers_once for the policy.
class Resolver {
 public:
  Resolver(std::vector<Nameserver> ns, milliseconds timeout, const std::atomic<bool>* cancel,
           uint64_t seed)
      : ns_(std::move(ns)), timeout_(timeout), cancel_(cancel), rng_(seed) {}

  // The NOERROR or NXDOMAIN answer of the first nameserver that gives one, starting with the
  // one that answered last. Errors: state when cancelled; io naming every nameserver's failure.
  Result<DnsResponse> query(const std::string& name, uint16_t qtype) {
    std::string failures;
    for (size_t k = 0; k < ns_.size(); ++k) {
      const size_t i = (preferred_ + k) % ns_.size();
      Result<DnsResponse> r = ask(ns_[i], name, qtype);
      std::string why;
      if (!r) {
        if (is_cancelled(r.status())) return r;
        why = r.status().message();
      } else if (r->rcode != kDnsRcodeNoError && r->rcode != kDnsRcodeNxDomain) {
        why = "answered " + dns_rcode_name(r->rcode);
      } else {
        preferred_ = i;
        return r;
      }
      if (!failures.empty()) failures += "; ";
      failures += "nameserver " + ns_[i].text + ": " + why;
    }
    return Status::io("every nameserver failed to resolve " + type_name(qtype) + " " + name + ": " +
                      failures);
  }

 private:
  uint16_t next_id() { return static_cast<uint16_t>(rng_() & 0xffff); }

  // UDP with the timeout, retried once; TCP when the UDP answer is truncated.
  Result<DnsResponse> ask(const Nameserver& ns, const std::string& name, uint16_t qtype) {
    std::string last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const uint16_t id = next_id();
      const std::string q = encode_dns_query(id, name, qtype);
      if (q.empty()) return Status::invalid_argument("\"" + name + "\" is not a valid DNS name");
      Result<DnsResponse> r = udp(ns, q, id);
      if (r && r->truncated) {
        const uint16_t tcp_id = next_id();
        Result<DnsResponse> t = tcp(ns, encode_dns_query(tcp_id, name, qtype), tcp_id);
        if (!t && !is_cancelled(t.status())) {
          return Status::io("the UDP answer was truncated and TCP failed: " + t.status().message());
        }
        return t;
      }
      if (r || is_cancelled(r.status())) return r;
      last = r.status().message();
    }
    return Status::io(last + " (2 attempts over UDP)");
  }

  Result<DnsResponse> udp(const Nameserver& ns, const std::string& query, uint16_t id) {
    Fd fd(::socket(ns.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return Status::io("cannot create a UDP socket: " + errno_text(errno));
    // Connected: the kernel drops datagrams from other sources and reports ICMP errors.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ns.addr), ns.len) != 0) {
      return Status::io("UDP connect failed: " + errno_text(errno));
    }
    if (::send(fd.get(), query.data(), query.size(), 0) != static_cast<ssize_t>(query.size())) {
      return Status::io("UDP send failed: " + errno_text(errno));
    }
    const auto deadline = Clock::now() + timeout_;
    std::string buf(kMaxUdpMessage + 1, '\0');
    while (true) {
      Status w = wait_status(wait_fd(fd.get(), POLLIN, deadline, cancel_), "answer", timeout_);
      if (!w) return w;
      const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        if (errno == ECONNREFUSED) return Status::io("UDP port unreachable (connection refused)");
        return Status::io("UDP receive failed: " + errno_text(errno));
      }
      const std::string_view msg(buf.data(), static_cast<size_t>(n));
      // Not an answer to this query (a late answer to an earlier one, or forged): keep waiting.
      if (msg.size() < 2 || peek_id(msg) != id) continue;
      Result<DnsResponse> r = parse_dns_response(msg);
      if (!r) {
        // A truncated answer may be cut mid-record; the header is all that matters then.
        const bool tc = msg.size() >= 12 && (static_cast<uint8_t>(msg[2]) & 0x82) == 0x82;
        if (tc) {
          DnsResponse partial;
          partial.id = id;
          partial.rcode = static_cast<uint8_t>(msg[3]) & 0x0f;
          partial.truncated = true;
          return partial;
        }
        return Status::io(r.status().message());
      }
      return r;
    }
  }

  // Reads exactly `n` bytes.
  Result<std::string> read_exact(int fd, size_t n, Clock::time_point deadline) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      Status w = wait_status(wait_fd(fd, POLLIN, deadline, cancel_), "answer over TCP", timeout_);
      if (!w) return w;
      const ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return Status::io("TCP receive failed: " + errno_text(errno));
      }
      if (r == 0) {
        return Status::io("the nameserver closed the TCP connection after " + std::to_string(got) +
                          " of " + std::to_string(n) + " bytes");
      }
      got += static_cast<size_t>(r);
    }
    return out;
  }

  Result<DnsResponse> tcp(const Nameserver& ns, const std::string& query, uint16_t id) {
    Fd fd(::socket(ns.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return Status::io("cannot create a TCP socket: " + errno_text(errno));
    const auto deadline = Clock::now() + timeout_;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ns.addr), ns.len) != 0) {
      if (errno != EINPROGRESS) return Status::io("TCP connect failed: " + errno_text(errno));
      Status w =
          wait_status(wait_fd(fd.get(), POLLOUT, deadline, cancel_), "TCP connection", timeout_);
      if (!w) return w;
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) return Status::io("TCP connect failed: " + errno_text(err));
    }
    std::string frame;
    frame.push_back(static_cast<char>(query.size() >> 8));
    frame.push_back(static_cast<char>(query.size() & 0xff));
    frame += query;
    size_t sent = 0;
    while (sent < frame.size()) {
      const ssize_t r = ::send(fd.get(), frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          return Status::io("TCP send failed: " + errno_text(errno));
        }
        Status w =
            wait_status(wait_fd(fd.get(), POLLOUT, deadline, cancel_), "TCP send window", timeout_);
        if (!w) return w;
        continue;
      }
      sent += static_cast<size_t>(r);
    }
    Result<std::string> prefix = read_exact(fd.get(), 2, deadline);
    if (!prefix) return prefix.status();
    const size_t len =
        (static_cast<uint8_t>(prefix.value()[0]) << 8) | static_cast<uint8_t>(prefix.value()[1]);
    Result<std::string> body = read_exact(fd.get(), len, deadline);
    if (!body) return body.status();
    Result<DnsResponse> r = parse_dns_response(body.value());
    if (!r) return Status::io(r.status().message());
    if (r->id != id) {
      return Status::io("the TCP answer has id " + std::to_string(r->id) + ", the query had " +
                        std::to_string(id));
    }
    return r;
  }

  std::vector<Nameserver> ns_;
  milliseconds timeout_;
  const std::atomic<bool>* cancel_;
  std::mt19937 rng_;
  size_t preferred_ = 0;
};

Status validate(const DnsSourceOptions& o) {
  auto bad = [](const std::string& what, const std::string& v, const std::string& rule) {
    return Status::config("dns discovery: " + what + " \"" + v + "\" " + rule);
  };
  const std::string label_rule =
      "is not a DNS label (1-63 of [a-z0-9-], alphanumeric at both ends)";
  if (!is_dns1123_label(o.service)) return bad("service", o.service, label_rule);
  if (!is_dns1123_label(o.namespace_name)) return bad("namespace", o.namespace_name, label_rule);
  if (!is_dns1123_label(o.port_name)) return bad("port name", o.port_name, label_rule);
  if (!is_dns1123_subdomain(canonical_name(o.cluster_domain))) {
    return bad("cluster domain", o.cluster_domain, "is not a DNS subdomain");
  }
  return Status::ok();
}

// IPv4 first, then IPv6, each in text order; duplicates dropped. DNS servers rotate record
// order, and the peer set must not "change" because of it.
void sort_addresses(std::vector<std::string>& a) {
  auto key = [](const std::string& s) { return std::make_pair(s.find(':') != s.npos, s); };
  std::sort(a.begin(), a.end(), [&](const auto& x, const auto& y) { return key(x) < key(y); });
  a.erase(std::unique(a.begin(), a.end()), a.end());
}

void set_addresses(Peer& p, std::vector<std::string> addrs) {
  sort_addresses(addrs);
  p.address = addrs.front();
  if (addrs.size() > 1) p.addresses = std::move(addrs);
}

// A records of `host`, else AAAA (not asked when the name does not exist). An empty list when
// the name has no address; an error when every nameserver failed or the query was cancelled.
Result<std::vector<std::string>> lookup_addresses(Resolver& res, const std::string& host) {
  std::vector<std::string> out;
  Result<DnsResponse> a = res.query(host, kDnsTypeA);
  if (!a) return a.status();
  for (const DnsRecord& rr : a->answers) {
    if (rr.type == kDnsTypeA && !rr.address.empty()) out.push_back(rr.address);
  }
  if (!out.empty() || a->rcode == kDnsRcodeNxDomain) return out;
  Result<DnsResponse> aaaa = res.query(host, kDnsTypeAaaa);
  if (!aaaa) return aaaa.status();
  for (const DnsRecord& rr : aaaa->answers) {
    if (rr.type == kDnsTypeAaaa && !rr.address.empty()) out.push_back(rr.address);
  }
  return out;
}

// Step 2 of the header comment: peers from the A/AAAA records of the service name.
Result<PeerSet> resolve_by_address(Resolver& res, const DnsSourceOptions& opts,
                                   const std::string& base, const std::string& srv_name,
                                   int srv_rcode, std::vector<std::string>* warnings) {
  const std::string srv_state =
      srv_rcode == kDnsRcodeNxDomain ? "does not exist (NXDOMAIN)" : "has no SRV records";
  Result<std::vector<std::string>> addrs = lookup_addresses(res, base);
  if (!addrs) {
    if (is_cancelled(addrs.status())) return addrs.status();
    return Status::io("SRV " + srv_name + " " + srv_state +
                      ", and the A/AAAA fallback failed: " + addrs.status().message());
  }
  sort_addresses(addrs.value());
  if (addrs->empty()) {
    warnings->push_back("neither SRV " + srv_name + " nor A/AAAA " + base +
                        " has records: no member is published. The headless service needs "
                        "publishNotReadyAddresses: true and a port named \"" +
                        opts.port_name + "\"");
    return PeerSet{};
  }
  warnings->push_back(
      "SRV " + srv_name + " " + srv_state + "; fell back to the A/AAAA records of " + base + ": " +
      std::to_string(addrs->size()) +
      " peer(s) without a DNS identity use their address as identity until gossip learns the real "
      "one on contact (this member may be among them). Name the headless service's gossip port "
      "\"" +
      opts.port_name + "\" to get stable identities");
  PeerSet peers;
  for (const std::string& addr : addrs.value()) {
    Peer p;
    p.identity = addr;
    p.address = addr;
    p.gossip_port = opts.default_gossip_port;
    peers.push_back(std::move(p));
  }
  return peers;
}

Result<PeerSet> resolve_impl(const DnsSourceOptions& opts, std::vector<std::string>* warnings,
                             const std::atomic<bool>* cancel, Env& env) {
  std::vector<std::string> ignored;
  if (warnings == nullptr) warnings = &ignored;
  Status valid = validate(opts);
  if (!valid) return valid;

  std::vector<std::string> specs = opts.nameservers;
  if (specs.empty()) {
    Result<std::vector<std::string>> from_file =
        read_resolv_conf_nameservers(opts.resolv_conf_path, env);
    if (!from_file) return from_file.status();
    specs = std::move(from_file.value());
  }
  std::vector<Nameserver> nameservers;
  for (const std::string& spec : specs) {
    Result<Nameserver> ns = parse_nameserver(spec);
    if (!ns) return ns.status();
    nameservers.push_back(std::move(ns.value()));
  }
  Resolver res(std::move(nameservers), std::max(opts.timeout, milliseconds(1)), cancel,
               env.random_seed());

  const std::string base =
      opts.service + "." + opts.namespace_name + ".svc." + canonical_name(opts.cluster_domain);
  const std::string srv_name = "_" + opts.port_name + "._tcp." + base;
  Result<DnsResponse> srv = res.query(srv_name, kDnsTypeSrv);
  if (!srv) return srv.status();

  std::vector<const DnsRecord*> records;
  for (const DnsRecord& rr : srv->answers) {
    if (rr.type == kDnsTypeSrv) records.push_back(&rr);
  }
  if (records.empty()) {
    return resolve_by_address(res, opts, base, srv_name, srv->rcode, warnings);
  }

  const std::string self = canonical_name(opts.self_identity);
  std::set<std::string> seen;
  PeerSet peers;
  for (const DnsRecord* rr : records) {
    const std::string target = canonical_name(rr->target);
    if (target.empty()) {
      warnings->push_back("SRV " + srv_name + " has a record with the root target \".\" (no " +
                          "service there); skipped");
      continue;
    }
    if (!is_dns1123_subdomain(target)) {
      warnings->push_back("SRV " + srv_name + " target \"" + rr->target +
                          "\" is not a DNS subdomain, so it cannot be a member identity; skipped");
      continue;
    }
    if (target == self || !seen.insert(target).second) continue;
    if (target.size() <= base.size() + 1 ||
        target.compare(target.size() - base.size() - 1, std::string::npos, "." + base) != 0) {
      warnings->push_back("SRV " + srv_name + " target " + target + " is not a name under " + base +
                          ", so it may not be the member's stable identity");
    }
    Peer p;
    p.identity = target;
    p.gossip_port = rr->port != 0 ? rr->port : opts.default_gossip_port;
    std::vector<std::string> addrs;
    for (const DnsRecord& add : srv->additionals) {
      if ((add.type == kDnsTypeA || add.type == kDnsTypeAaaa) && !add.address.empty() &&
          canonical_name(add.name) == target) {
        addrs.push_back(add.address);
      }
    }
    if (addrs.empty()) {
      Result<std::vector<std::string>> looked = lookup_addresses(res, target);
      if (looked) {
        addrs = std::move(looked.value());
      } else if (is_cancelled(looked.status())) {
        return looked.status();
      }
      if (addrs.empty()) {
        warnings->push_back("no address for SRV target " + target +
                            (looked ? std::string(" (no A/AAAA records)")
                                    : " (" + looked.status().message() + ")") +
                            "; using the name as its address");
        addrs.push_back(target);
      }
    }
    set_addresses(p, std::move(addrs));
    peers.push_back(std::move(p));
  }
  std::sort(peers.begin(), peers.end(),
            [](const Peer& a, const Peer& b) { return a.identity < b.identity; });
  return peers;
}

}  // namespace

Result<std::vector<std::string>> read_resolv_conf_nameservers(const std::string& path, Env& env) {
  Result<std::string> text = env.read_file(path, kMaxSmallFileBytes, "resolv.conf");
  if (!text) return text.status();
  std::istringstream in(text.value());
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const size_t comment = line.find_first_of("#;");
    if (comment != std::string::npos) line.resize(comment);
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver") out.push_back(value);
  }
  if (out.empty()) {
    return Status::config(
        path + " lists no nameserver; configure the dns discovery nameservers explicitly");
  }
  return out;
}

Result<PeerSet> resolve_peers_once(const DnsSourceOptions& opts,
                                   std::vector<std::string>* warnings, Env& env) {
  return resolve_impl(opts, warnings, nullptr, env);
}

DnsSource::DnsSource(DnsSourceOptions opts, Logger log, PeersCallback on_peers, Env& env)
    : opts_(std::move(opts)),
      log_(std::move(log)),
      on_peers_(std::move(on_peers)),
      env_(env),
      waker_(env.make_waker()) {}

DnsSource::~DnsSource() { stop(); }

void DnsSource::start() {
  if (thread_.joinable()) return;
  waker_->reset();
  cancel_.store(false);
  thread_ = std::thread([this] { run(); });
}

void DnsSource::stop() {
  cancel_.store(true);
  waker_->wake();
  if (thread_.joinable()) thread_.join();
}

void DnsSource::run() {
  const milliseconds interval = std::max(opts_.interval, milliseconds(10));
  do {
    std::vector<std::string> warnings;
    Result<PeerSet> r = resolve_impl(opts_, &warnings, &cancel_, env_);
    if (r) {
      if (!last_error_.empty()) {
        log_.info("DNS discovery recovered", {{"peers", std::to_string(r->size())}});
        last_error_.clear();
      }
      if (warnings != last_warnings_) {
        for (const std::string& w : warnings) log_.warn(w);
        last_warnings_ = warnings;
      }
      if (!last_peers_ || *last_peers_ != r.value()) {
        last_peers_ = r.value();
        log_.info("DNS peers changed", {{"peers", std::to_string(r->size())}});
        if (on_peers_) on_peers_(*last_peers_);
      }
    } else if (!is_cancelled(r.status())) {
      const std::string msg = r.status().to_string();
      const std::string kept = std::to_string(last_peers_ ? last_peers_->size() : 0);
      if (msg != last_error_) {
        log_.error("DNS discovery failed; keeping the last known peers",
                   {{"error", msg}, {"peers", kept}});
        last_error_ = msg;
      } else {
        log_.debug("DNS discovery still failing", {{"error", msg}, {"peers", kept}});
      }
    }
  } while (waker_->wait_until(env_.steady_now() + interval));
}

}  // namespace esk8s::discovery
