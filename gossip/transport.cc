#include "gossip/transport.h"

#include <strings.h>
#include <algorithm>
#include <array>
#include <deque>

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

}  // namespace

struct Transport::Impl : std::enable_shared_from_this<Transport::Impl> {
  struct Conn;

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
    std::chrono::steady_clock::time_point until;
    std::chrono::milliseconds delay{0};
    std::string address;
    uint16_t port = 0;
  };
  std::map<std::string, std::shared_ptr<Conn>> outgoing;            // by peer identity
  std::map<std::string, std::weak_ptr<Conn>> incoming_by_identity;  // last claim seen per identity
  std::vector<std::weak_ptr<Conn>> incoming;
  std::map<std::string, Backoff> backoff;
  std::map<std::string, SessionPtr> sessions;  // TLS tickets for resumption, by peer identity

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
          read_timer(impl.io) {}

    std::weak_ptr<Impl> owner;
    std::shared_ptr<const TlsSnapshot> tls;  // kept for this connection's lifetime
    asio::ssl::stream<tcp::socket> stream;
    bool outgoing;
    std::string expected;  // outgoing: the identity we meant to reach
    std::string address;
    uint16_t port = 0;
    std::vector<std::string> identities;  // what the certificate proved
    bool established = false;
    bool closed = false;
    std::deque<Frame> queue;
    size_t queued_bytes = 0;
    bool writing = false;
    tcp::resolver resolver;
    asio::steady_timer setup_timer, write_timer, read_timer;
    std::array<uint8_t, kFrameHeaderBytes> header{};
    std::vector<uint8_t> body;

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
  };

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
    c->stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    c->stream.lowest_layer().close(ec);
    c->queue.clear();
    c->queued_bytes = 0;
    if (c->outgoing) {
      auto it = outgoing.find(c->expected);
      if (it != outgoing.end() && it->second == c) outgoing.erase(it);
    }
  }

  void start_backoff(const std::shared_ptr<Conn>& c) {
    Backoff& b = backoff[c->expected];
    b.delay = b.delay.count() == 0 ? opt.backoff_min : std::min(b.delay * 2, opt.backoff_max);
    b.until = std::chrono::steady_clock::now() + b.delay;
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
    c->write_timer.expires_after(opt.io_timeout);
    c->write_timer.async_wait([w = weak_from_this(), c](const error_code& ec) {
      auto self = w.lock();
      if (!ec && self && !c->closed) {
        self->log.debug("gossip write timed out", {{"peer", c->expected}});
        self->close(c);
      }
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
                        c->queued_bytes -= f->size();
                        c->queue.pop_front();
                        self->write_next(c);
                      });
  }

  void read_next(const std::shared_ptr<Conn>& c) {
    if (c->closed) return;
    asio::async_read(
        c->stream, asio::buffer(c->header),
        [w = weak_from_this(), c](const error_code& ec, size_t) {
          auto self = w.lock();
          if (!self || c->closed) return;
          if (ec) {
            self->close(c);
            return;
          }
          auto len = parse_frame_header(std::span<const uint8_t, kFrameHeaderBytes>(c->header));
          if (!len) {
            ++self->stats.bad_frames;
            self->log.warn("gossip peer sent a bad frame; connection closed",
                           {{"peer", self->describe(c)}, {"error", len.status().message()}});
            self->close(c);
            return;
          }
          c->body.resize(len.value());
          c->read_timer.expires_after(self->opt.io_timeout);
          c->read_timer.async_wait([w, c](const error_code& tec) {
            auto s = w.lock();
            if (!tec && s && !c->closed) s->close(c);
          });
          asio::async_read(c->stream, asio::buffer(c->body),
                           [w, c](const error_code& bec, size_t n) {
                             auto s = w.lock();
                             if (!s || c->closed) return;
                             c->read_timer.cancel();
                             if (bec) {
                               s->close(c);
                               return;
                             }
                             s->stats.bytes_received += n + kFrameHeaderBytes;
                             s->on_frame(c);
                           });
        });
  }

  std::string describe(const std::shared_ptr<Conn>& c) const {
    if (c->outgoing) return c->expected;
    return c->identities.empty() ? c->address : c->identities.front();
  }

  void on_frame(const std::shared_ptr<Conn>& c) {
    auto env = decode(c->body);
    if (!env) {
      ++stats.bad_frames;
      log.warn("gossip peer sent an undecodable frame; connection closed",
               {{"peer", describe(c)}, {"error", env.status().message()}});
      close(c);
      return;
    }
    if (!c->may_claim(env->from)) {
      ++stats.peers_refused["identity_mismatch"];
      log.warn("gossip peer claimed an identity its certificate does not carry; connection closed",
               {{"claimed", env->from.substr(0, 253)}, {"certificate", describe(c)}});
      close(c);
      return;
    }
    ++stats.frames_received;
    std::string from = env->from;
    if (!c->outgoing) incoming_by_identity[from] = c;
    c->body.clear();
    c->body.shrink_to_fit();
    read_next(c);
    receive(std::move(env.value()), from);
  }

  // The handshake is done: decide whether this peer is who it must be, before any frame.
  void on_handshake(const std::shared_ptr<Conn>& c) {
    c->setup_timer.cancel();
    SSL* ssl = c->stream.native_handle();
    PeerCheck check = verify(peer_chain_pem(ssl), c->outgoing ? c->expected : "", !c->outgoing);
    if (!check.ok) {
      ++stats.peers_refused[check.reason.empty() ? "refused" : check.reason];
      log.warn("gossip peer refused", {{"peer", c->outgoing ? c->expected : c->address},
                                       {"direction", c->outgoing ? "outgoing" : "incoming"},
                                       {"reason", check.reason},
                                       {"detail", check.detail}});
      if (c->outgoing) start_backoff(c);
      close(c);
      return;
    }
    c->identities = c->outgoing ? std::vector<std::string>{c->expected} : check.identities;
    c->established = true;
    if (c->outgoing) {
      backoff.erase(c->expected);
      if (SSL_session_reused(ssl)) ++stats.handshakes_resumed;
    }
    read_next(c);
    write_next(c);
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
    std::erase_if(incoming, [](const std::weak_ptr<Conn>& w) { return w.expired(); });
    if (incoming.size() >= opt.max_incoming_connections) {
      ++stats.incoming_refused;
      error_code ec;
      socket.close(ec);
      return;
    }
    ++stats.connections_accepted;
    auto c = std::make_shared<Conn>(*this, false, tls);
    error_code ec;
    auto remote = socket.remote_endpoint(ec);
    c->address = ec ? "?" : remote.address().to_string();
    c->stream.lowest_layer() = std::move(socket);
    c->stream.lowest_layer().set_option(tcp::no_delay(true), ec);
    incoming.push_back(c);
    c->setup_timer.expires_after(opt.connect_timeout);
    c->setup_timer.async_wait([w = weak_from_this(), c](const error_code& tec) {
      auto self = w.lock();
      if (!tec && self && !c->established) {
        ++self->stats.handshake_failures;
        self->close(c);
      }
    });
    c->stream.async_handshake(
        asio::ssl::stream_base::server, [w = weak_from_this(), c](const error_code& hec) {
          auto self = w.lock();
          if (!self || c->closed) return;
          if (hec) {
            ++self->stats.handshake_failures;
            self->log.debug("gossip TLS handshake failed",
                            {{"address", c->address}, {"error", hec.message()}});
            self->close(c);
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
          std::chrono::steady_clock::now() < b->second.until) {
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
    for (auto& w : incoming) {
      if (auto c = w.lock()) close(c);
    }
    incoming.clear();
    incoming_by_identity.clear();
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

const TransportStats& Transport::stats() const { return impl_->stats; }

}  // namespace esk8s::gossip
