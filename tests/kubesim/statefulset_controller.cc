#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "tests/kubesim/controllers.h"

namespace kubesim {

using nlohmann::json;

bool pod_running_and_ready(const json& pod) {
  if (pod["metadata"].contains("deletionTimestamp")) return false;
  const json& st = pod.value("status", json::object());
  if (st.value("phase", "") != "Running") return false;
  for (const auto& c : st.value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

namespace {

std::string revision_of(const json& sts) {
  size_t h = std::hash<std::string>{}(sts["spec"]["template"].dump());
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (int i = 0; i < 10; ++i) {
    s.push_back(kAlphabet[h % (sizeof kAlphabet - 1)]);
    h /= (sizeof kAlphabet - 1);
  }
  return sts["metadata"].value("name", "") + "-" + s;
}

json make_pod(const json& sts, int ordinal, const std::string& revision) {
  const json& md = sts["metadata"];
  std::string name = md.value("name", "") + "-" + std::to_string(ordinal);
  const json& tmpl = sts["spec"]["template"];
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  json pmd = tmpl.value("metadata", json::object());
  pmd["name"] = name;
  pmd["namespace"] = md.value("namespace", "");
  json& labels = pmd["labels"];
  if (!labels.is_object()) labels = json::object();
  labels["statefulset.kubernetes.io/pod-name"] = name;
  labels["apps.kubernetes.io/pod-index"] = std::to_string(ordinal);
  labels["controller-revision-hash"] = revision;
  pmd["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                             {"kind", "StatefulSet"},
                             {"name", md.value("name", "")},
                             {"uid", md.value("uid", "")},
                             {"controller", true},
                             {"blockOwnerDeletion", true}}};
  pmd.erase("creationTimestamp");
  pod["metadata"] = pmd;
  pod["spec"] = tmpl.value("spec", json::object());
  pod["spec"]["hostname"] = name;
  pod["spec"]["subdomain"] = sts["spec"].value("serviceName", "");
  // As the real controller: each volumeClaimTemplate becomes a volume naming the pod's claim
  // <template>-<pod> (the kubelet keeps its directory across pod recreations, like a PV).
  for (const auto& vct : sts["spec"].value("volumeClaimTemplates", json::array())) {
    std::string vname = vct.value("metadata", json::object()).value("name", "");
    if (vname.empty()) continue;
    json& vols = pod["spec"]["volumes"];
    if (!vols.is_array()) vols = json::array();
    vols.push_back(
        {{"name", vname}, {"persistentVolumeClaim", {{"claimName", vname + "-" + name}}}});
  }
  if (!pod["spec"].contains("restartPolicy")) pod["spec"]["restartPolicy"] = "Always";
  if (!pod["spec"].contains("terminationGracePeriodSeconds"))
    pod["spec"]["terminationGracePeriodSeconds"] = 30;
  return pod;
}

int ordinal_of(const std::string& sts_name, const std::string& pod_name) {
  if (pod_name.rfind(sts_name + "-", 0) != 0) return -1;
  std::string rest = pod_name.substr(sts_name.size() + 1);
  if (rest.empty() || rest.size() > 6 || rest.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::atoi(rest.c_str());
}

}  // namespace

void reconcile_statefulsets(Store& store, const ResourceRegistry& registry) {
  auto sts_type = *registry.find("apps", "v1", "statefulsets");
  auto pod_type = *registry.find("", "v1", "pods");
  auto pods = store.all(pod_type.qualified());
  for (const json& sts : store.all(sts_type.qualified())) {
    const json& md = sts["metadata"];
    if (md.contains("deletionTimestamp")) continue;
    std::string ns = md.value("namespace", ""), name = md.value("name", ""),
                uid = md.value("uid", "");
    const json& spec = sts["spec"];
    int replicas = spec.value("replicas", 1);
    bool parallel = spec.value("podManagementPolicy", "OrderedReady") == "Parallel";
    std::string revision = revision_of(sts);
    int partition = 0;
    bool rolling = true;
    if (spec.contains("updateStrategy")) {
      rolling = spec["updateStrategy"].value("type", "RollingUpdate") == "RollingUpdate";
      if (spec["updateStrategy"].contains("rollingUpdate")) {
        partition = spec["updateStrategy"]["rollingUpdate"].value("partition", 0);
      }
    }

    std::map<int, json> owned;
    for (const auto& pod : pods) {
      const json& pmd = pod["metadata"];
      if (pmd.value("namespace", "") != ns) continue;
      bool mine = false;
      for (const auto& ref : pmd.value("ownerReferences", json::array()))
        mine = mine || ref.value("uid", "") == uid;
      int ord = ordinal_of(name, pmd.value("name", ""));
      if (mine && ord >= 0) owned[ord] = pod;
    }

    // Creation (and recreation of missing pods).
    for (int i = 0; i < replicas; ++i) {
      auto it = owned.find(i);
      if (it == owned.end()) {
        // A missing ordinal is created with the update revision when it is at or above the
        // partition, else with the current one (kept simple: the update revision).
        (void)store.create(pod_type, ns, make_pod(sts, i, revision));
        if (!parallel) break;
        continue;
      }
      if (!parallel && !pod_running_and_ready(it->second)) break;
    }
    // Scale down: highest ordinal first; OrderedReady one at a time and only when the rest are
    // ready.
    for (auto it = owned.rbegin(); it != owned.rend(); ++it) {
      if (it->first < replicas) break;
      if (it->second["metadata"].contains("deletionTimestamp")) {
        if (!parallel) break;
        continue;
      }
      if (!parallel) {
        bool others_ready = true;
        for (const auto& [o, p] : owned) {
          if (o < it->first) others_ready = others_ready && pod_running_and_ready(p);
        }
        if (!others_ready) break;
      }
      int64_t grace = it->second["spec"].value("terminationGracePeriodSeconds", int64_t{30});
      (void)store.mark_deleting(pod_type, ns, it->second["metadata"].value("name", ""), grace);
      if (!parallel) break;
    }
    // Rolling update: from the highest ordinal, one pod at a time, when every other pod is ready.
    if (rolling) {
      bool all_ready = true;
      for (const auto& [o, p] : owned) {
        if (o < replicas) all_ready = all_ready && pod_running_and_ready(p);
      }
      int present = 0;
      for (const auto& [o, p] : owned) present += o < replicas;
      if (all_ready && present == replicas) {
        for (int i = replicas - 1; i >= partition; --i) {
          const json& p = owned[i];
          std::string rev =
              p["metadata"].value("labels", json::object()).value("controller-revision-hash", "");
          if (rev != revision) {
            int64_t grace = p["spec"].value("terminationGracePeriodSeconds", int64_t{30});
            (void)store.mark_deleting(pod_type, ns, p["metadata"].value("name", ""), grace);
            break;
          }
        }
      }
    }

    // Status.
    int ready = 0, current = 0, updated = 0, count = 0;
    for (const auto& [o, p] : owned) {
      ++count;
      if (pod_running_and_ready(p)) ++ready;
      std::string rev =
          p["metadata"].value("labels", json::object()).value("controller-revision-hash", "");
      if (rev == revision)
        ++updated;
      else
        ++current;
    }
    json status = {
        {"observedGeneration", md.value("generation", 1)},
        {"replicas", count},
        {"readyReplicas", ready},
        {"availableReplicas", ready},
        {"currentReplicas", updated == count ? count : current},
        {"updatedReplicas", updated},
        {"currentRevision",
         updated == count ? revision
                          : sts.value("status", json::object()).value("currentRevision", revision)},
        {"updateRevision", revision},
        {"collisionCount", 0}};
    if (sts.value("status", json::object()) != status) {
      json next = sts;
      next["status"] = status;
      next["metadata"].erase("resourceVersion");
      (void)store.update(sts_type, ns, name, next, UpdateScope::kStatus);
    }
  }
}

void collect_garbage(Store& store, const ResourceRegistry& registry) {
  std::set<std::string> uids;
  auto types = registry.all();
  for (const auto& t : types) {
    if (t.create_only) continue;
    for (const auto& o : store.all(t.qualified())) uids.insert(o["metadata"].value("uid", ""));
  }
  for (const auto& t : types) {
    if (t.create_only) continue;
    for (const auto& o : store.all(t.qualified())) {
      const json& md = o["metadata"];
      auto refs = md.value("ownerReferences", json::array());
      if (refs.empty()) continue;
      bool orphaned = true;
      for (const auto& r : refs) orphaned = orphaned && !uids.count(r.value("uid", ""));
      if (!orphaned) continue;
      if (t.kind == "Pod") {
        if (!md.contains("deletionTimestamp")) {
          (void)store.mark_deleting(t, md.value("namespace", ""), md.value("name", ""),
                                    o["spec"].value("terminationGracePeriodSeconds", int64_t{30}));
        }
      } else {
        (void)store.remove(t, md.value("namespace", ""), md.value("name", ""));
      }
    }
  }
}

}  // namespace kubesim
