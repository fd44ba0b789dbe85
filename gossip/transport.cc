#include "gossip/transport.h"

#include <strings.h>
#include <algorithm>
#include <cctype>
#include <array>
#include <deque>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "gossip/wire.h"

namespace esk8s::gossip {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

using Frame = std::shared_ptr<const std::vector<uint8_t>>;

struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

std::string to_pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (bio && PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

// The peer's certificates as PEM, leaf first (OpenSSL's peer chain includes the leaf on the
// client side but not on the server side).
std::string peer_chain_pem(SSL* ssl) {
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (!leaf) return {};
  std::string pem = to_pem(leaf);
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* c = sk_X509_value(chain, i);
      if (X509_cmp(c, leaf) != 0) pem += to_pem(c);
    }
  }
  return pem;
}

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A frame buffer grows by at least kFrameFirstChunkBytes and at most kMaxGrowthBytes a step,
// doubling in between: what is allocated stays within twice what arrived plus one step.
constexpr size_t kMaxGrowthBytes = 1u << 20;

// The accepting side's label for a failed TLS handshake.
const char* handshake_failure_reason(const error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
          SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    return "no_client_certificate";
  }
  return "handshake_failed";
}

// The per-peer key of an authenticated incoming connection: the identities its certificate
// proved, lower-cased, in certificate order.
std::string peer_key(const std::vector<std::string>& identities) {
  std::string key;
  for (const auto& id : identities) {
    if (!key.empty()) key += ',';
    for (char ch : id) key += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return key;
}

}  // namespace

struct Transport::Impl : std::enable_shared_from_this<Transport::Impl> {
  struct Conn;
  using Clock = std::chrono::steady_clock;

  Impl(asio::io_context& io, TransportOptions opt, std::shared_ptr<const TlsSnapshot> tls,
       PeerVerifier verify, Receive receive, Logger log)
      : io(io),
        opt(std::move(opt)),
        tls(std::move(tls)),
        verify(std::move(verify)),
        receive(std::move(receive)),
        log(std::move(log)),
        acceptor(io) {}

  asio::io_context& io;
  TransportOptions opt;
  std::shared_ptr<const TlsSnapshot> tls;
  PeerVerifier verify;
  Receive receive;
  Logger log;
  tcp::acceptor acceptor;
  bool stopped = false;
  bool resumption = true;
  TransportStats stats;

  struct Backoff {
    Clock::time_point until;
    std::chrono::milliseconds delay{0};
    std::string address;
    uint16_t port = 0;
  };
  // Rate limit of the warn line of one refusal reason.
  struct LogGate {
    Clock::time_point next{};
    uint64_t suppressed = 0;
  };
  std::map<std::string, std::shared_ptr<Conn>> outgoing;            // by peer identity
  std::map<std::string, std::weak_ptr<Conn>> incoming_by_identity;  // last claim seen per identity
  std::vector<std::shared_ptr<Conn>> incoming;                      // open, in accept order
  // Authenticated incoming connections per peer_key(), oldest first.
  std::map<std::string, std::deque<std::weak_ptr<Conn>>> incoming_by_peer;
  std::map<std::string, size_t> handshaking_by_address;  // incoming, not yet authenticated
  std::map<std::string, Backoff> backoff;
  std::map<std::string, SessionPtr> sessions;  // TLS tickets for resumption, by peer identity
  std::map<std::string, LogGate> log_gates;     // by refusal reason

  // One TLS connection, either direction. Handlers hold a shared_ptr to it and a weak_ptr to the
  // Impl, so a connection outliving stop() (until the io_context drops its handlers) is harmless.
  struct Conn : std::enable_shared_from_this<Conn>, SessionSink {
    Conn(Impl& impl, bool is_outgoing, std::shared_ptr<const TlsSnapshot> snapshot)
        : owner(impl.weak_from_this()),
          tls(std::move(snapshot)),
          stream(impl.io, is_outgoing ? tls->client() : tls->server()),
          outgoing(is_outgoing),
          resolver(impl.io),
          setup_timer(impl.io),
          write_timer(impl.io),
          read_timer(impl.io),
          idle_timer(impl.io) {}

