// An immutable TLS configuration snapshot for the gossip transport: one OpenSSL context for the
// accepting side and one for the connecting side, built from one certificate chain, private key
// and trust bundle. Rotation builds a new snapshot and swaps the transport's pointer: connections
// opened afterwards use the new certificate, connections already established keep the context
// they were opened with (each holds a shared_ptr to its snapshot). Nothing is ever mutated after
// make() returns.
//
// Both contexts speak TLS 1.3 only and request the peer's certificate; whether the peer is
// accepted is decided after the handshake by the transport's PeerVerifier (which can tell an
// expired certificate from one of another CA or one for another identity, and count each), so
// no byte of application data is read or written before that verdict.
//
// A third context, https(), serves the plugin's HTTP endpoints over TLS to database clients with
// the same certificate: TLS 1.2 or 1.3 (what EventStoreDB clients speak), no client certificate
// requested. It rotates with the snapshot.
//
// Thread-safety: immutable after make(); share freely.
#pragma once

#include <memory>
#include <string>

#include <openssl/types.h>
#include <boost/asio/ssl/context.hpp>

#include "common/status.h"

namespace esk8s::gossip {

// Receives TLS 1.3 session tickets for an outgoing connection (for session resumption). The
// transport stores a SessionSink* in each client SSL's ex_data slot session_sink_index() (not the
// app data: Boost.Asio owns that one); the context's new-session callback hands it the ticket,
// whose ownership passes to the sink.
class SessionSink {
 public:
  virtual void on_new_session(SSL_SESSION* session) = 0;

 protected:
  ~SessionSink() = default;
};

// The SSL ex_data index holding a SessionSink* (allocated once per process).
int session_sink_index();

struct TlsMaterial {
  std::string cert_chain_pem;    // leaf first, then any intermediates
  std::string key_pem;           // the leaf's private key (never logged)
  std::string trust_bundle_pem;  // one or more CA certificates
};

class TlsSnapshot {
 public:
  // Errors name which part is unusable (never echo key material).
  static Result<std::shared_ptr<const TlsSnapshot>> make(TlsMaterial material);

  boost::asio::ssl::context& server() const { return *server_; }
  boost::asio::ssl::context& client() const { return *client_; }
  boost::asio::ssl::context& https() const { return *https_; }
  const std::string& trust_bundle_pem() const { return trust_bundle_pem_; }

 private:
  TlsSnapshot() = default;
  std::unique_ptr<boost::asio::ssl::context> server_, client_, https_;
  std::string trust_bundle_pem_;
};

}  // namespace esk8s::gossip
