#include "gossip/tls_snapshot.h"

#include <openssl/ssl.h>

namespace esk8s::gossip {

namespace asio = boost::asio;

namespace {

// Accept every chain during the handshake; the transport's PeerVerifier decides right after it,
// before any application data, and can then say precisely why a peer was refused.
int defer_verification(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

// Client side: a ticket arrived; give it to the connection that received it (ownership passes).
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* sink = static_cast<SessionSink*>(SSL_get_ex_data(ssl, session_sink_index()));
  if (!sink) return 0;  // OpenSSL keeps ownership and frees it
  sink->on_new_session(session);
  return 1;
}

// Loads the certificate chain and its key into `ctx`.
Status use_identity(asio::ssl::context& ctx, const TlsMaterial& m) {
  boost::system::error_code ec;
  ctx.use_certificate_chain(asio::buffer(m.cert_chain_pem), ec);
  if (ec)
    return Status::invalid_argument("TLS certificate chain is not usable PEM: " + ec.message());
  ctx.use_private_key(asio::buffer(m.key_pem), asio::ssl::context::pem, ec);
  if (ec) return Status::invalid_argument("TLS private key is not usable PEM: " + ec.message());
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return Status::invalid_argument("TLS private key does not match the certificate");
  }
  return Status::ok();
}

Result<std::unique_ptr<asio::ssl::context>> make_context(const TlsMaterial& m, bool server) {
  auto ctx = std::make_unique<asio::ssl::context>(server ? asio::ssl::context::tls_server
                                                         : asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1) {
    return Status::internal("OpenSSL refused to require TLS 1.3");
  }
  if (Status s = use_identity(*ctx, m); !s) return s;
  boost::system::error_code ec;
  ctx->add_certificate_authority(asio::buffer(m.trust_bundle_pem), ec);
  if (ec) return Status::invalid_argument("TLS trust bundle is not usable PEM: " + ec.message());
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, defer_verification);
  if (server) {
    // Session tickets let a reconnecting peer resume without a full handshake.
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
    // Required to resume sessions whose client certificate was requested; a resumed session keeps
    // the peer certificate of the full handshake, which the transport verifies again.
    static const unsigned char kContext[] = "esk8s-gossip";
    SSL_CTX_set_session_id_context(native, kContext, sizeof kContext - 1);
  } else {
    SSL_CTX_set_session_cache_mode(native,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(native, on_new_session);
  }
  return ctx;
}

// The HTTPS endpoints' context: the member certificate for anonymous clients.
Result<std::unique_ptr<asio::ssl::context>> make_https_context(const TlsMaterial& m) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return Status::internal("OpenSSL refused to require TLS 1.2");
  }
  if (Status s = use_identity(*ctx, m); !s) return s;
  SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  return ctx;
}

}  // namespace

int session_sink_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

Result<std::shared_ptr<const TlsSnapshot>> TlsSnapshot::make(TlsMaterial material) {
  std::shared_ptr<TlsSnapshot> s(new TlsSnapshot());
  auto server = make_context(material, true);
  if (!server) return server.status();
  auto client = make_context(material, false);
  if (!client) return client.status();
  s->server_ = std::move(server.value());
  s->client_ = std::move(client.value());
  auto https = make_https_context(material);
  if (!https) return https.status();
  s->https_ = std::move(https.value());
  s->trust_bundle_pem_ = std::move(material.trust_bundle_pem);
  return std::shared_ptr<const TlsSnapshot>(std::move(s));
}

}  // namespace esk8s::gossip