    std::weak_ptr<Impl> owner;
    std::shared_ptr<const TlsSnapshot> tls;  // kept for this connection's lifetime
    asio::ssl::stream<tcp::socket> stream;
    bool outgoing;
    std::string expected;  // outgoing: the identity we meant to reach
    std::string address;
    uint16_t port = 0;
    std::vector<std::string> identities;  // what the certificate proved
    std::string peer;                     // incoming, authenticated: peer_key(identities)
    bool handshaking_counted = false;     // incoming: counted in handshaking_by_address
    bool established = false;
    bool closed = false;
    std::deque<Frame> queue;
    size_t queued_bytes = 0;
    bool writing = false;
    uint64_t write_seq = 0;  // a write timer's handler acts only on the write it was armed for
    tcp::resolver resolver;
    asio::steady_timer setup_timer, write_timer, read_timer, idle_timer;
    Clock::time_point last_activity;  // last frame read or written
    // The frame being read: header bytes so far, declared length, body so far. `charged` is what
    // the body's buffer holds against the frame memory budget (its capacity).
    std::array<uint8_t, kFrameHeaderBytes> header{};
    size_t header_got = 0;
    uint32_t frame_len = 0;
    std::vector<uint8_t> body;
    size_t charged = 0;
    uint64_t frame_seq = 0;  // the partial-frame timer acts only on the frame it was armed for

    void on_new_session(SSL_SESSION* session) override {
      auto impl = owner.lock();
      if (!impl || !impl->resumption) {
        SSL_SESSION_free(session);
        return;
      }
      impl->sessions[expected].reset(session);
    }

    bool may_claim(const std::string& identity) const {
      return std::any_of(identities.begin(), identities.end(),
                         [&](const std::string& i) { return iequals(i, identity); });
    }
    bool mid_frame() const { return header_got > 0; }
  };

  std::string describe(const std::shared_ptr<Conn>& c) const {
    if (c->outgoing) return c->expected;
    return c->identities.empty() ? c->address : c->identities.front();
  }

  // A warn line per refusal reason at most every refusal_log_interval; the next line says how
  // many were suppressed in between (the counters have every one). `gate_key`: what shares the
  // limit (default: the reason).
  void warn_limited(const std::string& reason, std::string_view message,
                    std::vector<LogField> fields, const std::string& gate_key = {}) {
    auto now = Clock::now();
    LogGate& gate = log_gates[gate_key.empty() ? reason : gate_key];
    if (now < gate.next) {
      ++gate.suppressed;
      return;
    }
    fields.emplace_back("reason", reason);
    if (gate.suppressed > 0) fields.emplace_back("suppressed", std::to_string(gate.suppressed));
    gate.suppressed = 0;
    gate.next = now + opt.refusal_log_interval;
    log.log(LogLevel::kWarn, message, fields);
  }

  // Counts `reason` (a kCloseReasons label) and logs it: idle closes are routine (debug), every
  // other reason is a refusal (warn, rate-limited).
  void count_refusal(const std::string& reason, std::string_view message,
                     std::vector<LogField> fields) {
    ++stats.connections_closed[reason];
    if (reason == "idle_timeout") {
      log.log(LogLevel::kDebug, message, fields);
      return;
    }
    warn_limited(reason, message, std::move(fields));
  }

  // Closes `c` for `reason` (a kCloseReasons label), counted and logged.
  void close_for(const std::shared_ptr<Conn>& c, const std::string& reason,
                 std::string_view message, std::vector<LogField> fields = {}) {
    if (c->closed) return;
    fields.insert(fields.begin(), {"address", c->address});
    if (c->outgoing || !c->identities.empty()) fields.insert(fields.begin(), {"peer", describe(c)});
    fields.emplace_back("direction", c->outgoing ? "outgoing" : "incoming");
    count_refusal(reason, message, std::move(fields));
    close(c);
  }

  void charge(const std::shared_ptr<Conn>& c, size_t bytes) {
    stats.frame_bytes_in_flight = stats.frame_bytes_in_flight - c->charged + bytes;
    c->charged = bytes;
    stats.frame_bytes_in_flight_peak =
        std::max(stats.frame_bytes_in_flight_peak, stats.frame_bytes_in_flight);
  }

