// gossip::Driver runs a Core on the plugin's io_context: it feeds the core real time (a steady
// timer armed at core.next_deadline()), hands received envelopes to core.step with the identity
// the transport authenticated, sends what the core asks for, and reports membership events.
//
// Thread-safety: not thread-safe; every method runs on the io_context's thread (the runtime
// posts to it). The event callback runs on that thread too.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/logger.h"
#include "common/status.h"
#include "gossip/core.h"
#include "gossip/tls_claims.h"
#include "gossip/transport.h"

namespace esk8s::gossip {

struct DriverOptions {
  Config config;
  LocalMember local;
  TransportOptions transport;
  uint64_t rng_seed = 0;
};

class Driver {
 public:
  // Called after each core operation that produced membership events.
  using OnEvents = std::function<void(const std::vector<MembershipEvent>&)>;

  Driver(boost::asio::io_context& io, DriverOptions options, std::shared_ptr<const TlsSnapshot> tls,
         PeerVerifier verifier, OnEvents on_events, Logger log);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Binds the gossip listener (options.local.port 0: any free port, then advertised) and starts
  // the protocol timer.
  Status start();
  void stop();

  void set_seeds(const std::vector<Seed>& seeds);
  void set_local_meta(std::string meta);
  // Graceful leave: announces kLeft to every alive member now.
  void leave();
  // Rotation: new connections use `tls`, and our member record is signed again with it.
  void set_tls(std::shared_ptr<const TlsSnapshot> tls);
  // Fault injection (tests, ESK8S_FAULT_FILE): while isolated, received envelopes are dropped
  // and nothing is sent, as if the network cut this node off. Connections stay up.
  void set_isolated(bool isolated) { isolated_ = isolated; }
  bool isolated() const { return isolated_; }

  // REQUIRES: start() succeeded.
  const Core& core() const { return *core_; }
  const Transport& transport() const { return transport_; }
  Transport& transport() { return transport_; }

 private:
  void apply(Ready ready);
  void arm_timer();

  DriverOptions options_;
  // Signs our records with the current certificate and verifies peers' (shared with the core).
  std::shared_ptr<TlsClaimAuthority> authority_;
  std::optional<Core> core_;  // built in start(), once the listener's port is known
  Transport transport_;
  boost::asio::steady_timer timer_;
  OnEvents on_events_;
  Logger log_;
  bool stopped_ = false;
  bool isolated_ = false;
};

}  // namespace esk8s::gossip
