// TLS helpers shared by the transport and process tests: a CA, leaf certificates for member
// identities, and a PeerVerifier over tls::verify_peer like the plugin's (TlsManager::verifier).
// Plus the hostile side of the transport tests: raw frames and a RawPeer that sends any bytes.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "gossip/tls_snapshot.h"
#include "gossip/transport.h"
#include "gossip/wire.h"
#include "common/env.h"
#include "tls/peer_verify.h"
#include "tls/x509.h"

namespace esk8s::test {

inline std::string member_identity(int i) {
  return "esdb-" + std::to_string(i) + ".esdb.prod.svc.cluster.local";
}

inline tls::CertAndKey make_ca(const std::string& name) {
  return tls::make_self_signed_ca(name, tls::KeyType::kEcdsaP256, std::chrono::hours(24)).value();
}

// A member certificate for `identity` (serverAuth + clientAuth) signed by `ca`, valid from
// `backdate` before now for `validity` after it.
inline tls::CertAndKey make_leaf(const tls::CertAndKey& ca, const std::string& identity,
                                 std::chrono::seconds validity = tls::CertSpec{}.validity,
                                 std::chrono::seconds backdate = tls::CertSpec{}.backdate) {
  tls::CertSpec spec;
  spec.common_name = identity;
  spec.dns_names = {identity};
  spec.validity = validity;
  spec.backdate = backdate;
  return tls::issue(spec, ca).value();
}

inline std::shared_ptr<const gossip::TlsSnapshot> snapshot(const tls::CertAndKey& leaf,
                                                           const std::string& bundle) {
  return gossip::TlsSnapshot::make({leaf.cert_pem, leaf.key_pem, bundle}).value();
}

// Verifies against `*bundle` (read at each handshake, so a test can change it) and the cluster
// pattern of namespace "prod", judging validity periods by `env`'s calendar (a test's fake clock
// decides when a certificate has expired).
inline gossip::PeerVerifier verifier(std::shared_ptr<std::string> bundle,
                                     Env& env = real_env()) {
  return [bundle, &env](const std::string& chain, const std::string& expected,
                        bool peer_is_client) {
    tls::PeerVerifyInput in;
    in.chain_pem = chain;
    in.trust_bundle_pem = *bundle;
    in.claimed_identity = expected;
    in.cluster_patterns = {"*.esdb.prod.svc.cluster.local"};
    in.our_role = peer_is_client ? tls::PeerRole::kServer : tls::PeerRole::kClient;
    in.now = env.system_now();
    tls::PeerVerdict v = tls::verify_peer(in);
    return gossip::PeerCheck{v.ok(), std::string(tls::metric_label(v.reason)), v.detail,
                             v.identities};
  };
}

// `payload` with the transport's 4-byte big-endian length prefix.
inline std::string framed(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> bytes;
  gossip::append_frame_header(bytes, static_cast<uint32_t>(payload.size()));
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return std::string(bytes.begin(), bytes.end());
}

// Only a frame header declaring `length` bytes.
inline std::string frame_header(uint32_t length) {
  return std::string{static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                     static_cast<char>(length >> 8), static_cast<char>(length)};
}

// A hostile peer on the test's io_context: a TCP connection to a transport, with a TLS handshake
// presenting a member certificate (kTls), no certificate (kTlsWithoutCertificate) or none at all
// (kPlainTcp), after which it writes exactly the bytes a test gives it. It always keeps a read
// pending, so closed() turns true once the other side closes the connection.
//
// Thread-safety: none; used from the thread running the io_context. Handlers share the state, so
// destroying a RawPeer with operations pending is safe.
class RawPeer {
 public:
  enum class Mode { kTls, kTlsWithoutCertificate, kPlainTcp };

  // `tls`: the client certificate for kTls (ignored otherwise).
  RawPeer(boost::asio::io_context& io, Mode mode,
          std::shared_ptr<const gossip::TlsSnapshot> tls = nullptr)
      : s_(std::make_shared<State>(io, mode, std::move(tls))) {}
  ~RawPeer() {
    boost::system::error_code ec;
    s_->stream.lowest_layer().close(ec);
  }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  // Starts connecting from `bind_ip`; ready() once connected (and handshaken for TLS modes).
  void connect(const std::string& ip, uint16_t port, const std::string& bind_ip) {
    namespace asio = boost::asio;
    using tcp = asio::ip::tcp;
    boost::system::error_code ec;
    auto& sock = s_->stream.lowest_layer();
    sock.open(tcp::v4(), ec);
    if (!ec) sock.bind(tcp::endpoint(asio::ip::make_address(bind_ip), 0), ec);
    if (ec) {
      s_->closed = true;
      return;
    }
    sock.async_connect(tcp::endpoint(asio::ip::make_address(ip), port),
                       [s = s_](const boost::system::error_code& cec) {
                         if (cec) {
                           s->closed = true;
                           return;
                         }
                         if (s->mode == Mode::kPlainTcp) {
                           s->ready = true;
                           read_until_closed(s);
                           return;
                         }
                         s->stream.async_handshake(
                             boost::asio::ssl::stream_base::client,
                             [s](const boost::system::error_code& hec) {
                               if (hec) {
                                 s->closed = true;
                                 return;
                               }
                               s->ready = true;
                               read_until_closed(s);
                             });
                       });
  }

  // REQUIRES: ready(), and the previous write finished (writes_done() counts them).
  void write(std::string bytes) {
    auto data = std::make_shared<std::string>(std::move(bytes));
    auto done = [s = s_, data](const boost::system::error_code& ec, size_t) {
      if (ec) s->closed = true;
      ++s->writes_done;
    };
    if (s_->mode == Mode::kPlainTcp) {
      boost::asio::async_write(s_->stream.next_layer(), boost::asio::buffer(*data), done);
    } else {
      boost::asio::async_write(s_->stream, boost::asio::buffer(*data), done);
    }
  }

  bool ready() const { return s_->ready; }
  bool closed() const { return s_->closed; }
  int writes_done() const { return s_->writes_done; }

 private:
  struct State {
    State(boost::asio::io_context& io, Mode m, std::shared_ptr<const gossip::TlsSnapshot> snapshot)
        : mode(m),
          tls(std::move(snapshot)),
          own(boost::asio::ssl::context::tls_client),
          stream(io, mode == Mode::kTls ? tls->client() : own) {
      own.set_verify_mode(boost::asio::ssl::verify_none);
    }
    Mode mode;
    std::shared_ptr<const gossip::TlsSnapshot> tls;
    boost::asio::ssl::context own;  // no certificate
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream;
    bool ready = false, closed = false;
    int writes_done = 0;
    std::array<char, 512> buf{};
  };

  static void read_until_closed(const std::shared_ptr<State>& s) {
    auto on_read = [s](const boost::system::error_code& ec, size_t) {
      if (ec) {
        s->closed = true;
        return;
      }
      read_until_closed(s);
    };
    if (s->mode == Mode::kPlainTcp) {
      s->stream.next_layer().async_read_some(boost::asio::buffer(s->buf), on_read);
    } else {
      s->stream.async_read_some(boost::asio::buffer(s->buf), on_read);
    }
  }

  std::shared_ptr<State> s_;
};

}  // namespace esk8s::test
