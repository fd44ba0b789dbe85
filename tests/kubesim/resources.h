// The resource types kubesim serves, and the discovery documents (/api, /apis, /api/v1,
// /apis/<group>/<version>) kubectl reads to map kinds to URLs. CustomResourceDefinitions add
// types at run time, so examples with custom kinds (cert-manager's Certificate, ...) apply.
//
// Thread-safety: ResourceRegistry is internally locked.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kubesim {

struct ResourceType {
  std::string group;    // "" for core
  std::string version;  // "v1"
  std::string kind;     // "Pod"
  std::string plural;   // "pods"
  std::string singular;
  bool namespaced = true;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> subresources;  // "status", "approval"
  std::vector<std::string> field_labels;  // supported fieldSelector fields beyond metadata.*
  bool create_only = false;               // reviews: POST only, nothing stored
  bool all_category = false;
  bool tracks_generation = false;  // metadata.generation counts spec changes

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  // "pods" or "endpointslices.discovery.k8s.io": the qualified name in Status messages.
  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
  bool has_subresource(const std::string& s) const;
};

class ResourceRegistry {
 public:
  ResourceRegistry();  // the built-in types

  std::optional<ResourceType> find(const std::string& group, const std::string& version,
                                   const std::string& plural) const;
  std::optional<ResourceType> find_kind(const std::string& group_version,
                                        const std::string& kind) const;
  // Registers (or replaces) a type from a CustomResourceDefinition object; false if malformed.
  bool register_crd(const nlohmann::json& crd);
  void unregister_crd(const nlohmann::json& crd);
  std::vector<ResourceType> all() const;

  nlohmann::json api_versions(const std::string& server_address) const;  // /api
  nlohmann::json api_group_list() const;                                 // /apis
  // /api/v1 or /apis/<group>/<version>; null when unknown.
  nlohmann::json api_resource_list(const std::string& group, const std::string& version) const;

 private:
  mutable std::mutex mu_;
  std::vector<ResourceType> types_;  // guarded by mu_
};

}  // namespace kubesim
