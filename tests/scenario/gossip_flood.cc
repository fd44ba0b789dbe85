#include "tests/scenario/gossip_flood.h"

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gossip/tls_snapshot.h"
#include "gossip/transport.h"
#include "tls/x509.h"

namespace esk8s::scenario {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

GossipFlood::GossipFlood(const std::string& ca_dir, std::string identity, FloodTarget target)
    : ca_dir_(ca_dir), identity_(std::move(identity)), target_(std::move(target)) {}

GossipFlood::~GossipFlood() { stop(); }

void GossipFlood::start() {
  thread_ = std::thread([this] { run(); });
}

void GossipFlood::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void GossipFlood::run() {
  try {
    flood();
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    error_ = e.what();
  }
}

std::string GossipFlood::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void GossipFlood::flood() {
  tls::CertAndKey ca{read_file(ca_dir_ + "/ca.crt"), read_file(ca_dir_ + "/ca.key")};
  tls::CertSpec spec;
  spec.common_name = identity_;
  spec.dns_names = {identity_};
  auto leaf = tls::issue(spec, ca);
  if (!leaf) throw std::runtime_error("flood certificate: " + leaf.status().message());
  auto snap = gossip::TlsSnapshot::make({leaf->cert_pem, leaf->key_pem, ca.cert_pem});
  if (!snap) throw std::runtime_error("flood TLS context: " + snap.status().message());

  boost::asio::io_context io;
  gossip::TransportOptions o;
  o.bind_address = "127.0.0.1";
  o.max_queue_frames = 1024;
  // The flooder trusts whoever answers: it measures load, not authentication.
  auto accept_all = [](const std::string&, const std::string& expected, bool) {
    return gossip::PeerCheck{true, "", "", {expected}};
  };
  gossip::Transport transport(
      io, o, snap.value(), accept_all,
      [this](gossip::Envelope e, const std::string&) {
        if (std::holds_alternative<gossip::Ack>(e.body)) ++acks_;
      },
      Logger(std::make_shared<StderrSink>(LogLevel::kError), "flood"));
  gossip::Envelope env;
  env.cluster = target_.cluster;
  env.from = identity_;
  env.from_instance = gossip::InstanceId::make(1, 1, 1);
  gossip::Outgoing out{target_.identity, target_.address, target_.port, env};
  uint32_t seq = 0;
  boost::asio::steady_timer tick(io);
  std::function<void()> burst = [&] {
    if (stop_) return;
    for (int i = 0; i < 50; ++i) {
      out.envelope.body = gossip::Ping{++seq, target_.identity};
      transport.send(out);
    }
    sent_ = transport.stats().frames_sent;
    tick.expires_after(std::chrono::milliseconds(1));
    tick.async_wait([&](const boost::system::error_code&) { burst(); });
  };
  burst();
  while (!stop_) io.run_for(std::chrono::milliseconds(50));
  transport.stop();
  io.run_for(std::chrono::milliseconds(100));
}

}  // namespace esk8s::scenario
