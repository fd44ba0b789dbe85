#include "plugin/disruption_guard.h"

#include <time.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"

namespace esk8s::plugin {

using nlohmann::json;

namespace {

constexpr size_t kMaxLeaseBytes = 64 * 1024;

std::string string_field(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<WallTime> LeaseRecord::expires() const {
  if (holder.empty()) return std::nullopt;
  if (!renew || duration_seconds <= 0) return WallTime{};  // expired at the epoch
  return *renew + std::chrono::seconds(duration_seconds);
}

Result<LeaseRecord> parse_lease(std::string_view text) {
  if (text.size() > kMaxLeaseBytes) {
    return Status::invalid_argument("Lease object of " + std::to_string(text.size()) +
                                    " bytes exceeds the " + std::to_string(kMaxLeaseBytes) +
                                    "-byte limit");
  }
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("metadata") || !j["metadata"].is_object()) {
    return Status::invalid_argument("not a Lease object (no metadata)");
  }
  LeaseRecord r;
  r.resource_version = string_field(j["metadata"], "resourceVersion");
  if (r.resource_version.empty()) {
    return Status::invalid_argument("Lease without metadata.resourceVersion");
  }
  const json spec = j.contains("spec") && j["spec"].is_object() ? j["spec"] : json::object();
  r.holder = string_field(spec, "holderIdentity");
  std::string when = string_field(spec, "renewTime");
  if (when.empty()) when = string_field(spec, "acquireTime");
  if (!when.empty()) r.renew = parse_rfc3339(when);
  auto d = spec.find("leaseDurationSeconds");
  if (d != spec.end() && d->is_number_integer()) r.duration_seconds = d->get<int64_t>();
  return r;
}

std::string guard_holder(std::string_view identity, std::string_view instance) {
  return std::string(identity) + " " + std::string(instance);
}

GuardDecision decide_acquire(const std::optional<LeaseRecord>& lease, std::string_view self_holder,
                             WallTime now) {
  if (!lease) return {GuardStep::kCreate, {}, {}};
  std::optional<WallTime> until = lease->expires();
  if (!until || *until <= now) return {GuardStep::kTake, {}, {}};
  if (lease->holder == self_holder) return {GuardStep::kHeld, lease->holder, *until};
  return {GuardStep::kRefused, lease->holder, *until};
}

bool should_release(const LeaseRecord& lease, std::string_view identity,
                    std::string_view self_holder) {
  const std::string prefix = std::string(identity) + " ";
  return lease.holder != self_holder && lease.holder.rfind(prefix, 0) == 0;
}

std::string lease_body(std::string_view namespace_name, std::string_view name,
                       std::string_view holder, WallTime now, int64_t duration_seconds,
                       std::string_view resource_version) {
  json md = {{"name", name}, {"namespace", namespace_name}};
  if (!resource_version.empty()) md["resourceVersion"] = resource_version;
  const std::string t = format_rfc3339(now, 6);
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", md},
              {"spec",
               {{"holderIdentity", holder},
                {"leaseDurationSeconds", duration_seconds},
                {"acquireTime", t},
                {"renewTime", t}}}}
      .dump();
}

std::string released_lease_body(std::string_view namespace_name, std::string_view name,
                                const LeaseRecord& lease) {
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata",
               {{"name", name},
                {"namespace", namespace_name},
                {"resourceVersion", lease.resource_version}}},
              {"spec", json::object()}}
      .dump();
}

}  // namespace esk8s::plugin
