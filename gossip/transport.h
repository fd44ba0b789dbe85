// The gossip transport: moves Envelopes between members over TCP + TLS 1.3 with mutual
// authentication, on the plugin's io_context (one thread; every method below runs on it).
//
// - One persistent outgoing connection per peer identity, opened on first use, reconnected on
//   demand with exponential backoff after a failure (messages to a peer in backoff are dropped
//   and counted: gossip tolerates loss, and a dead peer must not grow a queue).
// - After every handshake, on both sides, the PeerVerifier checks the peer's certificate: on the
//   connecting side against the identity we meant to reach; on the accepting side it yields the
//   identities the certificate may claim, and every envelope's `from` must be one of them.
//   A refused peer is disconnected and counted by reason; nothing it sent reaches the core.
// - Frames: 4-byte big-endian length + CBOR envelope (wire.h), at most kMaxFrameBytes. A bad
//   frame closes the connection (counted).
// - Per-operation deadlines: connect + handshake, each write, and the body of a frame whose header
//   has arrived. Bounded send queues per connection (frames and bytes): overflow drops the new
//   frame (counted), so a slow peer cannot grow memory without bound.
// - stop() closes the listener and every connection and cancels every timer.
//
// Thread-safety: not thread-safe; use from the io_context's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/logger.h"
#include "common/status.h"
#include "gossip/core.h"
#include "gossip/message.h"
#include "gossip/tls_snapshot.h"

namespace esk8s::gossip {

// The verdict on a peer certificate after a handshake.
struct PeerCheck {
  bool ok = false;
  std::string reason;  // stable metric label when refused ("untrusted_issuer", ...)
  std::string detail;  // a sentence for the log
  // Accepting side: identities the peer may claim. Connecting side: the expected identity.
  std::vector<std::string> identities;
};
// `chain_pem`: the peer's certificates, leaf first. `expected`: the identity we connected to, or
// empty on the accepting side. `peer_is_client`: true on the accepting side (the peer needs EKU
// clientAuth), false on the connecting side (serverAuth).
using PeerVerifier = std::function<PeerCheck(const std::string& chain_pem,
                                             const std::string& expected, bool peer_is_client)>;

struct TransportOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 0;                                // 0: any free port (tests)
  std::chrono::milliseconds connect_timeout{2000};  // TCP connect + TLS handshake
  std::chrono::milliseconds io_timeout{2000};       // one write, or a frame body once started
  std::chrono::milliseconds backoff_min{100};       // first reconnect delay after a failure
  std::chrono::milliseconds backoff_max{5000};      // doubling stops here
  size_t max_queue_frames = 256;                    // per connection
  size_t max_queue_bytes = 4u << 20;                // per connection
  size_t max_incoming_connections = 1024;
};

struct TransportStats {
  uint64_t connections_opened = 0, connections_accepted = 0, connect_failures = 0;
  uint64_t frames_sent = 0, frames_received = 0, bytes_sent = 0, bytes_received = 0;
  uint64_t dropped_queue_full = 0, dropped_backoff = 0, dropped_no_route = 0;
  uint64_t bad_frames = 0;                        // undecodable or over the size limit
  uint64_t handshake_failures = 0;                // TLS-level failures (before any verdict)
  uint64_t incoming_refused = 0;                  // over max_incoming_connections
  uint64_t handshakes_resumed = 0;                // connecting side: TLS session resumed
  std::map<std::string, uint64_t> peers_refused;  // by PeerCheck reason
};

class Transport {
 public:
  // Called for every authenticated envelope: `from` is the identity the certificate proved.
  using Receive = std::function<void(Envelope envelope, const std::string& from)>;

  Transport(boost::asio::io_context& io, TransportOptions options,
            std::shared_ptr<const TlsSnapshot> tls, PeerVerifier verifier, Receive receive,
            Logger log);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds and starts accepting. Error names the address and port ("127.0.0.1:2114 is in use").
  Status listen();
  uint16_t local_port() const;

  // Queues `out` for its peer: over an existing connection when `out.address` is empty (a reply
  // to a peer whose address the core does not know), else over the outgoing connection to
  // out.to at out.address:out.port (reconnecting when the address changed).
  void send(const Outgoing& out);

  // Rotation: connections opened from now on use `tls`; open ones keep theirs.
  void set_tls(std::shared_ptr<const TlsSnapshot> tls);
  // Session resumption for outgoing connections (on by default).
  void set_session_resumption(bool on);

  // Closes the connections to and from `identity` (the next send reconnects; with resumption on,
  // with an abbreviated handshake). For tests and benchmarks.
  void disconnect(const std::string& identity);

  void stop();
  const TransportStats& stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace esk8s::gossip