  // Frees the frame buffer and returns its bytes to the budget.
  void release_body(const std::shared_ptr<Conn>& c) {
    std::vector<uint8_t>().swap(c->body);
    charge(c, 0);
  }

  void close(const std::shared_ptr<Conn>& c) {
    if (c->closed) return;
    c->closed = true;
    // A verified connection's session stays resumable: OpenSSL marks a session it frees without
    // a shutdown as "bad" (not resumable) otherwise.
    if (c->established) SSL_set_shutdown(c->stream.native_handle(), SSL_SENT_SHUTDOWN);
    error_code ec;
    c->resolver.cancel();
    c->setup_timer.cancel();
    c->write_timer.cancel();
    c->read_timer.cancel();
    c->idle_timer.cancel();
    c->stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    c->stream.lowest_layer().close(ec);
    c->queue.clear();
    c->queued_bytes = 0;
    release_body(c);
    if (c->outgoing) {
      auto it = outgoing.find(c->expected);
      if (it != outgoing.end() && it->second == c) outgoing.erase(it);
      return;
    }
    std::erase(incoming, c);
    stats.incoming_open = incoming.size();
    end_handshaking(c);
    if (auto it = incoming_by_peer.find(c->peer); it != incoming_by_peer.end()) {
      std::erase_if(it->second, [&](const std::weak_ptr<Conn>& w) {
        auto p = w.lock();
        return !p || p == c;
      });
      if (it->second.empty()) incoming_by_peer.erase(it);
    }
  }

  void end_handshaking(const std::shared_ptr<Conn>& c) {
    if (!c->handshaking_counted) return;
    c->handshaking_counted = false;
    auto it = handshaking_by_address.find(c->address);
    if (it != handshaking_by_address.end() && --it->second == 0) handshaking_by_address.erase(it);
  }

  void start_backoff(const std::shared_ptr<Conn>& c) {
    Backoff& b = backoff[c->expected];
    b.delay = b.delay.count() == 0 ? opt.backoff_min : std::min(b.delay * 2, opt.backoff_max);
    b.until = Clock::now() + b.delay;
    b.address = c->address;
    b.port = c->port;
  }

  void fail_outgoing(const std::shared_ptr<Conn>& c, const std::string& what) {
    if (c->closed) return;
    ++stats.connect_failures;
    log.debug("gossip connection failed",
              {{"peer", c->expected}, {"address", c->address}, {"error", what}});
    start_backoff(c);
    close(c);
  }

  void enqueue(const std::shared_ptr<Conn>& c, Frame frame) {
    if (c->queue.size() >= opt.max_queue_frames ||
        c->queued_bytes + frame->size() > opt.max_queue_bytes) {
      ++stats.dropped_queue_full;
      return;
    }
    c->queued_bytes += frame->size();
    c->queue.push_back(std::move(frame));
    if (c->established) write_next(c);
  }

  void write_next(const std::shared_ptr<Conn>& c) {
    if (c->writing || c->closed || c->queue.empty()) return;
    c->writing = true;
    Frame f = c->queue.front();
    uint64_t seq = ++c->write_seq;
    c->write_timer.expires_after(opt.io_timeout);
    c->write_timer.async_wait([w = weak_from_this(), c, seq](const error_code& ec) {
      auto self = w.lock();
      if (ec || !self || c->closed || !c->writing || c->write_seq != seq) return;
      self->close_for(c, "write_timeout", "gossip write timed out; connection closed");
    });
    asio::async_write(c->stream, asio::buffer(*f),
                      [w = weak_from_this(), c, f](const error_code& ec, size_t n) {
                        auto self = w.lock();
                        if (!self || c->closed) return;
                        c->write_timer.cancel();
                        c->writing = false;
                        if (ec) {
                          self->close(c);
                          return;
                        }
                        ++self->stats.frames_sent;
                        self->stats.bytes_sent += n;
                        c->last_activity = Clock::now();
                        c->queued_bytes -= f->size();
                        c->queue.pop_front();
                        self->write_next(c);
                      });
  }

