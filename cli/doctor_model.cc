#include "cli/doctor_model.h"

namespace esk8s::cli::doctor {

namespace {
const nlohmann::json kEmptyObject = nlohmann::json::object();

const nlohmann::json& spec_of(const nlohmann::json& sts) {
  if (!sts.is_object()) return kEmptyObject;
  auto it = sts.find("spec");
  return it != sts.end() && it->is_object() ? *it : kEmptyObject;
}
}  // namespace

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
  }
  return "info";
}

std::string Workload::setting(const std::string& key, const std::string& fallback) const {
  auto it = settings.find(key);
  if (it == settings.end() || !it->second || it->second->empty()) return fallback;
  return *it->second;
}

bool Workload::has_setting(const std::string& key) const {
  auto it = settings.find(key);
  return it != settings.end() && (!it->second || !it->second->empty());
}

int Workload::replicas() const {
  const auto& spec = spec_of(statefulset);
  auto it = spec.find("replicas");
  return it != spec.end() && it->is_number_integer() ? it->get<int>() : 1;
}

std::string Workload::service_name() const {
  const auto& spec = spec_of(statefulset);
  auto it = spec.find("serviceName");
  return it != spec.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Workload::service_account() const {
  const auto& spec = pod_spec();
  for (const char* key : {"serviceAccountName", "serviceAccount"}) {
    auto it = spec.find(key);
    if (it != spec.end() && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>();
    }
  }
  return "default";
}

const nlohmann::json& Workload::pod_spec() const {
  const auto& spec = spec_of(statefulset);
  auto tmpl = spec.find("template");
  if (tmpl == spec.end() || !tmpl->is_object()) return kEmptyObject;
  auto ps = tmpl->find("spec");
  return ps != tmpl->end() && ps->is_object() ? *ps : kEmptyObject;
}

int Cluster::replicas() const {
  int sum = 0;
  for (const Workload& w : workloads) sum += w.replicas();
  return sum;
}

bool Cluster::multi_namespace() const {
  for (const Workload& w : workloads) {
    if (w.namespace_name != workloads.front().namespace_name) return true;
  }
  return false;
}

std::string Cluster::object() const {
  if (workloads.size() == 1) return workloads.front().object();
  std::string out = "StatefulSets ";
  for (size_t i = 0; i < workloads.size(); ++i) {
    out += (i ? ", " : "") + workloads[i].namespace_name + "/" + workloads[i].name;
  }
  return out;
}

}  // namespace esk8s::cli::doctor
