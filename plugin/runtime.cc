#include "plugin/runtime.h"

#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/file.h"
#include "common/logger.h"
#include "common/rfc3339.h"
#include "common/worker_thread.h"
#include "discovery/dns_source.h"
#include "discovery/kubernetes_source.h"
#include "gossip/driver.h"
#include "gossip/quorum.h"
#include "kube/backoff.h"
#include "kube/kube_config_resolve.h"
#include "plugin/disruption_guard_worker.h"
#include "plugin/esdb_gossip.h"
#include "plugin/event_worker.h"
#include "plugin/health.h"
#include "plugin/http_server.h"
#include "plugin/membership_view.h"
#include "plugin/part_metrics.h"
#include "plugin/readiness.h"
#include "plugin/statefulset_info.h"
#include "plugin/tls_manager.h"
#include "tls/peer_verify.h"

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

// Discovery failing this long with no success in between is an Event (DiscoveryStale).
constexpr int64_t kDiscoveryStaleAfterMs = 60000;

gossip::InstanceId random_instance_id() {
  std::random_device rd;
  auto r64 = [&] { return (uint64_t{rd()} << 32) | rd(); };
  return gossip::InstanceId::make(static_cast<uint64_t>(unix_now_ms()), rd(), r64());
}

gossip::Config gossip_config(const Config& c) {
  gossip::Config g = c.preset == Preset::kLocal ? gossip::Config::local()
                     : c.preset == Preset::kWan ? gossip::Config::wan()
                                                : gossip::Config::lan();
  g.cluster_name = c.cluster_name;
  // The membership table's cap: ESK8S_MAX_MEMBERS, else twice the configured cluster size plus
  // room for tombstones of replaced members, else the preset's cap.
  if (c.max_members) {
    g.max_members = *c.max_members;
  } else if (c.cluster_size) {
    g.max_members = 2 * static_cast<size_t>(*c.cluster_size) + 16;
  }
  return g;
}

// The Kubernetes API clients this configuration needs, one per user (each cancels its own requests
// on stop). A missing API server or credentials is a configuration error, not something to retry.
struct KubeClients {
  std::unique_ptr<kube::KubeClient> discovery, statefulset, csr, events, guard;
};

Result<KubeClients> kube_clients(const Config& c, const Logger& log) {
  auto make = [&](const char* component) -> Result<std::unique_ptr<kube::KubeClient>> {
    auto kc = kube::resolve_kube_config(
        kube::kube_config_inputs_from_env(c.kube_api, c.kubeconfig, c.service_account_dir));
    if (!kc.is_ok()) return kc.status();
    auto client = kube::KubeClient::create(kc.value(), {}, log.with_component(component));
    if (!client.is_ok()) return client.status();
    log.info("Kubernetes API", {{"server", kc->server}, {"from", kc->source}, {"for", component}});
    return std::move(client.value());
  };
  const bool kubernetes = c.discovery == DiscoveryMode::kKubernetes;
  const std::pair<std::unique_ptr<kube::KubeClient> KubeClients::*, const char*> wanted[] = {
      {kubernetes ? &KubeClients::discovery : nullptr, "kube-client"},
      {kubernetes && (c.ready_mode == ReadyMode::kAuto || !c.cluster_size)
           ? &KubeClients::statefulset
           : nullptr,
       "statefulset-client"},
      {c.tls_mode == TlsMode::kKubernetesCsr ? &KubeClients::csr : nullptr, "csr-client"},
      {c.events && kubernetes ? &KubeClients::events : nullptr, "events"},
      {!c.disruption_lease_name.empty() ? &KubeClients::guard : nullptr, "disruption-guard"},
  };
  KubeClients out;
  for (const auto& [field, component] : wanted) {
    if (!field) continue;
    auto client = make(component);
    if (!client) return client.status();
    out.*field = std::move(client.value());
  }
  return out;
}

