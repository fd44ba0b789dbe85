// The Kubernetes Events' I/O (plugin/event_recorder.h has the decisions): a thread that takes
// occurrences from a bounded queue and writes the recorder's creates and series patches through
// the API with the pod's service account.
//
// Never blocks its callers: emit() only queues (a full queue drops the occurrence and counts it).
// Never blocks anything else either: a missing `create events` permission (403) is logged once,
// naming the rbac/ file to apply, and writing pauses (recorder settings); other failures are
// retried by the recorder and logged once per distinct message.
//
// The Pod's uid (kubectl describe matches Events on it) is read once with GET pods (rbac/role.yaml
// grants it); without it Events still go out, without the uid.
//
// Thread-safety: emit() and dropped() from any thread; start()/stop() from the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "common/logger.h"
#include "common/worker_thread.h"
#include "kube/kube_client.h"
#include "plugin/event_recorder.h"

namespace esk8s::plugin {

struct EventWorkerSettings {
  EventRecorderSettings recorder;
  std::chrono::milliseconds tick{1000};
  size_t queue_capacity = 256;
  // How often the Pod's uid is asked for while unknown.
  std::chrono::seconds uid_retry{60};
};

class EventWorker {
 public:
  EventWorker(EventWorkerSettings settings, std::unique_ptr<kube::KubeClient> kube,
              Logger log);
  ~EventWorker();
  EventWorker(const EventWorker&) = delete;
  EventWorker& operator=(const EventWorker&) = delete;

  void start();
  // Queues one occurrence stamped now; never blocks on I/O.
  void emit(EventType type, std::string_view reason, std::string_view action, std::string note);
  // Cancels the request in flight and joins the thread. Idempotent.
  void stop();

  uint64_t dropped() const { return dropped_.load(); }

 private:
  struct Queued {
    EventOccurrence occurrence;
    EventRecorder::Time at;
  };
  void run();
  void send(const EventWrite& w);
  void learn_uid();

  const EventWorkerSettings settings_;
  std::unique_ptr<kube::KubeClient> kube_;
  Logger log_;
  std::atomic<uint64_t> dropped_{0};

  std::deque<Queued> queue_;  // guarded by worker_'s mutex (wake_with, wait)

  // Worker thread only.
  EventRecorder recorder_;
  bool uid_known_ = false;
  std::chrono::steady_clock::time_point uid_asked_{};
  std::string last_logged_error_;
  uint64_t dropped_logged_ = 0;  // dropped() when last logged (at most once a minute)
  std::chrono::steady_clock::time_point dropped_logged_at_{};
  WorkerThread worker_;  // last: stopped before the state above goes
};

}  // namespace esk8s::plugin
