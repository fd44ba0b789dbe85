#include "plugin/event_worker.h"

#include <nlohmann/json.hpp>

namespace esk8s::plugin {

using SteadyClock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

EventWorker::EventWorker(EventWorkerSettings settings,
                         std::unique_ptr<kube::KubeClient> kube, Logger log)
    : settings_(std::move(settings)),
      kube_(std::move(kube)),
      log_(std::move(log)),
      recorder_(settings_.recorder) {}

EventWorker::~EventWorker() { stop(); }

void EventWorker::start() {
  worker_.start([this] { run(); });
}

void EventWorker::emit(EventType type, std::string_view reason, std::string_view action,
                       std::string note) {
  worker_.wake_with([&] {
    if (queue_.size() >= settings_.queue_capacity) {
      ++dropped_;
      return;
    }
    queue_.push_back({{type, std::string(reason), std::string(action), std::move(note)},
                      WallClock::now()});
  });
}

void EventWorker::stop() {
  worker_.stop([this] { kube_->cancel(); });
}

void EventWorker::run() {
  for (;;) {
    std::deque<Queued> batch;
    if (!worker_.wait(settings_.tick, [&] { return !queue_.empty(); },
                      [&] { batch.swap(queue_); })) {
      return;
    }
    // Before the first create: the Pod's uid, so kubectl describe finds the Events.
    if (!batch.empty() || recorder_.keys() > 0) learn_uid();
    for (const Queued& q : batch) {
      if (auto w = recorder_.record(q.occurrence, q.at)) send(*w);
    }
    for (const EventWrite& w : recorder_.tick(WallClock::now())) send(w);
    const uint64_t dropped = dropped_.load();
    if (dropped != dropped_logged_ &&
        SteadyClock::now() - dropped_logged_at_ >= std::chrono::minutes(1)) {
      log_.warn("Kubernetes Events dropped: the queue was full (occurrences faster than the worker "
                "writes)",
                {{"dropped_total", std::to_string(dropped)}});
      dropped_logged_ = dropped;
      dropped_logged_at_ = SteadyClock::now();
    }
  }
}

void EventWorker::learn_uid() {
  if (uid_known_) return;
  const auto now = SteadyClock::now();
  if (uid_asked_ != SteadyClock::time_point{} && now - uid_asked_ < settings_.uid_retry) return;
  uid_asked_ = now;
  const ObjectRef& r = recorder_.settings().regarding;
  kube::ApiResponse resp =
      kube_->get("/api/v1/namespaces/" + r.namespace_name + "/pods/" + r.name);
  if (resp.status != 200) return;  // Events go out without the uid; asked again later
  nlohmann::json pod = nlohmann::json::parse(resp.body, nullptr, false);
  if (!pod.is_object()) return;
  auto md = pod.find("metadata");
  if (md == pod.end() || !md->is_object()) return;
  auto uid = md->find("uid");
  if (uid == md->end() || !uid->is_string() || uid->get<std::string>().empty() ||
      uid->get<std::string>().size() > 128)
    return;
  recorder_.set_regarding_uid(uid->get<std::string>());
  uid_known_ = true;
}

void EventWorker::send(const EventWrite& w) {
  kube::ApiResponse r = w.kind == EventWrite::Kind::kCreate
                                 ? kube_->post(w.path, w.body)
                                 : kube_->patch(w.path, w.body);
  const WriteOutcome outcome = recorder_.on_result(w, r.status, WallClock::now());
  std::string msg;
  switch (outcome) {
    case WriteOutcome::kDone:
      last_logged_error_.clear();
      return;
    case WriteOutcome::kForbidden:
      return;
    case WriteOutcome::kForbiddenFirst:
      log_.warn(
          "cannot write Kubernetes Events (events.k8s.io create/patch forbidden); nothing else is "
          "affected; apply rbac/role.yaml for this member's service account to see them in "
          "kubectl describe pod; writing pauses " +
              std::to_string(recorder_.settings().forbidden_pause.count()) + " s at a time",
          {{"error", kube::describe_failure(r)}});
      return;
    case WriteOutcome::kRetry:
      msg = "cannot write a Kubernetes Event; retrying";
      break;
    case WriteOutcome::kRejected:
      msg = "the API refused a Kubernetes Event; dropped";
      break;
  }
  const std::string why = kube::describe_failure(r);
  if (why == last_logged_error_) return;
  last_logged_error_ = why;
  log_.warn(msg, {{"error", why}});
}

}  // namespace esk8s::plugin