  // Idle deadline of an established connection: closed once it carried no frame either way for
  // idle_timeout. A connection in the middle of a frame or with queued writes is not idle (those
  // have their own deadlines).
  void arm_idle(const std::shared_ptr<Conn>& c) {
    if (opt.idle_timeout.count() <= 0 || c->closed) return;
    c->idle_timer.expires_at(c->last_activity + opt.idle_timeout);
    c->idle_timer.async_wait([w = weak_from_this(), c](const error_code& ec) {
      auto self = w.lock();
      if (ec || !self || c->closed) return;
      auto now = Clock::now();
      if (c->mid_frame() || !c->queue.empty()) {
        c->last_activity = now;
      } else if (now - c->last_activity >= self->opt.idle_timeout) {
        self->close_for(c, "idle_timeout", "gossip connection idle; closed");
        return;
      }
      self->arm_idle(c);
    });
  }

  // Reading: a frame's deadline runs from its first header byte to its last body byte.
  void read_next(const std::shared_ptr<Conn>& c) {
    if (c->closed) return;
    c->header_got = 0;
    read_header(c);
  }

  void read_header(const std::shared_ptr<Conn>& c) {
    c->stream.async_read_some(
        asio::buffer(c->header.data() + c->header_got, kFrameHeaderBytes - c->header_got),
        [w = weak_from_this(), c](const error_code& ec, size_t n) {
          auto self = w.lock();
          if (!self || c->closed) return;
          if (ec) {
            self->close(c);
            return;
          }
          if (c->header_got == 0 && n > 0) self->start_frame_deadline(c);
          c->header_got += n;
          if (c->header_got < kFrameHeaderBytes) {
            self->read_header(c);
            return;
          }
          self->on_header(c);
        });
  }

  void start_frame_deadline(const std::shared_ptr<Conn>& c) {
    uint64_t seq = ++c->frame_seq;
    c->read_timer.expires_after(opt.io_timeout);
    c->read_timer.async_wait([w = weak_from_this(), c, seq](const error_code& ec) {
      auto self = w.lock();
      if (ec || !self || c->closed || c->frame_seq != seq) return;
      self->close_for(c, "partial_frame_timeout",
                      "gossip peer did not complete a frame in time; connection closed",
                      {{"received", std::to_string(c->header_got + c->body.size())},
                       {"declared", std::to_string(c->frame_len)}});
    });
  }

  void on_header(const std::shared_ptr<Conn>& c) {
    auto len = parse_frame_header(std::span<const uint8_t, kFrameHeaderBytes>(c->header));
    if (!len) {
      uint32_t declared = 0;
      for (uint8_t b : c->header) declared = (declared << 8) | b;
      ++stats.bad_frames;
      close_for(c, declared == 0 ? "bad_frame" : "frame_too_large",
                "gossip peer sent a bad frame header; connection closed",
                {{"error", len.status().message()}});
      return;
    }
    c->frame_len = len.value();
    read_body(c);
  }

  void read_body(const std::shared_ptr<Conn>& c) {
    size_t have = c->body.size();
    if (have == c->frame_len) {
      on_frame(c);
      return;
    }
    if (c->body.capacity() == have) {
      size_t step = std::clamp(have, kFrameFirstChunkBytes, kMaxGrowthBytes);
      size_t want_capacity = std::min<size_t>(c->frame_len, have + step);
      if (stats.frame_bytes_in_flight - c->charged + want_capacity > opt.frame_memory_budget) {
        close_for(c, "memory_budget",
                  "gossip frame memory budget exhausted; connection closed",
                  {{"received", std::to_string(have)},
                   {"declared", std::to_string(c->frame_len)},
                   {"in_flight", std::to_string(stats.frame_bytes_in_flight)}});
        return;
      }
      c->body.reserve(want_capacity);
      charge(c, c->body.capacity());
    }
    size_t chunk = std::min({c->frame_len - have, c->body.capacity() - have, kFrameReadChunkBytes});
    c->body.resize(have + chunk);
    c->stream.async_read_some(asio::buffer(c->body.data() + have, chunk),
                              [w = weak_from_this(), c, have](const error_code& ec, size_t n) {
                                auto self = w.lock();
                                if (!self || c->closed) return;
                                if (ec) {
                                  self->close(c);
                                  return;
                                }
                                c->body.resize(have + n);
                                self->read_body(c);
                              });
  }

