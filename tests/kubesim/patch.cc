#include "tests/kubesim/patch.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace kubesim {

using esk8s::Result;
using esk8s::Status;
using nlohmann::json;

json merge_patch(const json& target, const json& patch) {
  if (!patch.is_object()) return patch;
  json result = target.is_object() ? target : json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      result.erase(key);
      continue;
    }
    auto it = result.find(key);
    json merged = merge_patch(it == result.end() ? json() : *it, value);
    result[key] = std::move(merged);
  }
  return result;
}

namespace {

constexpr std::string_view kPatchDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetOrderPrefix = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrefix = "$deleteFromPrimitiveList/";

using Fields = std::vector<std::string>;

// Where a value sits in the document. `fields` (map keys only; list elements add nothing) selects
// the merge rules; `text` (with element labels) is what error messages show.
struct Path {
  Fields fields;
  std::string text;

  Path field(const std::string& name) const {
    Path p = *this;
    p.fields.push_back(name);
    if (!p.text.empty()) p.text += '.';
    p.text += name;
    return p;
  }
  Path element(const std::string& label) const {
    Path p = *this;
    p.text += '[' + label + ']';
    return p;
  }
  std::string where() const { return text.empty() ? "the patch root" : text; }
};

Status bad(const std::string& sentence) {
  return Status::invalid_argument("strategic merge patch: " + sentence);
}

enum class ListMode {
  kReplace,     // no patch strategy: the patch list replaces the target list
  kMergeByKey,  // patchStrategy merge + patchMergeKey: items merge by the key's value
  kSet,         // patchStrategy merge on primitives: a set, union of target and patch
};

struct ListRule {
  ListMode mode = ListMode::kReplace;
  std::string key;  // kMergeByKey only
};

// A list field and its patchMergeKey; an empty key means a merged set of primitives.
struct FieldRule {
  std::string_view field;
  std::string_view key;
};

// The patchStrategy/patchMergeKey tags of k8s.io/api for the PodSpec and Container lists.
constexpr FieldRule kPodSpecLists[] = {
    {"containers", "name"},
    {"initContainers", "name"},
    {"ephemeralContainers", "name"},
    {"volumes", "name"},
    {"imagePullSecrets", "name"},
    {"hostAliases", "ip"},
    {"topologySpreadConstraints", "topologyKey"},
    {"schedulingGates", "name"},
    {"resourceClaims", "name"},
};
constexpr std::string_view kContainerListFields[] = {"containers", "initContainers",
                                                     "ephemeralContainers"};
constexpr FieldRule kContainerLists[] = {
    {"env", "name"},
    {"ports", "containerPort"},
    {"volumeMounts", "mountPath"},
    {"volumeDevices", "devicePath"},
};
constexpr FieldRule kObjectMetaLists[] = {{"finalizers", ""}, {"ownerReferences", "uid"}};

// Built-in kinds: ObjectMeta and status.conditions rules apply to all of them. Any other kind
// (custom resources) gets merge-patch list semantics.
constexpr std::string_view kKnownKinds[] = {
    "Pod",
    "StatefulSet",
    "Deployment",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Service",
    "ConfigMap",
    "Secret",
    "Node",
    "Namespace",
    "ServiceAccount",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Endpoints",
    "EndpointSlice",
    "Event",
    "Lease",
    "PodDisruptionBudget",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "ControllerRevision",
    "CertificateSigningRequest",
    "CustomResourceDefinition",
};

ListRule rule_from(const FieldRule& r) {
  return r.key.empty() ? ListRule{ListMode::kSet, ""}
                       : ListRule{ListMode::kMergeByKey, std::string(r.key)};
}

std::optional<ListRule> find_rule(std::span<const FieldRule> table, std::string_view field) {
  for (const FieldRule& r : table) {
    if (r.field == field) return rule_from(r);
  }
  return std::nullopt;
}

// True when `f` is exactly `prefix` followed by `tail`.
bool path_is(const Fields& f, const Fields& prefix, std::initializer_list<std::string_view> tail) {
  if (f.size() != prefix.size() + tail.size()) return false;
  if (!std::equal(prefix.begin(), prefix.end(), f.begin())) return false;
  return std::equal(tail.begin(), tail.end(),
                    f.begin() + static_cast<std::ptrdiff_t>(prefix.size()));
}

// True when `f` starts with `prefix` and has exactly `extra` more fields.
bool extends(const Fields& f, const Fields& prefix, std::size_t extra) {
  return f.size() == prefix.size() + extra && std::equal(prefix.begin(), prefix.end(), f.begin());
}

bool is_directive_key(const std::string& key) {
  return key == kPatchDirective || key == kRetainKeys || key.starts_with(kSetOrderPrefix) ||
         key.starts_with(kDeleteFromPrefix);
}

// What identifies a list item: its merge key's value, or the item itself in a set. nullptr when a
// keyed item lacks the key, so it matches nothing.
const json* identity(const json& item, const std::string& key) {
  if (key.empty()) return &item;
  if (!item.is_object()) return nullptr;
  auto it = item.find(key);
  return it == item.end() ? nullptr : &*it;
}

// Position of the item with `item`'s identity in `list`, or -1.
std::ptrdiff_t index_of(const std::vector<json>& list, const json& item, const std::string& key) {
  const json* id = identity(item, key);
  if (id == nullptr) return -1;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json* other = identity(list[i], key);
    if (other != nullptr && *other == *id) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

std::string element_label(const json& item, std::size_t index, const std::string& key) {
  if (!key.empty() && item.is_object()) {
    if (auto it = item.find(key); it != item.end()) return key + "=" + it->dump();
  }
  return std::to_string(index);
}

std::vector<json> items_of(const json& list) {
  std::vector<json> out;
  if (list.is_array()) out.assign(list.begin(), list.end());
  return out;
}

json to_array(std::vector<json> items) {
  json out = json::array();
  for (json& item : items) out.push_back(std::move(item));
  return out;
}

// Stable sort of `items` by their position in `order`; items `order` lacks go last.
void sort_by_order(std::vector<json>& items, const std::vector<json>& order,
                   const std::string& key) {
  std::vector<std::pair<std::ptrdiff_t, json>> keyed;
  keyed.reserve(items.size());
  for (json& item : items) {
    std::ptrdiff_t i = index_of(order, item, key);
    keyed.emplace_back(i < 0 ? PTRDIFF_MAX : i, std::move(item));
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  items.clear();
  for (auto& [unused, item] : keyed) items.push_back(std::move(item));
}

// The apiserver's list order (strategicpatch normalizeElementOrder): patch items in `patch_order`,
// server-only items in `server_order`, then interleaved so a server-only item stays before a patch
// item it preceded on the server; when either is new to the server the patch item goes first.
std::vector<json> normalize_order(std::vector<json> patch_items, std::vector<json> server_only,
                                  const std::vector<json>& patch_order,
                                  const std::vector<json>& server_order, const std::string& key) {
  sort_by_order(patch_items, patch_order, key);
  sort_by_order(server_only, server_order, key);
  std::vector<json> out;
  out.reserve(patch_items.size() + server_only.size());
  std::size_t i = 0, j = 0;
  while (i < server_only.size() || j < patch_items.size()) {
    bool take_server;
    if (j == patch_items.size()) {
      take_server = true;
    } else if (i == server_only.size()) {
      take_server = false;
    } else {
      std::ptrdiff_t si = index_of(server_order, server_only[i], key);
      std::ptrdiff_t pi = index_of(server_order, patch_items[j], key);
      take_server = si >= 0 && pi >= 0 && si < pi;
    }
    out.push_back(take_server ? std::move(server_only[i++]) : std::move(patch_items[j++]));
  }
  return out;
}

// Splits `merged` into items whose identity `by` names and the rest, keeping order.
std::pair<std::vector<json>, std::vector<json>> partition(std::vector<json> merged,
                                                          const std::vector<json>& by,
                                                          const std::string& key) {
  std::vector<json> named, rest;
  for (json& item : merged) {
    (index_of(by, item, key) >= 0 ? named : rest).push_back(std::move(item));
  }
  return {std::move(named), std::move(rest)};
}

enum class Directive { kReplace, kMerge, kDelete };

Result<Directive> parse_directive(const json& value, const Path& at) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s == "replace") return Directive::kReplace;
    if (s == "merge") return Directive::kMerge;
    if (s == "delete") return Directive::kDelete;
  }
  return bad("$patch at " + at.where() + " is " + value.dump() +
             "; it must be \"replace\", \"merge\" or \"delete\".");
}

