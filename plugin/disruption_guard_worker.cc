#include "plugin/disruption_guard_worker.h"

namespace esk8s::plugin {

using Clock = std::chrono::steady_clock;

DisruptionGuardWorker::DisruptionGuardWorker(
    DisruptionGuardSettings settings, std::unique_ptr<kube::KubeClient> kube, Logger log,
    std::function<bool()> back_with_quorum,
    std::function<void(const DisruptionGuardView&)> publish)
    : settings_(std::move(settings)),
      path_("/apis/coordination.k8s.io/v1/namespaces/" + settings_.namespace_name + "/leases/" +
            settings_.name),
      kube_(std::move(kube)),
      log_(std::move(log)),
      back_with_quorum_(std::move(back_with_quorum)),
      publish_(std::move(publish)) {
  view_.enabled = true;
  view_.lease = settings_.namespace_name + "/" + settings_.name;
}

DisruptionGuardWorker::~DisruptionGuardWorker() { stop(); }

void DisruptionGuardWorker::start() {
  publish();
  worker_.start([this] { run(); });
}

void DisruptionGuardWorker::request() {
  worker_.wake_with([this] {
    requested_at_ = Clock::now();
    requested_ = true;
  });
}

void DisruptionGuardWorker::stop() {
  worker_.stop([this] { kube_->cancel(); });
}

void DisruptionGuardWorker::run() {
  Clock::time_point last_attempt{};
  for (;;) {
    bool requested = false;
    if (!worker_.wait(settings_.period, [this] { return requested_; },
                      [&] { requested = requested_; })) {
      return;
    }
    // Attempts at least a period apart, however often the endpoint is asked.
    if (requested && Clock::now() - last_attempt < settings_.period &&
        !worker_.sleep(settings_.period - (Clock::now() - last_attempt))) {
      return;
    }
    const bool wanted = worker_.locked([this] {
      const bool fresh = requested_ && Clock::now() - requested_at_ < settings_.request_window;
      requested_ = false;
      return fresh;
    });
    const auto now = std::chrono::system_clock::now();
    if (view_.held && now >= view_.held_until) {
      view_.held = false;
      publish();
    }
    if (wanted && !view_.held) {
      last_attempt = Clock::now();
      acquire(now);
    }
    if (!predecessor_checked_ && back_with_quorum_()) release_predecessor();
  }
}

bool DisruptionGuardWorker::read(std::optional<LeaseRecord>& lease) {
  kube::ApiResponse r = kube_->get(path_);
  if (r.status == 404) {
    lease.reset();
    return true;
  }
  if (r.status != 200) {
    failed("read the disruption guard Lease " + view_.lease, r);
    return false;
  }
  Result<LeaseRecord> parsed = parse_lease(r.body);
  if (!parsed) {
    failed("read the disruption guard Lease " + view_.lease + ": " + parsed.status().message(),
           {});
    return false;
  }
  lease = std::move(parsed.value());
  return true;
}

void DisruptionGuardWorker::acquire(std::chrono::system_clock::time_point now) {
  std::optional<LeaseRecord> lease;
  if (!read(lease)) return;
  const GuardDecision d = decide_acquire(lease, settings_.holder, now);
  kube::ApiResponse r;
  switch (d.step) {
    case GuardStep::kRefused:
      view_.holder = d.holder;
      view_.holder_until = d.expires;
      view_.error.clear();
      publish();
      return;
    case GuardStep::kHeld:
      view_.held = true;
      view_.held_until = d.expires - settings_.expiry_margin;
      view_.error.clear();
      publish();
      return;
    case GuardStep::kCreate:
      r = kube_->post("/apis/coordination.k8s.io/v1/namespaces/" + settings_.namespace_name +
                          "/leases",
                      lease_body(settings_.namespace_name, settings_.name, settings_.holder, now,
                                 settings_.duration_seconds, ""));
      break;
    case GuardStep::kTake:
      r = kube_->put(path_, lease_body(settings_.namespace_name, settings_.name, settings_.holder,
                                       now, settings_.duration_seconds,
                                       lease->resource_version));
      break;
  }
  if (r.status == 200 || r.status == 201) {
    view_.held = true;
    view_.held_until =
        now + std::chrono::seconds(settings_.duration_seconds) - settings_.expiry_margin;
    view_.holder.clear();
    view_.error.clear();
    log_.info("holding the disruption guard",
              {{"lease", view_.lease},
               {"seconds", std::to_string(settings_.duration_seconds)}});
    publish();
  } else if (r.status == 409) {
    // Another member created or took it between our read and our write: it won.
    view_.error.clear();
    publish();
  } else {
    failed("take the disruption guard Lease " + view_.lease, r);
  }
}

void DisruptionGuardWorker::release_predecessor() {
  std::optional<LeaseRecord> lease;
  if (!read(lease)) return;
  if (!lease || !should_release(*lease, settings_.identity, settings_.holder)) {
    predecessor_checked_ = true;
    return;
  }
  kube::ApiResponse r =
      kube_->put(path_, released_lease_body(settings_.namespace_name, settings_.name, *lease));
  if (r.status == 200) {
    predecessor_checked_ = true;
    log_.info("freed the disruption guard an earlier instance of this member held",
              {{"lease", view_.lease}, {"holder", lease->holder}});
  } else if (r.status != 409) {  // 409: changed meanwhile; look again next period
    failed("free the disruption guard Lease " + view_.lease, r);
  }
}

void DisruptionGuardWorker::failed(const std::string& what, const kube::ApiResponse& r) {
  std::string why = r.status == 0 && r.error.empty() ? std::string() : describe_failure(r);
  std::string msg = "cannot " + what + (why.empty() ? "" : ": " + why);
  if (r.status == 403) {
    msg += "; apply rbac/disruption-lease.yaml for this member's service account";
  }
  view_.error = msg;
  if (msg != last_logged_error_) {
    log_.warn(msg, {});
    last_logged_error_ = msg;
  }
  publish();
}

void DisruptionGuardWorker::publish() { publish_(view_); }

}  // namespace esk8s::plugin