  void on_frame(const std::shared_ptr<Conn>& c) {
    ++c->frame_seq;  // the frame is complete: its deadline no longer applies
    c->read_timer.cancel();
    c->header_got = 0;
    c->last_activity = Clock::now();
    stats.bytes_received += c->body.size() + kFrameHeaderBytes;
    auto env = decode(c->body);
    release_body(c);
    if (!env) {
      ++stats.bad_frames;
      close_for(c, "bad_frame", "gossip peer sent an undecodable frame; connection closed",
                {{"error", env.status().message()}});
      return;
    }
    if (!c->may_claim(env->from)) {
      ++stats.peers_refused["identity_mismatch"];
      warn_limited("identity_mismatch",
                   "gossip peer claimed an identity its certificate does not carry; connection "
                   "closed",
                   {{"claimed", env->from.substr(0, 253)}, {"certificate", describe(c)}},
                   "claimed_identity_mismatch");
      close(c);
      return;
    }
    ++stats.frames_received;
    std::string from = env->from;
    if (!c->outgoing) incoming_by_identity[from] = c;
    read_next(c);
    receive(std::move(env.value()), from);
  }

  // The handshake is done: decide whether this peer is who it must be, before any frame.
  void on_handshake(const std::shared_ptr<Conn>& c) {
    c->setup_timer.cancel();
    end_handshaking(c);
    SSL* ssl = c->stream.native_handle();
    PeerCheck check = verify(peer_chain_pem(ssl), c->outgoing ? c->expected : "", !c->outgoing);
    if (!check.ok) {
      std::string reason = check.reason.empty() ? "refused" : check.reason;
      ++stats.peers_refused[reason];
      warn_limited(reason, "gossip peer refused",
                   {{"peer", c->outgoing ? c->expected : c->address},
                    {"direction", c->outgoing ? "outgoing" : "incoming"},
                    {"detail", check.detail}},
                   "peer_refused:" + reason);
      if (c->outgoing) start_backoff(c);
      close(c);
      return;
    }
    c->identities = c->outgoing ? std::vector<std::string>{c->expected} : check.identities;
    c->established = true;
    c->last_activity = Clock::now();
    if (c->outgoing) {
      backoff.erase(c->expected);
      if (SSL_session_reused(ssl)) ++stats.handshakes_resumed;
    } else {
      admit_peer_connection(c);
    }
    arm_idle(c);
    read_next(c);
    write_next(c);
  }

  // Keeps at most max_connections_per_peer authenticated incoming connections per certificate:
  // the newest wins, so a member that restarted is never locked out by its stale connections.
  void admit_peer_connection(const std::shared_ptr<Conn>& c) {
    c->peer = peer_key(c->identities);
    auto& conns = incoming_by_peer[c->peer];
    conns.push_back(c);
    while (conns.size() > std::max<size_t>(opt.max_connections_per_peer, 1)) {
      auto oldest = conns.front().lock();
      conns.pop_front();
      if (oldest) {
        close_for(oldest, "per_peer_cap",
                  "gossip peer opened more connections than allowed; oldest closed",
                  {{"limit", std::to_string(opt.max_connections_per_peer)}});
      }
    }
  }

