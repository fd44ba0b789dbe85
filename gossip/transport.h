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
//   frame closes the connection (counted). A frame's body is read in bounded chunks and its
//   buffer grows with the bytes that actually arrived, never to the declared length up front; the
//   bytes of all partially received frames share one per-node budget (frame_memory_budget).
// - Deadlines: connect + handshake (both sides: a client that connects and never speaks is closed
//   after connect_timeout), each write, a frame from its first header byte to the end of its body
//   (io_timeout), and an idle deadline for established connections that carry no frame in either
//   direction (idle_timeout); an idle outgoing connection reopens on the next send.
// - Limits on the accepting side: max_incoming_connections in all, max_handshakes_per_address
//   not-yet-authenticated connections per source address, and max_connections_per_peer
//   authenticated connections per certificate identity (a new one closes that peer's oldest, so
//   a restarted member is never locked out by its own half-open connections).
// - Every connection the transport refuses or closes on its own is counted by reason
//   (TransportStats::connections_closed, every reason of kCloseReasons present from the start).
//   Refusals are logged at warn with the remote address, at most one line per reason per
//   refusal_log_interval (the line carries how many were suppressed since the last one).
// - Bounded send queues per connection (frames and bytes): overflow drops the new frame
//   (counted), so a slow peer cannot grow memory without bound.
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
  std::chrono::milliseconds connect_timeout{2000};  // TCP connect + TLS handshake, both sides
  // One write; or one frame from its first header byte to its last body byte. A peer must be able
  // to send kMaxFrameBytes within it.
  std::chrono::milliseconds io_timeout{2000};
  // An established connection that carried no frame either way for this long is closed (an
  // outgoing one reopens on the next send, with a resumed handshake). Default 5 min: a member
  // probes every other member once per round of N × probe_interval (lan: N seconds), so in
  // clusters up to ~300 members connections between members stay open; in larger ones a pair
  // reconnects about once per round, a small cost. Hostile idle connections are gone in 5 min.
  // 0: no idle limit.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds backoff_min{100};  // first reconnect delay after a failure
  std::chrono::milliseconds backoff_max{5000};  // doubling stops here
  size_t max_queue_frames = 256;                // per connection
  size_t max_queue_bytes = 4u << 20;            // per connection
  size_t max_incoming_connections = 1024;
  // Authenticated incoming connections per certificate identity; one more closes the oldest. A
  // member needs one (its outgoing connection to us), more only briefly around a restart.
  size_t max_connections_per_peer = 4;
  // Incoming connections still in the TLS handshake per source IP address; more are refused at
  // accept. Members behind one NAT address share it.
  size_t max_handshakes_per_address = 8;
  // Bytes allocated for partially received frames across all connections. A connection whose
  // next chunk would exceed it is closed (memory_budget). Default 64 MiB = 8 frames of
  // kMaxFrameBytes in flight at once; gossip frames are normally a few KiB.
  size_t frame_memory_budget = 64u << 20;
  // At most one warn line per refusal reason per interval.
  std::chrono::milliseconds refusal_log_interval{10000};
};

// Frame bodies are read at most kFrameReadChunkBytes at a time into a buffer that starts at
// kFrameFirstChunkBytes (one TLS record) and grows with the bytes received (doubling, by at most
// 1 MiB a step, never past the declared length): a header alone costs kFrameFirstChunkBytes.
inline constexpr size_t kFrameReadChunkBytes = 64u << 10;
inline constexpr size_t kFrameFirstChunkBytes = 16u << 10;

// Why the transport refused or closed a connection on its own (stable metric labels). Peer
// certificate refusals are counted separately (TransportStats::peers_refused).
inline constexpr const char* kCloseReasons[] = {
    "incoming_cap",           // over max_incoming_connections at accept
    "per_address_cap",        // over max_handshakes_per_address at accept
    "per_peer_cap",           // oldest connection of a peer over max_connections_per_peer
    "handshake_timeout",      // accepting side: no TLS handshake within connect_timeout
    "no_client_certificate",  // accepting side: the client presented no certificate
    "handshake_failed",       // accepting side: any other TLS handshake failure
    "partial_frame_timeout",  // a frame not complete within io_timeout of its first byte
    "write_timeout",          // a write not complete within io_timeout
    "idle_timeout",           // no frame either way for idle_timeout
    "memory_budget",          // the next chunk would exceed frame_memory_budget
    "frame_too_large",        // declared length above kMaxFrameBytes
    "bad_frame",              // zero length or undecodable envelope
};

struct TransportStats {
  TransportStats();
  uint64_t connections_opened = 0, connections_accepted = 0, connect_failures = 0;
  uint64_t frames_sent = 0, frames_received = 0, bytes_sent = 0, bytes_received = 0;
  uint64_t dropped_queue_full = 0, dropped_backoff = 0, dropped_no_route = 0;
  uint64_t bad_frames = 0;                        // undecodable or over the size limit
  uint64_t handshake_failures = 0;                // TLS-level failures (before any verdict)
  uint64_t incoming_refused = 0;                  // over max_incoming_connections
  uint64_t handshakes_resumed = 0;                // connecting side: TLS session resumed
  std::map<std::string, uint64_t> peers_refused;  // by PeerCheck reason
  // By kCloseReasons label; every label is present (0 until it happens).
  std::map<std::string, uint64_t> connections_closed;
  // Gauges: open incoming connections (handshaking or established) and bytes allocated for
  // partially received frames now, and the most ever allocated at once.
  uint64_t incoming_open = 0;
  uint64_t frame_bytes_in_flight = 0, frame_bytes_in_flight_peak = 0;
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
