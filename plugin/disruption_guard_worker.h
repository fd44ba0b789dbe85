// The disruption guard's I/O (plugin/disruption_guard.h has the decisions): a thread that, when
// /health/disruptable asks for it (request()), takes the cluster's Lease through the API server,
// and that frees a Lease an earlier instance of this identity holds once this process sees a
// quorum again. What it learns is handed to `publish` (the runtime puts it in the snapshot).
//
// At most one API request is in flight; attempts are at least `period` apart; a request counts
// for `request_window` (the preStop hook asks about once a second). Every failure is published
// (DisruptionGuardView::error) and logged once per distinct message.
//
// Thread-safety: request() from any thread; start()/stop() from the owner.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/logger.h"
#include "common/worker_thread.h"
#include "kube/kube_client.h"
#include "plugin/disruption_guard.h"
#include "plugin/snapshot.h"

namespace esk8s::plugin {

struct DisruptionGuardSettings {
  std::string namespace_name;
  std::string name;
  int64_t duration_seconds = 120;
  std::string identity;  // this member
  std::string holder;    // guard_holder(identity, instance): this process
  std::chrono::milliseconds period{500};
  std::chrono::seconds request_window{10};
  // A held Lease counts as held until this long before it expires (published answers may be a
  // period old).
  std::chrono::seconds expiry_margin{5};
};

class DisruptionGuardWorker {
 public:
  // `back_with_quorum` (called on the worker thread) says whether this process sees a quorum:
  // then a Lease an earlier instance holds is freed.
  DisruptionGuardWorker(DisruptionGuardSettings settings,
                        std::unique_ptr<kube::KubeClient> kube, Logger log,
                        std::function<bool()> back_with_quorum,
                        std::function<void(const DisruptionGuardView&)> publish);
  ~DisruptionGuardWorker();
  DisruptionGuardWorker(const DisruptionGuardWorker&) = delete;
  DisruptionGuardWorker& operator=(const DisruptionGuardWorker&) = delete;

  void start();
  // Asks for the Lease; never blocks.
  void request();
  // Cancels the request in flight and joins the thread. Idempotent.
  void stop();

 private:
  void run();
  void acquire(std::chrono::system_clock::time_point now);
  void release_predecessor();
  // GET the Lease: true with `lease` (nullopt: 404), false on an error (published).
  bool read(std::optional<LeaseRecord>& lease);
  void failed(const std::string& what, const kube::ApiResponse& r);
  void publish();

  const DisruptionGuardSettings settings_;
  const std::string path_;  // the Lease's API path
  std::unique_ptr<kube::KubeClient> kube_;
  Logger log_;
  std::function<bool()> back_with_quorum_;
  std::function<void(const DisruptionGuardView&)> publish_;

  // Guarded by worker_'s mutex (wake_with, wait, locked).
  std::chrono::steady_clock::time_point requested_at_{};
  bool requested_ = false;

  // Worker thread only.
  DisruptionGuardView view_;
  bool predecessor_checked_ = false;
  std::string last_logged_error_;
  WorkerThread worker_;  // last: stopped before the state above goes
};

}  // namespace esk8s::plugin