  void connect(const std::shared_ptr<Conn>& c) {
    ++stats.connections_opened;
    c->setup_timer.expires_after(opt.connect_timeout);
    c->setup_timer.async_wait([w = weak_from_this(), c](const error_code& ec) {
      auto self = w.lock();
      if (!ec && self && !c->established) self->fail_outgoing(c, "connect/handshake timed out");
    });
    c->resolver.async_resolve(
        c->address, std::to_string(c->port),
        [w = weak_from_this(), c](const error_code& ec, tcp::resolver::results_type results) {
          auto self = w.lock();
          if (!self || c->closed) return;
          if (ec) {
            self->fail_outgoing(c, "resolve: " + ec.message());
            return;
          }
          asio::async_connect(c->stream.lowest_layer(), results,
                              [w, c](const error_code& cec, const tcp::endpoint&) {
                                auto s = w.lock();
                                if (!s || c->closed) return;
                                if (cec) {
                                  s->fail_outgoing(c, "connect: " + cec.message());
                                  return;
                                }
                                error_code nec;
                                c->stream.lowest_layer().set_option(tcp::no_delay(true), nec);
                                SSL* ssl = c->stream.native_handle();
                                SSL_set_tlsext_host_name(ssl, c->expected.c_str());
                                SSL_set_ex_data(ssl, session_sink_index(),
                                                static_cast<SessionSink*>(c.get()));
                                if (s->resumption) {
                                  auto it = s->sessions.find(c->expected);
                                  if (it != s->sessions.end())
                                    SSL_set_session(ssl, it->second.get());
                                }
                                c->stream.async_handshake(
                                    asio::ssl::stream_base::client, [w, c](const error_code& hec) {
                                      auto s2 = w.lock();
                                      if (!s2 || c->closed) return;
                                      if (hec) {
                                        ++s2->stats.handshake_failures;
                                        s2->fail_outgoing(c, "TLS: " + hec.message());
                                        return;
                                      }
                                      s2->on_handshake(c);
                                    });
                              });
        });
  }

  void accept_next() {
    if (stopped) return;
    acceptor.async_accept([w = weak_from_this()](const error_code& ec, tcp::socket socket) {
      auto self = w.lock();
      if (!self || self->stopped) return;
      if (ec) {
        if (ec != asio::error::operation_aborted) self->accept_next();
        return;
      }
      self->on_accept(std::move(socket));
      self->accept_next();
    });
  }

  void on_accept(tcp::socket socket) {
    error_code ec;
    auto remote = socket.remote_endpoint(ec);
    std::string address = ec ? "?" : remote.address().to_string();
    auto refuse = [&](const char* reason, const char* message, LogField limit) {
      count_refusal(reason, message, {{"address", address}, std::move(limit)});
      error_code ignored;
      socket.close(ignored);
    };
    if (incoming.size() >= opt.max_incoming_connections) {
      ++stats.incoming_refused;
      refuse("incoming_cap", "gossip connection refused: too many incoming connections",
             {"limit", std::to_string(opt.max_incoming_connections)});
      return;
    }
    size_t& handshaking = handshaking_by_address[address];
    if (handshaking >= opt.max_handshakes_per_address) {
      refuse("per_address_cap",
             "gossip connection refused: too many unauthenticated connections from one address",
             {"limit", std::to_string(opt.max_handshakes_per_address)});
      return;
    }
    ++handshaking;
    ++stats.connections_accepted;
    auto c = std::make_shared<Conn>(*this, false, tls);
    c->address = address;
    c->handshaking_counted = true;
    c->stream.lowest_layer() = std::move(socket);
    c->stream.lowest_layer().set_option(tcp::no_delay(true), ec);
    incoming.push_back(c);
    stats.incoming_open = incoming.size();
    c->setup_timer.expires_after(opt.connect_timeout);
    c->setup_timer.async_wait([w = weak_from_this(), c](const error_code& tec) {
      auto self = w.lock();
      if (tec || !self || c->closed || c->established) return;
      ++self->stats.handshake_failures;
      self->close_for(c, "handshake_timeout",
                      "gossip client did not complete a TLS handshake in time; connection closed");
    });
    c->stream.async_handshake(
        asio::ssl::stream_base::server, [w = weak_from_this(), c](const error_code& hec) {
          auto self = w.lock();
          if (!self || c->closed) return;
          if (hec) {
            ++self->stats.handshake_failures;
            self->close_for(c, handshake_failure_reason(hec),
                            "gossip TLS handshake failed; connection closed",
                            {{"error", hec.message()}});
            return;
          }
          self->on_handshake(c);
        });
  }

  std::shared_ptr<Conn> route_existing(const std::string& identity) {
    auto it = outgoing.find(identity);
    if (it != outgoing.end() && it->second->established) return it->second;
    auto in = incoming_by_identity.find(identity);
    if (in != incoming_by_identity.end()) {
      if (auto c = in->second.lock(); c && !c->closed) return c;
      incoming_by_identity.erase(in);
    }
    return nullptr;
  }

