#include "gossip/driver.h"

namespace esk8s::gossip {

namespace {
Time now() { return std::chrono::steady_clock::now(); }
}  // namespace

Driver::Driver(boost::asio::io_context& io, DriverOptions options,
               std::shared_ptr<const TlsSnapshot> tls, PeerVerifier verifier, OnEvents on_events,
               Logger log)
    : options_(std::move(options)),
      authority_(std::make_shared<TlsClaimAuthority>(tls, verifier)),
      transport_(
          io, options_.transport, std::move(tls), std::move(verifier),
          [this](Envelope e, const std::string& from) {
            if (!stopped_ && !isolated_ && core_) apply(core_->step(e, from, now()));
          },
          log.with_component("gossip-transport")),
      timer_(io),
      on_events_(std::move(on_events)),
      log_(std::move(log)) {}

Driver::~Driver() { stop(); }

Status Driver::start() {
  if (Status s = transport_.listen(); !s) return s;
  if (options_.local.port == 0) options_.local.port = transport_.local_port();
  core_.emplace(options_.config, options_.local, authority_, options_.rng_seed, now());
  arm_timer();
  return Status::ok();
}

void Driver::stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_.cancel();
  transport_.stop();
}

void Driver::set_seeds(const std::vector<Seed>& seeds) {
  if (!stopped_ && core_) apply(core_->set_seeds(seeds, now()));
}

void Driver::set_local_meta(std::string meta) {
  if (!stopped_ && core_) apply(core_->set_local_meta(std::move(meta), now()));
}

void Driver::leave() {
  if (!stopped_ && core_) apply(core_->leave(now()));
}

void Driver::set_tls(std::shared_ptr<const TlsSnapshot> tls) {
  authority_->set_tls(tls);
  transport_.set_tls(std::move(tls));
  if (!stopped_ && core_) apply(core_->refresh_signature(now()));
}

void Driver::apply(Ready ready) {
  if (!isolated_) {
    for (const auto& out : ready.messages) transport_.send(out);
  }
  if (!ready.events.empty() && on_events_) on_events_(ready.events);
  arm_timer();
}

void Driver::arm_timer() {
  if (stopped_) return;
  timer_.expires_at(core_->next_deadline());
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    apply(core_->tick(now()));
  });
}

}  // namespace esk8s::gossip
