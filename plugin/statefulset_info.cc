#include "plugin/statefulset_info.h"

#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace esk8s::plugin {

using nlohmann::json;

namespace {

Result<json> parse_object(const std::string& text, const char* what) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) return Status::invalid_argument(std::string(what) + " is not an object");
    return j;
  } catch (const json::exception&) {
    return Status::invalid_argument(std::string(what) +
                                    " is not JSON: " + truncate_for_log(text, 120));
  }
}

std::string forbidden_hint(const std::string& verb, const std::string& resource,
                           const std::string& ns) {
  return "cannot " + verb + " " + resource + " in namespace \"" + ns +
         "\" (needed for ESK8S_READY_MODE=auto and the default ESK8S_CLUSTER_SIZE); apply "
         "rbac/role.yaml, or set ESK8S_READY_MODE and ESK8S_CLUSTER_SIZE explicitly";
}

}  // namespace

Result<std::string> owning_statefulset(const std::string& pod_json) {
  auto pod = parse_object(pod_json, "the Pod");
  if (!pod) return pod.status();
  const json md = pod->value("metadata", json::object());
  for (const auto& ref : md.value("ownerReferences", json::array())) {
    if (!ref.is_object()) continue;
    if (ref.value("kind", "") == "StatefulSet" && ref.value("controller", false)) {
      std::string name = ref.value("name", "");
      if (!name.empty()) return name;
    }
  }
  return Status::not_found("pod " + md.value("name", std::string("?")) +
                           " is not owned by a StatefulSet");
}

Result<StatefulSetInfo> parse_statefulset(const std::string& statefulset_json) {
  auto sts = parse_object(statefulset_json, "the StatefulSet");
  if (!sts) return sts.status();
  StatefulSetInfo info;
  info.name = sts->value("metadata", json::object()).value("name", "");
  const json spec = sts->value("spec", json::object());
  info.pod_management_policy = spec.value("podManagementPolicy", "OrderedReady");
  if (info.pod_management_policy != "OrderedReady" && info.pod_management_policy != "Parallel") {
    return Status::invalid_argument("StatefulSet " + info.name + " has podManagementPolicy \"" +
                                    info.pod_management_policy + "\"");
  }
  if (spec.contains("replicas")) {
    const json& r = spec["replicas"];
    if (!r.is_number_integer() || r.get<int64_t>() < 0 || r.get<int64_t>() > 10000) {
      return Status::invalid_argument("StatefulSet " + info.name + " has an invalid spec.replicas");
    }
    info.replicas = static_cast<uint32_t>(r.get<int64_t>());
  }
  return info;
}

Result<StatefulSetInfo> fetch_statefulset_info(kube::KubeClient& kube, const std::string& ns,
                                               const std::string& pod, ReadFailure* failure) {
  auto note = [failure](const kube::ApiResponse& r) {
    if (failure) *failure = ReadFailure{r.status, r.retry_after};
  };
  auto p = kube.get("/api/v1/namespaces/" + ns + "/pods/" + pod);
  if (p.status != 200) note(p);
  if (p.status == 403) return Status::config(forbidden_hint("get", "pods", ns));
  if (p.status != 200) {
    return Status::io("reading pod " + ns + "/" + pod + " failed: HTTP " +
                      std::to_string(p.status) + (p.error.empty() ? "" : " (" + p.error + ")"));
  }
  auto owner = owning_statefulset(p.body);
  if (!owner) return owner.status();
  auto s = kube.get("/apis/apps/v1/namespaces/" + ns + "/statefulsets/" + owner.value());
  if (s.status != 200) note(s);
  if (s.status == 403) return Status::config(forbidden_hint("get", "statefulsets.apps", ns));
  if (s.status != 200) {
    return Status::io("reading StatefulSet " + ns + "/" + owner.value() + " failed: HTTP " +
                      std::to_string(s.status) + (s.error.empty() ? "" : " (" + s.error + ")"));
  }
  return parse_statefulset(s.body);
}

}  // namespace esk8s::plugin