bool has_patch_directive(const json& item) {
  return item.is_object() && item.contains(kPatchDirective);
}

class Merger {
 public:
  explicit Merger(const std::string& kind) : kind_(kind) {
    known_ =
        std::find(std::begin(kKnownKinds), std::end(kKnownKinds), kind) != std::end(kKnownKinds);
    if (kind == "Pod") {
      pod_template_ = Fields{};
    } else if (kind == "StatefulSet" || kind == "Deployment" || kind == "DaemonSet" ||
               kind == "ReplicaSet" || kind == "ReplicationController" || kind == "Job") {
      pod_template_ = Fields{"spec", "template"};
    } else if (kind == "CronJob") {
      pod_template_ = Fields{"spec", "jobTemplate", "spec", "template"};
    }
  }

  // Merges `patch` (an object) into `target` (an object; anything else counts as empty). nullopt
  // means the patch said `$patch: delete`: the caller drops the map.
  Result<std::optional<json>> merge_map(const json& target, const json& patch,
                                        const Path& path) const {
    if (auto it = patch.find(kPatchDirective); it != patch.end()) {
      auto d = parse_directive(*it, path);
      if (!d) return d.status();
      if (d.value() == Directive::kDelete) return std::optional<json>();
      if (d.value() == Directive::kReplace) {
        json rest = patch;
        rest.erase(std::string(kPatchDirective));
        return merge_map(json::object(), rest, path);
      }
    }
    json result = target.is_object() ? target : json::object();

    if (auto it = patch.find(kRetainKeys); it != patch.end()) {
      Status s = apply_retain_keys(result, patch, *it, path);
      if (!s) return s;
    }

    // $setElementOrder lists are merged together with their field, so the main loop skips those.
    std::vector<std::string> ordered;
    for (const auto& [key, value] : patch.items()) {
      if (!key.starts_with(kSetOrderPrefix)) continue;
      auto field = order_list(result, patch, key, value, path);
      if (!field) return field.status();
      if (!field->empty()) ordered.push_back(field.value());
    }

    for (const auto& [key, value] : patch.items()) {
      if (is_directive_key(key)) continue;
      if (std::find(ordered.begin(), ordered.end(), key) != ordered.end()) continue;
      if (value.is_null()) {
        result.erase(key);
        continue;
      }
      auto it = result.find(key);
      auto merged = merge_value(it == result.end() ? nullptr : &*it, value, path.field(key));
      if (!merged) return merged.status();
      if (merged->has_value()) {
        result[key] = std::move(*merged.value());
      } else {
        result.erase(key);
      }
    }

    for (const auto& [key, value] : patch.items()) {
      if (!key.starts_with(kDeleteFromPrefix)) continue;
      std::string field = key.substr(kDeleteFromPrefix.size());
      if (field.empty() || !value.is_array()) {
        return bad(key + " at " + path.where() +
                   " must name a list field and hold a list of the values to remove.");
      }
      auto it = result.find(field);
      if (it == result.end() || !it->is_array()) continue;
      json kept = json::array();
      for (const json& v : *it) {
        if (std::find(value.begin(), value.end(), v) == value.end()) kept.push_back(v);
      }
      *it = std::move(kept);
    }
    return std::optional<json>(std::move(result));
  }