// The startup check that names where peers come from.
StartupCheck discovery_check(const Config& c, bool kubernetes) {
  std::string namespaces = c.namespace_name;
  for (const auto& ns : c.peer_namespaces) namespaces += "," + ns;
  return {"discovery", true,
          kubernetes ? "kubernetes: service " + c.service + " in " + namespaces
          : c.discovery == DiscoveryMode::kDns
              ? "dns: service " + c.service + " in " + c.namespace_name
              : "static: " + std::to_string(c.static_peers.size()) + " peer(s)"};
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
  std::unique_ptr<TlsManager> tls;                      // stopped before the loop
  std::unique_ptr<gossip::Driver> gossip;               // once the first certificate is there
  std::thread thread;

  gossip::InstanceId instance;
  std::optional<gossip::HostStatus> self_status;
  std::vector<MemberView> members;  // self first
  discovery::PeerSet peers;         // the last set from discovery
  std::vector<StartupCheck> checks;
  std::string gossip_error;  // why the gossip listener is not running
  uint64_t generation = 0;
  bool started = false;

  // Readiness: the resolved mode, the cluster size with where each came from, the quorum latch.
  ReadinessMemory readiness;
  bool superseded = false;
  // Kubernetes mode: reads the owning StatefulSet until a read succeeds (a 403 fixed by applying
  // the RBAC later is picked up without a restart), backing off 1 s doubling to 30 s.
  std::unique_ptr<kube::KubeClient> statefulset_kube;
  WorkerThread statefulset_reader;
  std::string statefulset_error;  // the last failure logged (loop thread)
  std::unique_ptr<DisruptionGuardWorker> guard;  // ESK8S_DISRUPTION_LEASE
  DisruptionGuardView guard_view;                // what the worker last published
  // ESK8S_EVENTS (kubernetes discovery): Kubernetes Events on the own Pod, and what they were
  // last told (loop thread).
  std::unique_ptr<EventWorker> events;
  bool events_quorum = false, events_quorum_lost = false, events_discovery_stale = false;
  uint64_t events_tls_renewals = 0, events_tls_failures = 0, events_rbac_checks = 0;

  void emit(EventType type, std::string_view reason, std::string_view action, std::string note) {
    if (events) events->emit(type, reason, action, std::move(note));
  }

  // Turns changes in quorum, TLS renewal and discovery into Events (gossip events are emitted
  // where they arrive, in on_gossip_events).
  void note_events(const ReadinessState& r) {
    if (!events) return;
    const gossip::QuorumView q{r.cluster_size, r.confirmed_alive};
    const bool quorum = r.gossip_running && q.has_quorum();
    const std::string of = std::to_string(q.needed()) + " of " + std::to_string(r.cluster_size);
    if (events_quorum && !quorum) {
      events_quorum_lost = true;
      emit(EventType::kWarning, event_reason::kQuorumLost, "ObserveQuorum",
           "this member sees fewer than " + of +
               " members alive: no majority until enough members are back");
    } else if (!events_quorum && quorum && events_quorum_lost) {
      emit(EventType::kNormal, event_reason::kQuorumRegained, "ObserveQuorum",
           "this member sees a majority (" + of + ") alive again");
    }
    events_quorum = quorum;
    if (tls) {
      const TlsState t = tls->state();
      if (t.renewals > events_tls_renewals) {
        emit(EventType::kNormal, event_reason::kCertificateRenewed, "RenewCertificate",
             "the gossip certificate was renewed (" + t.mode + "), valid until " +
                 format_rfc3339(t.not_after, 0));
      }
      if (t.renewal_failures > events_tls_failures) {
        emit(EventType::kWarning, event_reason::kCertificateRenewalFailed, "RenewCertificate",
             "renewing the gossip certificate failed (" + t.mode + "): " + t.last_error);
      }
      events_tls_renewals = t.renewals;
      events_tls_failures = t.renewal_failures;
    }
    if (!source) return;
    const discovery::DiscoveryStats st = source->stats();
    if (st.rbac_missing_checks > events_rbac_checks) {
      std::string missing = st.rbac_missing;
      for (char& c : missing) c = c == '\n' ? ';' : c;
      emit(EventType::kWarning, event_reason::kRbacMissing, "CheckPermissions",
           "discovery is missing Kubernetes permissions: " + missing);
    }
    events_rbac_checks = st.rbac_missing_checks;
    const bool stale = st.failing_since_unix_ms != 0 &&
                       unix_now_ms() - st.failing_since_unix_ms >= kDiscoveryStaleAfterMs;
    if (stale && !events_discovery_stale) {
      emit(EventType::kWarning, event_reason::kDiscoveryStale, "WatchEndpointSlices",
           "discovery has not read the EndpointSlices of service " + rt.config_.service +
               " for " + std::to_string(kDiscoveryStaleAfterMs / 1000) +
               " s (API errors, see the discovery log records); keeping the last " +
               std::to_string(peers.size()) + " known peers");
    } else if (!stale && events_discovery_stale) {
      emit(EventType::kNormal, event_reason::kDiscoveryRecovered, "WatchEndpointSlices",
           "discovery reads the EndpointSlices of service " + rt.config_.service + " again");
    }
    events_discovery_stale = stale;
  }

  // One step of the readiness machine per publication.
  ReadinessState step_readiness_now() {
    ReadinessObservation in;
    in.gossip_running = gossip != nullptr && gossip_error.empty();
    in.alive = in.gossip_running ? gossip->core().alive_count() : 0;
    in.confirmed_alive = in.gossip_running ? gossip->core().confirmed_alive_count() : 0;
    in.host_ready = !self_status || self_status->host_ready;
    std::set<std::string> ids{rt.config_.identity()};
    for (const auto& p : peers) ids.insert(p.identity);
    in.discovered = static_cast<uint32_t>(ids.size());
    in.superseded = superseded;
    ReadinessStep step = step_readiness(readiness, in);
    readiness = std::move(step.next);
    if (step.quorum_latched) {
      rt.log_.info("quorum observed", {{"alive", std::to_string(step.state.alive)},
                                       {"cluster_size", std::to_string(step.state.cluster_size)}});
    }
    return std::move(step.state);
  }

  // The owning StatefulSet was read (or could not be): ESK8S_READY_MODE=auto and the default
  // cluster size follow it.
  void on_statefulset(Result<StatefulSetInfo> info) {
    const Config& c = rt.config_;
    readiness = on_statefulset_read(std::move(readiness), c, info);
    if (!info) {
      if (info.status().message() != statefulset_error) {
        statefulset_error = info.status().message();
        rt.log_.warn("cannot read the pod's StatefulSet; retrying with back-off up to 30 s",
                     {{"error", statefulset_error}});
      }
    } else if (c.ready_mode == ReadyMode::kAuto) {
      rt.log_.info("readiness mode chosen", {{"mode", std::string(to_string(readiness.mode))},
                                             {"why", readiness.mode_reason}});
    }
    if (info && c.cluster_size && *c.cluster_size != info->replicas) {
      rt.log_.warn(
          "ESK8S_CLUSTER_SIZE differs from the StatefulSet's replicas; using "
          "ESK8S_CLUSTER_SIZE",
          {{"ESK8S_CLUSTER_SIZE", std::to_string(*c.cluster_size)},
           {"statefulset", info->name},
           {"replicas", std::to_string(info->replicas)}});
    }
    publish();
  }

  gossip::LocalMember local_member() const {
    gossip::LocalMember l;
    l.identity = rt.config_.identity();
    l.instance = instance;
    l.address = rt.config_.advertise_address;
    l.port = rt.config_.gossip_port;
    if (self_status) l.meta = gossip::encode_host_status(*self_status);
    return l;
  }

  // Before gossip runs, the table is just this node.
  std::vector<gossip::MemberView> gossip_members() const {
    if (gossip) return gossip->core().members();
    gossip::MemberView self;
    gossip::LocalMember l = local_member();
    self.record.identity = l.identity;
    self.record.instance = l.instance;
    self.record.address = l.address;
    self.record.port = l.port;
    self.record.meta = l.meta;
    self.is_self = true;
    self.last_change = start_time;
    return {self};
  }
  gossip::Time start_time = std::chrono::steady_clock::now();

  std::vector<StartupCheck> current_checks() const {
    std::vector<StartupCheck> out = checks;
    TlsState t = tls ? tls->state() : TlsState{};
    StartupCheck tc{"tls", t.have_certificate, ""};
    if (t.have_certificate) {
      tc.detail = t.mode + ": certificate for " + rt.config_.identity();
      for (const auto& w : t.warnings) tc.detail += "; WARNING: " + w;
    } else {
      tc.detail = t.mode + ": waiting for " + t.waiting_for;
      if (!t.last_error.empty()) tc.detail += "; last error: " + t.last_error;
    }
    out.push_back(std::move(tc));
    StartupCheck gc{"gossip-listener", gossip != nullptr && gossip_error.empty(), ""};
    gc.detail =
        !gossip_error.empty() ? gossip_error
        : gossip ? rt.config_.bind_address + ":" + std::to_string(gossip->transport().local_port())
                 : "waits for the TLS certificate";
    out.push_back(std::move(gc));
    return out;
  }

  void publish() {
    auto snap = std::make_shared<Snapshot>();
    snap->generation = ++generation;
    snap->started = started;
    snap->startup_checks = current_checks();
    snap->members = members;
    auto view = gossip_view(members);
    snap->gossip_json = render_esdb_gossip(view, rt.config_.identity(), http->port());
    snap->members_json = render_members_json(view, rt.config_.identity());
    snap->readiness = step_readiness_now();
    note_events(snap->readiness);
    snap->guard = guard_view;
    snap->metrics = collect_metrics(snap->readiness);
    rt.snapshots_.store(std::move(snap));
  }

  std::vector<Metric> collect_metrics(const ReadinessState& readiness) const {
    std::vector<Metric> m;
    append_member_metrics(m, members);
    if (gossip) {
      append_gossip_metrics(m, gossip->core().stats(), gossip->core().awareness(),
                            gossip->transport().stats());
      append_quorum_metrics(m, readiness);
    }
    if (tls) append_tls_metrics(m, tls->state(), std::chrono::system_clock::now());
    if (source) append_discovery_metrics(m, source->stats(), peers);
    return m;
  }

  // Rebuilds the members list from gossip and discovery; publishes and tells the host on change.
  void refresh_members() {
    auto next = build_members(gossip_members(), peers, std::chrono::steady_clock::now(),
                              std::chrono::system_clock::now());
    bool changed = next.size() != members.size();
    for (size_t i = 0; !changed && i < next.size(); ++i) {
      const auto& a = next[i];
      const auto& b = members[i];
      changed = a.identity != b.identity || a.address != b.address || a.state != b.state ||
                a.gossip_port != b.gossip_port || a.incarnation != b.incarnation ||
                a.instance_id != b.instance_id || a.status != b.status;
    }
    if (!changed) return;
    members = std::move(next);
    publish();
    if (started && rt.host_) rt.host_->membership_changed(members);
  }

  std::vector<gossip::Seed> seeds() const {
    std::vector<gossip::Seed> out;
    for (const auto& p : peers) out.push_back({p.identity, p.address, p.gossip_port});
    return out;
  }

  // A new peer set from discovery: it seeds gossip (failure detection, not discovery, decides
  // who is dead); peers gossip has not heard from show as `discovered`.
  void set_peers(const discovery::PeerSet& fresh) {
    peers = fresh;
    if (gossip) gossip->set_seeds(seeds());
    refresh_members();
  }

  void on_gossip_events(const std::vector<gossip::MembershipEvent>& events) {
    for (const auto& e : events) {
      if (e.kind == gossip::MembershipEvent::Kind::kSuperseded) superseded = true;
      if (e.kind == gossip::MembershipEvent::Kind::kUpdated) continue;
      if (e.kind == gossip::MembershipEvent::Kind::kDied) {
        emit(EventType::kWarning, event_reason::kMemberDied, "ObserveMembership",
             "member " + e.member.identity +
                 " died: no answer to direct or indirect gossip probes");
      } else if (e.kind == gossip::MembershipEvent::Kind::kLeft) {
        emit(EventType::kNormal, event_reason::kMemberLeft, "ObserveMembership",
             "member " + e.member.identity + " left the cluster (graceful shutdown)");
      } else if (e.kind == gossip::MembershipEvent::Kind::kSuperseded) {
        emit(EventType::kWarning, event_reason::kSuperseded, "ClaimIdentity",
             "a newer process claims this member's identity " + e.member.identity +
                 "; this process is stale and stays not ready");
      }
      auto level = e.kind == gossip::MembershipEvent::Kind::kSuperseded ? LogLevel::kError
                   : e.kind == gossip::MembershipEvent::Kind::kDied     ? LogLevel::kWarn
                                                                        : LogLevel::kInfo;
      rt.log_.log(level,
                  e.kind == gossip::MembershipEvent::Kind::kSuperseded
                      ? "a newer process claims this node's identity; this one is stale"
                      : "member " + std::string(gossip::to_string(e.kind)),
                  {{"member", e.member.identity},
                   {"address", e.member.address},
                   {"instance", e.member.instance.to_guid()},
                   {"incarnation", std::to_string(e.member.incarnation)}});
    }
    refresh_members();
  }

  // A certificate (first or renewed) from the TlsManager, on the loop thread.
  void on_tls(std::shared_ptr<const gossip::TlsSnapshot> snapshot) {
    http->set_tls(snapshot);
    if (gossip) {
      gossip->set_tls(std::move(snapshot));
      publish();
      return;
    }
    gossip::DriverOptions o;
    o.config = gossip_config(rt.config_);
    o.local = local_member();
    o.transport.bind_address = rt.config_.bind_address;
    o.transport.port = rt.config_.gossip_port;
    o.transport.connect_timeout =
        std::max(o.config.probe_interval, std::chrono::milliseconds(1000));
    o.transport.io_timeout = rt.timings_.http_io_timeout;
    o.rng_seed = instance.lo ^ instance.hi;
    auto driver = std::make_unique<gossip::Driver>(
        io, std::move(o), std::move(snapshot), tls->verifier(),
        [this](const std::vector<gossip::MembershipEvent>& ev) { on_gossip_events(ev); },
        rt.log_.with_component("gossip"));
    if (Status s = driver->start(); !s) {
      gossip_error = s.message();
      rt.log_.error("gossip listener cannot start", {{"error", s.message()}});
      publish();
      return;
    }
    gossip = std::move(driver);
    check_fault_file();  // before the first message goes out
    gossip->set_seeds(seeds());
    rt.log_.info("gossip started",
                 {{"identity", rt.config_.identity()},
                  {"listen", rt.config_.bind_address + ":" +
                                 std::to_string(gossip->transport().local_port())},
                  {"advertise", rt.config_.advertise_address},
                  {"instance", instance.to_guid()}});
    refresh_members();
    publish();
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
  // ESK8S_FAULT_FILE (tests): "isolate" in the file cuts gossip off until it is gone. Read with
  // read_regular_file, so a FIFO or a device (/dev/zero) never blocks the loop or SIGTERM and
  // memory stays bounded: anything but a regular file of at most kMaxSmallFileBytes means "no
  // fault", with one warning naming the path until the file is readable (or gone) again.
  bool fault_file_warned = false;
  void check_fault_file() {
    if (rt.config_.fault_file.empty() || !gossip) return;
    auto text = read_regular_file(rt.config_.fault_file, kMaxSmallFileBytes, "fault file");
    if (text || text.status().code() == Status::Code::kNotFound) {
      fault_file_warned = false;
    } else if (!fault_file_warned) {
      fault_file_warned = true;
      rt.log_.warn("fault injection: ESK8S_FAULT_FILE cannot be used and is ignored (no fault)",
                   {{"file", rt.config_.fault_file}, {"error", text.status().message()}});
    }
    const std::string_view content = text ? std::string_view(text.value()) : std::string_view();
    const size_t word = content.find_first_not_of(" \t\r\n");
    const bool isolate = word != std::string_view::npos &&
                         content.substr(word, content.find_first_of(" \t\r\n", word) - word) ==
                             "isolate";
    if (isolate == gossip->isolated()) return;
    gossip->set_isolated(isolate);
    rt.log_.warn(isolate ? "fault injection: gossip isolated (ESK8S_FAULT_FILE)"
                         : "fault injection: gossip isolation lifted",
                 {{"file", rt.config_.fault_file}});
  }

  void arm_heartbeat() {
    heartbeat.expires_after(rt.timings_.heartbeat_interval);
    heartbeat.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      rt.last_heartbeat_ns_.store(steady_now_ns(), std::memory_order_release);
      check_fault_file();
      arm_heartbeat();
    });
  }

  // ESK8S_EVENTS: the worker that writes Kubernetes Events on the own Pod (started with the loop).
  void make_event_worker(std::unique_ptr<kube::KubeClient> kube) {
    EventWorkerSettings es;
    es.recorder.instance = "esk8s-" + rt.config_.pod_name;
    es.recorder.regarding.namespace_name = rt.config_.namespace_name;
    es.recorder.regarding.name = rt.config_.pod_name;
    events = std::make_unique<EventWorker>(std::move(es), std::move(kube),
                                           rt.log_.with_component("events"));
  }

  // ESK8S_DISRUPTION_LEASE: the guard's worker (started with the loop); /health/disruptable asks
  // it for the Lease, and it frees an earlier instance's hold once this process sees a quorum.
  void make_guard(std::unique_ptr<kube::KubeClient> kube) {
    DisruptionGuardSettings gs;
    gs.namespace_name = rt.config_.disruption_lease_namespace;
    gs.name = rt.config_.disruption_lease_name;
    gs.duration_seconds = rt.config_.disruption_lease_seconds;
    gs.identity = rt.config_.identity();
    gs.holder = guard_holder(gs.identity, instance.to_guid());
    guard_view.enabled = true;
    guard_view.lease = gs.namespace_name + "/" + gs.name;
    guard = std::make_unique<DisruptionGuardWorker>(
        std::move(gs), std::move(kube), rt.log_.with_component("disruption-guard"),
        [this] {
          std::shared_ptr<const Snapshot> s = rt.snapshots_.load();
          const ReadinessState& r = s->readiness;
          return s->started && r.gossip_running &&
                 gossip::QuorumView{r.cluster_size, r.confirmed_alive}.has_quorum();
        },
        [this](const DisruptionGuardView& v) {
          asio::post(io, [this, v] {
            guard_view = v;
            publish();
          });
        });
    http->set_disruption_guard_request([g = guard.get()] { g->request(); });
  }

  void start_statefulset_reader(std::unique_ptr<kube::KubeClient> kube) {
    statefulset_kube = std::move(kube);
    statefulset_reader.start([this, ns = rt.config_.namespace_name, pod = rt.config_.pod_name] {
      // The API server's client backoff (full jitter up to 1 s, doubling to 30 s; a 429 waits
      // its Retry-After), as the list/watch machine retries.
      kube::Backoff backoff(kube::BackoffPolicy{std::chrono::seconds(1), 2.0,
                                                std::chrono::seconds(30), std::chrono::minutes(2)});
      std::mt19937_64 rng(instance.lo ^ instance.hi);
      for (;;) {
        ReadFailure failure;
        auto info = fetch_statefulset_info(*statefulset_kube, ns, pod, &failure);
        const bool done = info.is_ok();
        asio::post(io, [this, info] { on_statefulset(info); });
        if (done) return;
        const auto delay = backoff.after_failure(failure.http_status, failure.retry_after,
                                                 std::chrono::steady_clock::now(), rng);
        if (!statefulset_reader.sleep(delay)) return;
      }
    });
  }

  // The kubernetes source (with its client) or the DNS source; static peers need neither.
  void start_discovery(std::unique_ptr<kube::KubeClient> kube) {
    if (kube) {
      discovery::KubernetesSourceOptions so;
      so.service = rt.config_.service;
      so.namespaces.push_back(rt.config_.namespace_name);
      for (const auto& ns : rt.config_.peer_namespaces) so.namespaces.push_back(ns);
      so.cluster_domain = rt.config_.cluster_domain;
      so.self_pod = rt.config_.pod_name;
      so.self_namespace = rt.config_.namespace_name;
      so.default_gossip_port = rt.config_.gossip_port;
      so.seed = std::random_device{}();
      source = std::make_unique<discovery::KubernetesSource>(
          so, std::move(kube), rt.log_.with_component("discovery"),
          [this](const discovery::PeerSet& peers) {
            asio::post(io, [this, peers] { set_peers(peers); });
          });
      source->start();
    } else if (rt.config_.discovery == DiscoveryMode::kDns) {
      discovery::DnsSourceOptions dopts;
      dopts.service = rt.config_.service;
      dopts.namespace_name = rt.config_.namespace_name;
      dopts.cluster_domain = rt.config_.cluster_domain;
      dopts.default_gossip_port = rt.config_.gossip_port;
      dopts.self_identity = rt.config_.identity();
      dns = std::make_unique<discovery::DnsSource>(
          dopts, rt.log_.with_component("discovery"), [this](const discovery::PeerSet& peers) {
            asio::post(io, [this, peers] { set_peers(peers); });
          });
      dns->start();
    }
  }

  // Polls the host's node status; a change is gossiped as this member's metadata.
  void arm_status_poll() {
    status_poll.expires_after(rt.timings_.status_poll_interval);
    status_poll.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (rt.host_) {
        auto status = rt.host_->node_status();
        if (status != self_status) {
          self_status = status;
          if (gossip) gossip->set_local_meta(local_member().meta);
          refresh_members();
        }
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
uint16_t Runtime::https_port() const { return loop_->http->https_port(); }

void Runtime::post(std::function<void()> fn) { asio::post(loop_->io, std::move(fn)); }

Status Runtime::start() {
  if (loop_) return Status::state("esk8s is already running; call stop before start");
  auto clients = kube_clients(config_, log_);
  if (!clients) return clients.status();
  KubeClients& k = clients.value();

  auto loop = std::make_unique<Loop>(*this);
  Loop* l = loop.get();
  last_heartbeat_ns_.store(steady_now_ns(), std::memory_order_release);
  l->instance = random_instance_id();
  if (host_) l->self_status = host_->node_status();
  l->peers = config_.static_peers;
  // Readiness mode and cluster size; kubernetes mode refines them from the StatefulSet.
  l->readiness = initial_readiness(config_, k.statefulset != nullptr);
  if (!config_.cluster_size && !k.statefulset) {
    log_.warn(
        "the cluster size is unknown: set ESK8S_CLUSTER_SIZE; until then no quorum is counted "
        "(quorum mode is never ready, bootstrap-latch stays in its bootstrapping answer) and no "
        "member is disruptable");
  }
  l->checks.push_back({"config", true, "identity " + config_.identity()});
  l->checks.push_back(discovery_check(config_, k.discovery != nullptr));

  l->http = std::make_unique<HttpServer>(snapshots_, last_heartbeat_ns_, timings_,
                                         log_.with_component("http"));
  if (k.events) l->make_event_worker(std::move(k.events));
  if (k.guard) l->make_guard(std::move(k.guard));
  if (Status s = l->http->start(config_.bind_address, config_.http_port, config_.https_port); !s)
    return s;
  l->checks.push_back({"http-listener", true,
                       config_.bind_address + ":" + std::to_string(l->http->port()) +
                           (config_.https_port
                                ? " (https " + std::to_string(l->http->https_port()) + ")"
                                : std::string())});
  l->members = build_members(l->gossip_members(), l->peers, std::chrono::steady_clock::now(),
                             std::chrono::system_clock::now());

  // The certificate: local-ca and files have it before start returns (or start fails naming
  // what to fix); kubernetes-csr waits for a signer in the background. Gossip starts with it.
  l->tls = std::make_unique<TlsManager>(config_, log_.with_component("tls"), std::move(k.csr));
  Status ts = l->tls->start([l](std::shared_ptr<const gossip::TlsSnapshot> snapshot) {
    asio::post(l->io, [l, snapshot] { l->on_tls(snapshot); });
  });
  if (!ts) {
    l->tls->stop();
    l->http->stop();
    return ts;
  }
  l->publish();

  asio::post(l->io, [l] { l->on_started(); });
  l->thread = std::thread([l] { l->io.run(); });
  if (l->guard) l->guard->start();
  if (l->events) l->events->start();
  if (k.statefulset) l->start_statefulset_reader(std::move(k.statefulset));
  l->start_discovery(std::move(k.discovery));
  loop_ = std::move(loop);

  log_.info("esk8s started", {{"identity", config_.identity()},
                              {"cluster", config_.cluster_name},
                              {"discovery", std::string(to_string(config_.discovery))},
                              {"http_port", std::to_string(loop_->http->port())}});
  return Status::ok();
}

void Runtime::stop() {
  if (!loop_) return;
  // Graceful leave: peers learn within one round instead of by failure detection. Bounded: the
  // loop gets 300 ms to hand the Left claims to the transport.
  {
    auto left = std::make_shared<std::promise<void>>();
    Loop* l = loop_.get();
    asio::post(l->io, [l, left] {
      if (!l->gossip) return left->set_value();
      l->gossip->leave();
      auto t = std::make_shared<asio::steady_timer>(l->io, std::chrono::milliseconds(250));
      t->async_wait([t, left](const boost::system::error_code&) { left->set_value(); });
    });
    left->get_future().wait_for(std::chrono::milliseconds(300));
  }
  if (loop_->guard) loop_->guard->stop();
  if (loop_->events) loop_->events->stop();
  loop_->statefulset_reader.stop([l = loop_.get()] {
    if (l->statefulset_kube) l->statefulset_kube->cancel();
  });
  // Discovery first (it posts into the loop), then HTTP (its handlers read state owned here).
  if (loop_->source) loop_->source->stop();
  if (loop_->dns) loop_->dns->stop();
  loop_->tls->stop();
  loop_->http->stop();
  loop_->work.reset();
  loop_->io.stop();
  if (loop_->thread.joinable()) loop_->thread.join();
  // The loop thread is gone: the gossip driver may be stopped from here.
  if (loop_->gossip) loop_->gossip->stop();
  loop_->gossip.reset();
  loop_.reset();
  snapshots_.store(std::make_shared<const Snapshot>());
  log_.info("esk8s stopped", {{"identity", config_.identity()}});
}

}  // namespace esk8s::plugin
