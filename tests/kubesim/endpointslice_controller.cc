#include <algorithm>
#include <map>
#include <set>

#include "tests/kubesim/controllers.h"

namespace kubesim {

using nlohmann::json;

namespace {

bool pod_condition(const json& pod, const std::string& type) {
  for (const auto& c : pod.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == type) return c.value("status", "") == "True";
  }
  return false;
}

// The slice `ports` for a service: each service port's targetPort resolved against the first
// pod's container ports when it is a name.
json slice_ports(const json& svc, const std::vector<json>& pods) {
  json ports = json::array();
  for (const auto& sp : svc["spec"].value("ports", json::array())) {
    json port = {{"protocol", sp.value("protocol", "TCP")}};
    if (sp.contains("name")) port["name"] = sp["name"];
    json target = sp.contains("targetPort") ? sp["targetPort"] : sp.value("port", json(0));
    if (target.is_string()) {
      json resolved = nullptr;
      for (const auto& pod : pods) {
        for (const auto& c : pod["spec"].value("containers", json::array())) {
          for (const auto& cp : c.value("ports", json::array())) {
            if (cp.value("name", "") == target.get<std::string>())
              resolved = cp.value("containerPort", 0);
          }
        }
        if (!resolved.is_null()) break;
      }
      if (resolved.is_null()) continue;
      target = resolved;
    }
    port["port"] = target;
    ports.push_back(port);
  }
  return ports;
}

}  // namespace

void reconcile_endpointslices(Store& store, const ResourceRegistry& registry,
                              size_t max_per_slice) {
  auto svc_type = *registry.find("", "v1", "services");
  auto pod_type = *registry.find("", "v1", "pods");
  auto node_type = *registry.find("", "v1", "nodes");
  auto eps_type = *registry.find("discovery.k8s.io", "v1", "endpointslices");
  const std::string kManagedBy = "endpointslice-controller.k8s.io";

  std::map<std::string, std::string> zones;
  for (const auto& n : store.all(node_type.qualified())) {
    zones[n["metadata"].value("name", "")] =
        n["metadata"].value("labels", json::object()).value("topology.kubernetes.io/zone", "");
  }
  auto pods = store.all(pod_type.qualified());
  auto slices = store.all(eps_type.qualified());
  std::set<std::pair<std::string, std::string>> services;

  for (const json& svc : store.all(svc_type.qualified())) {
    const json& md = svc["metadata"];
    std::string ns = md.value("namespace", ""), name = md.value("name", "");
    services.insert({ns, name});
    const json& spec = svc.value("spec", json::object());
    if (!spec.contains("selector") || !spec["selector"].is_object() || spec["selector"].empty())
      continue;
    LabelSelector sel = LabelSelector::from_map(spec["selector"]);
    bool pnra = spec.value("publishNotReadyAddresses", false);

    std::vector<json> members;
    for (const auto& pod : pods) {
      const json& pmd = pod["metadata"];
      if (pmd.value("namespace", "") != ns || !sel.matches(pmd.value("labels", json::object())))
        continue;
      if (pod.value("status", json::object()).value("podIP", "").empty()) continue;
      members.push_back(pod);
    }
    std::sort(members.begin(), members.end(), [](const json& a, const json& b) {
      return a["metadata"].value("name", "") < b["metadata"].value("name", "");
    });
    json ports = slice_ports(svc, members);
    if (ports.empty()) ports = nullptr;

    std::vector<json> endpoints;
    for (const auto& pod : members) {
      const json& pmd = pod["metadata"];
      bool terminating = pmd.contains("deletionTimestamp");
      bool pod_ready = pod_condition(pod, "Ready");
      json ep = {{"addresses", {pod["status"]["podIP"]}},
                 {"conditions",
                  {{"ready", (pnra || pod_ready) && !terminating},
                   {"serving", pnra || pod_ready},
                   {"terminating", terminating}}},
                 {"targetRef",
                  {{"kind", "Pod"},
                   {"namespace", ns},
                   {"name", pmd.value("name", "")},
                   {"uid", pmd.value("uid", "")}}}};
      const json& pspec = pod["spec"];
      if (pspec.value("subdomain", "") == name && pspec.contains("hostname"))
        ep["hostname"] = pspec["hostname"];
      if (std::string node = pspec.value("nodeName", ""); !node.empty()) {
        ep["nodeName"] = node;
        if (!zones[node].empty()) ep["zone"] = zones[node];
      }
      endpoints.push_back(ep);
    }

    std::vector<json> mine;
    for (const auto& s : slices) {
      const json& smd = s["metadata"];
      json labels = smd.value("labels", json::object());
      if (smd.value("namespace", "") == ns &&
          labels.value("kubernetes.io/service-name", "") == name &&
          labels.value("endpointslice.kubernetes.io/managed-by", "") == kManagedBy) {
        mine.push_back(s);
      }
    }
    // Slices hold contiguous chunks of the pod-name order; ordering them by their first endpoint
    // (empty ones last) maps each chunk back to the slice that already holds it, so a steady
    // state rewrites nothing.
    auto first_pod = [](const json& s) {
      const json& e = s.value("endpoints", json());
      if (!e.is_array() || e.empty()) return std::string("\x7f");
      return e[0].value("targetRef", json::object()).value("name", "");
    };
    std::sort(mine.begin(), mine.end(), [&](const json& a, const json& b) {
      return std::make_pair(first_pod(a), a["metadata"].value("name", "")) <
             std::make_pair(first_pod(b), b["metadata"].value("name", ""));
    });
    size_t per = std::max<size_t>(1, max_per_slice);
    size_t needed = std::max<size_t>(1, (endpoints.size() + per - 1) / per);
    for (size_t i = 0; i < needed; ++i) {
      json eps = json::array();
      for (size_t j = i * per; j < std::min(endpoints.size(), (i + 1) * per); ++j)
        eps.push_back(endpoints[j]);
      // Go serialises empty lists as null; clients must cope, so kubesim does the same.
      if (eps.empty()) eps = nullptr;
      if (i < mine.size()) {
        json next = mine[i];
        if (next.value("endpoints", json()) == eps && next.value("ports", json()) == ports)
          continue;
        next["endpoints"] = eps;
        next["ports"] = ports;
        next["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
            rfc3339_millis_now();
        next["metadata"].erase("resourceVersion");
        (void)store.update(eps_type, ns, next["metadata"].value("name", ""), next);
      } else {
        json slice = {
            {"apiVersion", "discovery.k8s.io/v1"},
            {"kind", "EndpointSlice"},
            {"metadata",
             {{"generateName", name + "-"},
              {"annotations",
               {{"endpoints.kubernetes.io/last-change-trigger-time", rfc3339_millis_now()}}},
              {"labels",
               {{"kubernetes.io/service-name", name},
                {"endpointslice.kubernetes.io/managed-by", kManagedBy}}},
              {"ownerReferences",
               {{{"apiVersion", "v1"},
                 {"kind", "Service"},
                 {"name", name},
                 {"uid", md.value("uid", "")},
                 {"controller", true},
                 {"blockOwnerDeletion", true}}}}}},
            {"addressType", "IPv4"},
            {"endpoints", eps},
            {"ports", ports}};
        (void)store.create(eps_type, ns, slice);
      }
    }
    for (size_t i = needed; i < mine.size(); ++i) {
      (void)store.remove(eps_type, ns, mine[i]["metadata"].value("name", ""));
    }
  }
}

}  // namespace kubesim
