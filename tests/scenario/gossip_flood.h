// A gossip flood for load tests: a member of the cluster (a certificate from the cluster CA for
// an identity the allow-list accepts) that sends Ping envelopes to one node over mutual TLS as
// fast as the transport's bounded queue takes them, on its own thread, until stopped. Every ping
// makes the node's core run and answer with an Ack.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace esk8s::scenario {

struct FloodTarget {
  std::string identity;  // e.g. esdb-0.esdb.esdb.svc.cluster.local
  std::string address;   // its pod IP
  uint16_t port = 2114;
  std::string cluster;  // ESK8S_CLUSTER_NAME, e.g. esdb.esdb
};

class GossipFlood {
 public:
  // `ca_dir` holds the cluster CA (ca.crt, ca.key); `identity` is the flooder's own.
  GossipFlood(const std::string& ca_dir, std::string identity, FloodTarget target);
  ~GossipFlood();  // stops

  void start();
  void stop();
  uint64_t pings_sent() const { return sent_; }  // frames the transport wrote
  uint64_t acks_received() const { return acks_; }
  std::string error() const;  // why the flood could not run ("" when it ran)

 private:
  void run();
  void flood();

  std::string ca_dir_, identity_;
  FloodTarget target_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0}, acks_{0};
  mutable std::mutex mu_;
  std::string error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace esk8s::scenario