  Result<json> merge_list(const json& target, const json& patch, const Path& path) const {
    const ListRule rule = list_rule(path.fields);
    std::vector<json> base = items_of(target);
    std::vector<json> items;  // the patch list without its directive items
    bool replace = false;
    for (std::size_t i = 0; i < patch.size(); ++i) {
      const json& item = patch[i];
      if (!has_patch_directive(item)) {
        items.push_back(item);
        continue;
      }
      const Path at = path.element(element_label(item, i, rule.key));
      auto d = parse_directive(item[std::string(kPatchDirective)], at);
      if (!d) return d.status();
      if (d.value() == Directive::kReplace) {
        replace = true;
      } else if (d.value() == Directive::kDelete && rule.mode == ListMode::kMergeByKey) {
        const json* id = identity(item, rule.key);
        if (id == nullptr) {
          return bad("$patch: delete at " + at.where() + " needs the merge key \"" + rule.key +
                     "\" to say which item of " + path.where() + " to delete.");
        }
        std::erase_if(base, [&](const json& b) {
          const json* other = identity(b, rule.key);
          return other != nullptr && *other == *id;
        });
      } else if (d.value() == Directive::kDelete && rule.mode == ListMode::kSet) {
        return bad("$patch: delete at " + at.where() + " cannot pick an item of " + path.where() +
                   ", a list of primitives; use $deleteFromPrimitiveList/" +
                   (path.fields.empty() ? std::string() : path.fields.back()) + ".");
      }
      // A delete item in a replaced list and a merge item change nothing: both are dropped.
    }

    if (rule.mode == ListMode::kReplace || replace) {
      json out = json::array();
      for (std::size_t i = 0; i < items.size(); ++i) {
        auto v = merge_value(nullptr, items[i], path.element(std::to_string(i)));
        if (!v) return v.status();
        if (v->has_value()) out.push_back(std::move(*v.value()));
      }
      return out;
    }

    std::vector<json> merged;
    if (rule.mode == ListMode::kSet) {
      for (const std::vector<json>* from : {&base, &items}) {
        for (const json& v : *from) {
          if (std::find(merged.begin(), merged.end(), v) == merged.end()) merged.push_back(v);
        }
      }
    } else {
      merged = base;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const json& item = items[i];
        const Path at = path.element(element_label(item, i, rule.key));
        if (identity(item, rule.key) == nullptr) {
          return bad("the item at " + at.where() + " must be an object with the merge key \"" +
                     rule.key + "\".");
        }
        std::ptrdiff_t pos = index_of(merged, item, rule.key);
        auto m =
            merge_map(pos < 0 ? json::object() : merged[static_cast<std::size_t>(pos)], item, at);
        if (!m) return m.status();
        if (!m->has_value()) continue;  // unreachable: `$patch` items were taken out above
        if (pos < 0) {
          merged.push_back(std::move(*m.value()));
        } else {
          merged[static_cast<std::size_t>(pos)] = std::move(*m.value());
        }
      }
    }
    auto [named, server_only] = partition(std::move(merged), items, rule.key);
    return to_array(
        normalize_order(std::move(named), std::move(server_only), items, base, rule.key));
  }

 private:
  // The value for a field the patch sets: maps and lists merge into the target's value when it has
  // the same shape (else into an empty one, which strips directives and nulls); anything else
  // replaces. nullopt: drop the field.
  Result<std::optional<json>> merge_value(const json* target, const json& patch,
                                          const Path& path) const {
    if (patch.is_object()) {
      return merge_map(target != nullptr && target->is_object() ? *target : json::object(), patch,
                       path);
    }
    if (patch.is_array()) {
      auto list = merge_list(target != nullptr && target->is_array() ? *target : json::array(),
                             patch, path);
      if (!list) return list.status();
      return std::optional<json>(std::move(list.value()));
    }
    return std::optional<json>(patch);
  }

  // `$retainKeys: [..]`: the merged map keeps only the listed keys; the patch may only set those.
  Status apply_retain_keys(json& result, const json& patch, const json& keep,
                           const Path& path) const {
    bool valid = keep.is_array() &&
                 std::all_of(keep.begin(), keep.end(), [](const json& k) { return k.is_string(); });
    if (!valid) return bad("$retainKeys at " + path.where() + " must be a list of field names.");
    auto listed = [&keep](const std::string& k) {
      return std::find(keep.begin(), keep.end(), json(k)) != keep.end();
    };
    for (const auto& [key, value] : patch.items()) {
      if (value.is_null() || is_directive_key(key) || listed(key)) continue;
      return bad("the patch sets " + path.field(key).where() + " but $retainKeys at " +
                 path.where() + " does not list \"" + key + "\".");
    }
    for (auto it = result.begin(); it != result.end();) {
      it = listed(it.key()) ? std::next(it) : result.erase(it);
    }
    return Status::ok();
  }

  // Handles `$setElementOrder/<field>`: merges the field's patch list (if any) into the target's
  // and orders the result. Returns the field when it did so, "" when the field is left to the main
  // loop (a list that does not merge, or a null deleting it).
  Result<std::string> order_list(json& result, const json& patch, const std::string& directive,
                                 const json& order, const Path& path) const {
    std::string field = directive.substr(kSetOrderPrefix.size());
    if (field.empty() || !order.is_array()) {
      return bad(directive + " at " + path.where() +
                 " must name a list field and hold the list's items (or merge keys) in order.");
    }
    const Path at = path.field(field);
    const ListRule rule = list_rule(at.fields);
    if (rule.mode == ListMode::kReplace) return std::string();
    auto p = patch.find(field);
    const json* patch_list = p == patch.end() ? nullptr : &*p;
    if (patch_list != nullptr && !patch_list->is_array()) return std::string();
    auto t = result.find(field);
    const json* target_list = t != result.end() && t->is_array() ? &*t : nullptr;
    if (patch_list == nullptr && target_list == nullptr) return field;

    const std::vector<json> order_items = items_of(order);
    if (rule.mode == ListMode::kMergeByKey) {
      for (std::size_t i = 0; i < order_items.size(); ++i) {
        if (identity(order_items[i], rule.key) == nullptr) {
          return bad("item " + std::to_string(i) + " of " + directive + " at " + path.where() +
                     " must be an object with the merge key \"" + rule.key + "\".");
        }
      }
    }
    if (patch_list != nullptr) {
      // The patch list must be a subsequence of the order list (kubectl always sends it so);
      // otherwise the two disagree on the order and the apiserver refuses to guess.
      std::size_t j = 0;
      for (const json& item : *patch_list) {
        if (has_patch_directive(item)) continue;
        const json* id = identity(item, rule.key);
        if (id == nullptr) continue;  // merge_list reports the missing merge key
        while (j < order_items.size() && !(identity(order_items[j], rule.key) != nullptr &&
                                           *identity(order_items[j], rule.key) == *id)) {
          ++j;
        }
        if (j == order_items.size()) {
          return bad("the order of " + at.where() + " in the patch does not match " + directive +
                     " at " + path.where() + ".");
        }
        ++j;
      }
    }

    json merged;
    if (patch_list == nullptr) {
      merged = *target_list;
    } else {
      auto m = merge_list(target_list != nullptr ? *target_list : json::array(), *patch_list, at);
      if (!m) return m.status();
      merged = std::move(m.value());
    }
    auto [named, server_only] = partition(items_of(merged), order_items, rule.key);
    const std::vector<json> server_order =
        target_list != nullptr ? items_of(*target_list) : std::vector<json>();
    result[field] = to_array(normalize_order(std::move(named), std::move(server_only), order_items,
                                             server_order, rule.key));
    return field;
  }

  ListRule list_rule(const Fields& f) const {
    if (!known_ || f.empty()) return {};
    static const Fields kRoot;
    for (const Fields* meta_owner : {&kRoot, pod_template_ ? &*pod_template_ : &kRoot}) {
      Fields meta = *meta_owner;
      meta.push_back("metadata");
      if (extends(f, meta, 1)) {
        if (auto r = find_rule(kObjectMetaLists, f.back())) return *r;
      }
    }
    if (path_is(f, kRoot, {"status", "conditions"})) return {ListMode::kMergeByKey, "type"};
    if (pod_template_) {
      Fields spec = *pod_template_;
      spec.push_back("spec");
      if (extends(f, spec, 1)) {
        if (auto r = find_rule(kPodSpecLists, f.back())) return *r;
      }
      if (extends(f, spec, 2) &&
          std::find(std::begin(kContainerListFields), std::end(kContainerListFields),
                    f[spec.size()]) != std::end(kContainerListFields)) {
        if (auto r = find_rule(kContainerLists, f.back())) return *r;
      }
    }
    if (kind_ == "Service" && path_is(f, kRoot, {"spec", "ports"})) {
      return {ListMode::kMergeByKey, "port"};
    }
    if (kind_ == "Pod" &&
        (path_is(f, kRoot, {"status", "podIPs"}) || path_is(f, kRoot, {"status", "hostIPs"}))) {
      return {ListMode::kMergeByKey, "ip"};
    }
    if (kind_ == "Node") {
      if (path_is(f, kRoot, {"status", "addresses"})) return {ListMode::kMergeByKey, "type"};
      if (path_is(f, kRoot, {"spec", "podCIDRs"})) return {ListMode::kSet, ""};
    }
    return {};
  }

  std::string kind_;
  bool known_ = false;
  // Where the PodTemplateSpec (metadata + spec) sits: {} for a Pod, whose own metadata and spec
  // play that role; unset for kinds without one.
  std::optional<Fields> pod_template_;
};

}  // namespace

Result<json> strategic_merge_patch(const json& target, const json& patch, const std::string& kind) {
  if (!patch.is_object()) {
    return bad("the patch must be a JSON object, not " + std::string(patch.type_name()) + ".");
  }
  if (!target.is_object() && !target.is_null()) {
    return bad("the object being patched must be a JSON object, not " +
               std::string(target.type_name()) + ".");
  }
  auto merged = Merger(kind).merge_map(target, patch, Path{});
  if (!merged) return merged.status();
  // `$patch: delete` at the root empties the object; the caller cannot drop the object itself.
  if (!merged->has_value()) return json::object();
  return std::move(*merged.value());
}

}  // namespace kubesim
