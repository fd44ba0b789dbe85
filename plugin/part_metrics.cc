#include "plugin/part_metrics.h"

#include <map>

#include "discovery/kubernetes_source.h"
#include "discovery/peer.h"
#include "gossip/core.h"
#include "gossip/transport.h"
#include "plugin/snapshot.h"
#include "plugin/tls_manager.h"
#include "tls/peer_verify.h"

namespace esk8s::plugin {

void append_gossip_metrics(std::vector<Metric>& m, const gossip::CoreStats& cs, int awareness,
                           const gossip::TransportStats& ts) {
  auto counter = [&](const char* name, const char* help, uint64_t v,
                     std::vector<std::pair<std::string, std::string>> labels = {}) {
    m.push_back({name, help, "counter", std::move(labels), static_cast<double>(v)});
  };
  const char* dropped = "Gossip messages dropped before they reached the membership, by reason.";
  counter("esk8s_gossip_dropped_messages_total", dropped, cs.dropped_other_cluster,
          {{"reason", "other_cluster"}});
  counter("esk8s_gossip_dropped_messages_total", dropped, cs.dropped_bad_version,
          {{"reason", "unsupported_version"}});
  counter("esk8s_gossip_dropped_messages_total", dropped, cs.dropped_unauthenticated,
          {{"reason", "unauthenticated_sender"}});
  counter("esk8s_gossip_dropped_messages_total", dropped, cs.dropped_stale,
          {{"reason", "stale"}});
  for (gossip::ClaimRejection why : gossip::kAllClaimRejections) {
    counter("esk8s_gossip_claims_rejected_total",
            "Member records refused (a member speaks only for itself; bounded table), by reason.",
            cs.claims_rejected[static_cast<size_t>(why)], {{"reason", gossip::to_string(why)}});
  }
  counter("esk8s_gossip_indirect_probes_refused_total",
          "Indirect probe requests refused: target unknown, not live, or not at the address it "
          "signed.",
          cs.indirect_pings_refused);
  counter("esk8s_gossip_probes_total", "Direct probes sent.", cs.probes_sent);
  counter("esk8s_gossip_indirect_probes_total", "Indirect probe requests sent.",
          cs.indirect_probes_sent);
  counter("esk8s_gossip_suspicions_total", "Members this node suspected.", cs.suspicions_raised);
  counter("esk8s_gossip_refutations_total", "Suspicions about this node it refuted.",
          cs.refutations);
  counter("esk8s_gossip_deaths_declared_total", "Members this node declared dead.",
          cs.deaths_declared);
  m.push_back({"esk8s_gossip_local_health",
               "Lifeguard awareness score of this node (0 = healthy).",
               "gauge",
               {},
               static_cast<double>(awareness)});
  counter("esk8s_gossip_frames_sent_total", "Gossip frames written.", ts.frames_sent);
  counter("esk8s_gossip_frames_received_total", "Gossip frames read and authenticated.",
          ts.frames_received);
  counter("esk8s_gossip_bytes_sent_total", "Gossip bytes written.", ts.bytes_sent);
  counter("esk8s_gossip_bytes_received_total", "Gossip bytes read.", ts.bytes_received);
  counter("esk8s_gossip_connections_total", "Gossip TLS connections, by direction.",
          ts.connections_opened, {{"direction", "outgoing"}});
  counter("esk8s_gossip_connections_total", "Gossip TLS connections, by direction.",
          ts.connections_accepted, {{"direction", "incoming"}});
  const char* tdrop = "Gossip frames the transport dropped, by reason.";
  counter("esk8s_gossip_transport_dropped_total", tdrop, ts.dropped_queue_full,
          {{"reason", "queue_full"}});
  counter("esk8s_gossip_transport_dropped_total", tdrop, ts.dropped_backoff,
          {{"reason", "peer_backoff"}});
  counter("esk8s_gossip_transport_dropped_total", tdrop, ts.dropped_no_route,
          {{"reason", "no_route"}});
  counter("esk8s_gossip_bad_frames_total",
          "Frames that could not be decoded (connection closed).", ts.bad_frames);
  counter("esk8s_gossip_tls_handshake_failures_total", "TLS handshakes that failed.",
          ts.handshake_failures);
  // Every known reason from the start at 0, so "alert on any growth" sees the first refusal.
  std::map<std::string, uint64_t> refused;
  for (tls::PeerReason why : tls::kPeerRefusals) refused[std::string(tls::metric_label(why))] = 0;
  for (const auto& [reason, n] : ts.peers_refused) refused[reason] += n;
  for (const auto& [reason, n] : refused) {
    counter("esk8s_gossip_tls_rejections_total",
            "Peers refused after the TLS handshake, by reason.", n, {{"reason", reason}});
  }
  // Every reason is present from the start (TransportStats), so alerts see the first event.
  for (const auto& [reason, n] : ts.connections_closed) {
    counter("esk8s_gossip_connections_closed_total",
            "Gossip connections the transport refused or closed on its own, by reason.", n,
            {{"reason", reason}});
  }
  m.push_back({"esk8s_gossip_incoming_connections",
               "Open incoming gossip connections (handshaking or authenticated).",
               "gauge",
               {},
               static_cast<double>(ts.incoming_open)});
  m.push_back({"esk8s_gossip_frame_bytes_in_flight",
               "Bytes allocated for partially received gossip frames (bounded by the budget).",
               "gauge",
               {},
               static_cast<double>(ts.frame_bytes_in_flight)});
}

void append_tls_metrics(std::vector<Metric>& m, const TlsState& t,
                        std::chrono::system_clock::time_point now) {
  if (t.have_certificate) {
    m.push_back(
        {"esk8s_tls_certificate_expiry_seconds",
         "Seconds until the node's certificate expires.",
         "gauge",
         {},
         std::chrono::duration<double>(t.not_after - now).count()});
  }
  m.push_back({"esk8s_tls_renewals_total",
               "Certificates replaced after the first.",
               "counter",
               {{"mode", t.mode}},
               static_cast<double>(t.renewals)});
  m.push_back({"esk8s_tls_renewal_failures_total",
               "Failed attempts to replace the certificate.",
               "counter",
               {{"mode", t.mode}},
               static_cast<double>(t.renewal_failures)});
  m.push_back({"esk8s_tls_certificate_warnings",
               "Problems found in the node's certificate (files mode: IP SANs, missing names).",
               "gauge",
               {},
               static_cast<double>(t.warnings.size())});
}

void append_member_metrics(std::vector<Metric>& m, const std::vector<MemberView>& members) {
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
}

void append_discovery_metrics(std::vector<Metric>& m, const discovery::DiscoveryStats& st,
                              const std::vector<discovery::Peer>& peers) {
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
}

}  // namespace esk8s::plugin