  void send(const Outgoing& out) {
    if (stopped) return;
    std::vector<uint8_t> bytes;
    std::vector<uint8_t> payload = encode(out.envelope);
    if (payload.empty() || payload.size() > kMaxFrameBytes) {
      ++stats.bad_frames;
      return;
    }
    bytes.reserve(kFrameHeaderBytes + payload.size());
    append_frame_header(bytes, static_cast<uint32_t>(payload.size()));
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    auto frame = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));

    if (out.address.empty()) {
      if (auto c = route_existing(out.to)) {
        enqueue(c, std::move(frame));
      } else {
        ++stats.dropped_no_route;
      }
      return;
    }
    auto it = outgoing.find(out.to);
    if (it != outgoing.end() &&
        (it->second->address != out.address || it->second->port != out.port)) {
      close(it->second);  // the peer moved (new pod IP): the old connection is stale
      it = outgoing.end();
    }
    if (it == outgoing.end()) {
      auto b = backoff.find(out.to);
      if (b != backoff.end() && b->second.address == out.address && b->second.port == out.port &&
          Clock::now() < b->second.until) {
        ++stats.dropped_backoff;
        return;
      }
      auto c = std::make_shared<Conn>(*this, true, tls);
      c->expected = out.to;
      c->address = out.address;
      c->port = out.port;
      outgoing[out.to] = c;
      connect(c);
      enqueue(c, std::move(frame));
      return;
    }
    enqueue(it->second, std::move(frame));
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    error_code ec;
    acceptor.close(ec);
    auto out = outgoing;
    for (auto& [id, c] : out) close(c);
    outgoing.clear();
    auto in = incoming;
    for (auto& c : in) close(c);
    incoming.clear();
    incoming_by_identity.clear();
    incoming_by_peer.clear();
    handshaking_by_address.clear();
    sessions.clear();
  }
};

Transport::Transport(asio::io_context& io, TransportOptions options,
                     std::shared_ptr<const TlsSnapshot> tls, PeerVerifier verifier, Receive receive,
                     Logger log)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(tls), std::move(verifier),
                                   std::move(receive), std::move(log))) {}

Transport::~Transport() { impl_->stop(); }

Status Transport::listen() {
  error_code ec;
  auto addr = asio::ip::make_address(impl_->opt.bind_address, ec);
  if (ec) {
    return Status::invalid_argument("gossip bind address \"" + impl_->opt.bind_address +
                                    "\" is not an IP address");
  }
  tcp::endpoint ep(addr, impl_->opt.port);
  std::string where = impl_->opt.bind_address + ":" + std::to_string(impl_->opt.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    impl_->acceptor.close(ignored);
    if (ec == asio::error::address_in_use) {
      return Status::io("gossip port " + where +
                        " is in use; stop the other process or set ESK8S_GOSSIP_PORT");
    }
    return Status::io("cannot listen for gossip on " + where + ": " + ec.message());
  }
  impl_->accept_next();
  return Status::ok();
}

uint16_t Transport::local_port() const {
  error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Transport::send(const Outgoing& out) { impl_->send(out); }

void Transport::set_tls(std::shared_ptr<const TlsSnapshot> tls) { impl_->tls = std::move(tls); }

void Transport::set_session_resumption(bool on) {
  impl_->resumption = on;
  if (!on) impl_->sessions.clear();
}

void Transport::disconnect(const std::string& identity) {
  auto it = impl_->outgoing.find(identity);
  if (it != impl_->outgoing.end()) impl_->close(it->second);
  auto in = impl_->incoming_by_identity.find(identity);
  if (in != impl_->incoming_by_identity.end()) {
    if (auto c = in->second.lock()) impl_->close(c);
    impl_->incoming_by_identity.erase(in);
  }
}

void Transport::stop() { impl_->stop(); }

TransportStats::TransportStats() {
  for (const char* reason : kCloseReasons) connections_closed[reason] = 0;
}

const TransportStats& Transport::stats() const { return impl_->stats; }

}  // namespace esk8s::gossip
