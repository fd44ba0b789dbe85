#include "plugin/runtime.h"

#include <array>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "discovery/dns_source.h"
#include "discovery/kube_config_resolve.h"
#include "discovery/kubernetes_source.h"
#include "plugin/http_server.h"

namespace esk8s::plugin {

namespace asio = boost::asio;

namespace {

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::array<uint8_t, 16> random_instance_id() {
  std::random_device rd;
  std::array<uint8_t, 16> id{};
  for (size_t i = 0; i < id.size(); i += 4) {
    uint32_t r = rd();
    std::memcpy(&id[i], &r, 4);
  }
  id[6] = static_cast<uint8_t>((id[6] & 0x0f) | 0x40);  // RFC 4122 version 4
  id[8] = static_cast<uint8_t>((id[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

// Host-provided strings may lack their terminator; make them safe to print.
esk8s_node_status sanitised(esk8s_node_status s) {
  s.state[sizeof s.state - 1] = '\0';
  s.version[sizeof s.version - 1] = '\0';
  s.struct_size = sizeof s;
  return s;
}

bool same_status(const std::optional<esk8s_node_status>& a,
                 const std::optional<esk8s_node_status>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || std::memcmp(&*a, &*b, sizeof *a) == 0;
}

}  // namespace

// Everything that exists only while running. After start() hands it to the thread, the members
// below `thread` are touched only on the event-loop thread.
struct Runtime::Loop {
  Loop(Runtime& rt) : rt(rt) {}

  Runtime& rt;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  asio::steady_timer heartbeat{io};
  asio::steady_timer status_poll{io};
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<discovery::KubernetesSource> source;  // kubernetes mode; stopped before the loop
  std::unique_ptr<discovery::DnsSource> dns;            // dns mode; stopped before the loop
  std::thread thread;

  std::vector<MemberView> members;  // self first
  discovery::PeerSet peers;         // the last set from discovery
  std::vector<StartupCheck> checks;
  uint64_t generation = 0;
  bool started = false;

  void publish() {
    auto snap = std::make_shared<Snapshot>();
    snap->generation = ++generation;
    snap->started = started;
    snap->startup_checks = checks;
    snap->members = members;
    snap->metrics = collect_metrics();
    rt.snapshots_.store(std::move(snap));
  }

  std::vector<Metric> collect_metrics() const {
    std::vector<Metric> m;
    const char* states[] = {"discovered", "alive", "suspect", "dead", "left"};
    for (int i = 0; i < 5; ++i) {
      double n = 0;
      for (const auto& mem : members) n += static_cast<int>(mem.state) == i;
      m.push_back({"esk8s_members",
                   "Members this node knows, by state (self included).",
                   "gauge",
                   {{"state", states[i]}},
                   n});
    }
    if (!source) return m;
    auto st = source->stats();
    m.push_back({"esk8s_discovery_synced",
                 "1 once every watched namespace has been listed.",
                 "gauge",
                 {},
                 st.synced ? 1.0 : 0.0});
    m.push_back({"esk8s_discovery_last_sync_timestamp_seconds",
                 "Unix time of the last successful list or watch event.",
                 "gauge",
                 {},
                 static_cast<double>(st.last_sync_unix_ms) / 1000.0});
    m.push_back({"esk8s_discovery_relists_total",
                 "Lists restarted from scratch after the first (410 Gone).",
                 "counter",
                 {},
                 static_cast<double>(st.relists)});
    m.push_back({"esk8s_discovery_watch_restarts_total",
                 "Watches re-issued without a relist.",
                 "counter",
                 {},
                 static_cast<double>(st.watch_restarts)});
    m.push_back({"esk8s_discovery_events_total",
                 "Watch events received.",
                 "counter",
                 {},
                 static_cast<double>(st.events)});
    for (const auto& [code, n] : st.errors_by_code) {
      m.push_back({"esk8s_discovery_api_errors_total",
                   "Failed API requests by HTTP code (0: no response).",
                   "counter",
                   {{"code", std::to_string(code)}},
                   static_cast<double>(n)});
    }
    m.push_back(
        {"esk8s_discovery_latency_seconds_sum",
         "Seconds from EndpointSlice change (last-change-trigger-time) to the event applied here.",
         "counter",
         {},
         st.latency_sum_seconds});
    m.push_back({"esk8s_discovery_latency_seconds_count",
                 "EndpointSlice changes measured for discovery latency.",
                 "counter",
                 {},
                 static_cast<double>(st.latency_count)});
    double ready = 0, not_ready = 0, terminating = 0;
    for (const auto& p : peers) {
      if (p.terminating)
        ++terminating;
      else if (p.ready)
        ++ready;
      else
        ++not_ready;
    }
    for (auto [cond, n] :
         {std::pair{"ready", ready}, {"not_ready", not_ready}, {"terminating", terminating}}) {
      m.push_back({"esk8s_discovery_peers",
                   "Peers from discovery by EndpointSlice condition.",
                   "gauge",
                   {{"condition", cond}},
                   n});
    }
    return m;
  }

  // A new peer set from discovery: self stays first; known members keep their state and
  // last-change time, new ones are `discovered`, terminating ones `left`, missing ones dropped.
  void set_peers(const discovery::PeerSet& fresh) {
    peers = fresh;
    int64_t now_ms = unix_now_ms();
    std::vector<MemberView> next;
    next.push_back(members.front());
    for (const auto& p : peers) {
      MemberView m;
      m.identity = p.identity;
      m.address = p.address;
      m.gossip_port = p.gossip_port;
      m.state = p.terminating ? MemberState::kLeft : MemberState::kDiscovered;
      m.last_change_unix_ms = now_ms;
      for (const auto& old : members) {
        if (old.identity == m.identity && old.address == m.address && old.state == m.state &&
            !old.is_self) {
          m.last_change_unix_ms = old.last_change_unix_ms;
        }
      }
      next.push_back(std::move(m));
    }
    bool changed = next.size() != members.size();
    for (size_t i = 0; !changed && i < next.size(); ++i) {
      changed = next[i].identity != members[i].identity || next[i].address != members[i].address ||
                next[i].state != members[i].state || next[i].gossip_port != members[i].gossip_port;
    }
    if (!changed) return;
    members = std::move(next);
    publish();
    if (started && rt.host_) rt.host_->membership_changed(members);
  }

  // First handler on the loop: the instance is up.
  void on_started() {
    started = true;
    publish();
    if (rt.host_) rt.host_->membership_changed(members);
    arm_heartbeat();
    arm_status_poll();
  }

  // Proves to /health/live that the loop still runs handlers.
  void arm_heartbeat() {
    heartbeat.expires_after(rt.timings_.heartbeat_interval);
    heartbeat.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      rt.last_heartbeat_ns_.store(steady_now_ns(), std::memory_order_release);
      arm_heartbeat();
    });
  }

  // Polls the host's node status; a change is published (it is not a membership change).
  void arm_status_poll() {
    status_poll.expires_after(rt.timings_.status_poll_interval);
    status_poll.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (rt.host_) {
        auto status = rt.host_->node_status();
        if (status) status = sanitised(*status);
        if (!same_status(status, members.front().status)) members.front().status = status;
      }
      publish();  // also refreshes the metrics
      arm_status_poll();
    });
  }
};

Runtime::Runtime(Config config, Timings timings, Logger logger, std::shared_ptr<Host> host)
    : config_(std::move(config)),
      timings_(timings),
      log_(std::move(logger)),
      host_(std::move(host)) {}

Runtime::~Runtime() { stop(); }

uint16_t Runtime::http_port() const { return loop_->http->port(); }

void Runtime::post(std::function<void()> fn) { asio::post(loop_->io, std::move(fn)); }

Status Runtime::start() {
  if (loop_) return Status::state("esk8s is already running; call stop before start");

  // The kubernetes source needs an API server and credentials; a missing one is a
  // configuration error, not something to retry.
  std::unique_ptr<discovery::KubeClient> kube;
  if (config_.discovery == DiscoveryMode::kKubernetes) {
    auto kc = discovery::resolve_kube_config(discovery::kube_config_inputs_from_env(
        config_.kube_api, config_.kubeconfig, config_.service_account_dir));
    if (!kc.is_ok()) return kc.status();
    auto client = discovery::KubeClient::create(kc.value(), {}, log_.with_component("kube-client"));
    if (!client.is_ok()) return client.status();
    kube = std::move(client.value());
    log_.info("Kubernetes API", {{"server", kc->server}, {"from", kc->source}});
  }

  auto loop = std::make_unique<Loop>(*this);
  last_heartbeat_ns_.store(steady_now_ns(), std::memory_order_release);

  // Self first, then the discovered peers; gossip will move peers to alive/suspect/dead.
  int64_t now_ms = unix_now_ms();
  MemberView self;
  self.identity = config_.identity();
  self.address = config_.bind_address;
  self.gossip_port = config_.gossip_port;
  self.state = MemberState::kAlive;
  self.is_self = true;
  self.instance_id = random_instance_id();
  self.last_change_unix_ms = now_ms;
  if (host_) self.status = host_->node_status();
  if (self.status) self.status = sanitised(*self.status);
  loop->members.push_back(std::move(self));
  loop->set_peers(config_.static_peers);
  loop->checks.push_back({"config", true, "identity " + config_.identity()});
  std::string namespaces = config_.namespace_name;
  for (const auto& ns : config_.peer_namespaces) namespaces += "," + ns;
  loop->checks.push_back(
      {"discovery", true,
       kube ? "kubernetes: service " + config_.service + " in " + namespaces
            : "static: " + std::to_string(config_.static_peers.size()) + " peer(s)"});

  loop->http = std::make_unique<HttpServer>(snapshots_, last_heartbeat_ns_, timings_,
                                            log_.with_component("http"));
  if (Status s = loop->http->start(config_.bind_address, config_.http_port); !s) return s;
  loop->checks.push_back(
      {"http-listener", true, config_.bind_address + ":" + std::to_string(loop->http->port())});

  Loop* l = loop.get();
  asio::post(l->io, [l] { l->on_started(); });
  l->thread = std::thread([l] { l->io.run(); });
  if (kube) {
    discovery::KubernetesSourceOptions so;
    so.service = config_.service;
    so.namespaces.push_back(config_.namespace_name);
    for (const auto& ns : config_.peer_namespaces) so.namespaces.push_back(ns);
    so.cluster_domain = config_.cluster_domain;
    so.self_pod = config_.pod_name;
    so.self_namespace = config_.namespace_name;
    so.default_gossip_port = config_.gossip_port;
    so.seed = std::random_device{}();
    l->source = std::make_unique<discovery::KubernetesSource>(
        so, std::move(kube), log_.with_component("discovery"),
        [l](const discovery::PeerSet& peers) {
          asio::post(l->io, [l, peers] { l->set_peers(peers); });
        });
    l->source->start();
  } else if (config_.discovery == DiscoveryMode::kDns) {
    discovery::DnsSourceOptions dopts;
    dopts.service = config_.service;
    dopts.namespace_name = config_.namespace_name;
    dopts.cluster_domain = config_.cluster_domain;
    dopts.default_gossip_port = config_.gossip_port;
    dopts.self_identity = config_.identity();
    l->dns = std::make_unique<discovery::DnsSource>(
        dopts, log_.with_component("discovery"), [l](const discovery::PeerSet& peers) {
          asio::post(l->io, [l, peers] { l->set_peers(peers); });
        });
    l->dns->start();
  }
  loop_ = std::move(loop);

  log_.info("esk8s started", {{"identity", config_.identity()},
                              {"cluster", config_.cluster_name},
                              {"discovery", std::string(to_string(config_.discovery))},
                              {"http_port", std::to_string(loop_->http->port())}});
  return Status::ok();
}

void Runtime::stop() {
  if (!loop_) return;
  // Discovery first (it posts into the loop), then HTTP (its handlers read state owned here).
  if (loop_->source) loop_->source->stop();
  if (loop_->dns) loop_->dns->stop();
  loop_->http->stop();
  loop_->work.reset();
  loop_->io.stop();
  if (loop_->thread.joinable()) loop_->thread.join();
  loop_.reset();
  snapshots_.store(std::make_shared<const Snapshot>());
  log_.info("esk8s stopped", {{"identity", config_.identity()}});
}

}  // namespace esk8s::plugin
