// The two PATCH body formats kubesim's API server accepts besides JSON patch: RFC 7386 JSON merge
// patch (application/merge-patch+json) and Kubernetes strategic merge patch
// (application/strategic-merge-patch+json), the format `kubectl apply` (client-side) and
// `kubectl patch` send for built-in kinds.
//
// Contract: both functions are pure. They never modify their arguments and return a new document;
// the strategic merge result never contains a patch directive ($patch, $retainKeys,
// $setElementOrder/..., $deleteFromPrimitiveList/...). Errors are Status::invalid_argument with a
// sentence naming the offending field path, for the API server to put in its error response.
//
// Strategic merge follows k8s.io/apimachinery's strategicpatch for the fields kubesim models:
// which lists merge (and by which key) depends on the kind and the field's path, e.g.
// `containers` merges by `name` under a StatefulSet's spec.template.spec but a list with the same
// name elsewhere is replaced. Kinds kubesim does not know replace every list, as merge patch does.
//
// Thread-safety: no shared state; safe to call from any thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kubesim {

// RFC 7386 JSON merge patch: objects merge recursively, null deletes a key, anything else (arrays
// included) replaces. A non-object patch replaces the whole target.
nlohmann::json merge_patch(const nlohmann::json& target, const nlohmann::json& patch);

// Strategic merge patch of `target` (an API object) by `patch` for an object of kind `kind`
// ("StatefulSet", "Service", "Pod", "ConfigMap", ...).
//
// Supported: recursive map merge with null deleting a key; lists merged by their Kubernetes merge
// key (PodSpec containers/initContainers/ephemeralContainers/volumes/imagePullSecrets by name,
// hostAliases by ip, container env by name, ports by containerPort, volumeMounts by mountPath,
// volumeDevices by devicePath, Service spec.ports by port, status.conditions by type,
// metadata.ownerReferences by uid, metadata.finalizers as a set of strings); the directives
// $patch (replace/merge/delete, in a map or as a list item), $setElementOrder/<list>,
// $retainKeys and $deleteFromPrimitiveList/<list>. Lists without a merge key are replaced.
//
// Order of a merged list is the apiserver's: items named by the patch (or by its
// $setElementOrder list) take that order; items only on the server keep their relative order and
// stay before a named item they preceded on the server, so ones that trailed on the server stay
// after the named items. An item new to the server goes before the server-only items not yet
// placed: `kubectl patch` adding a container without $setElementOrder puts it first, as the real
// apiserver does.
//
// Errors: a patch that is not an object, a target that is neither an object nor null, a $patch
// value other than replace/merge/delete, a merge-list item without its merge key, a malformed
// directive value, a patch list whose order contradicts its $setElementOrder list, or a patch
// field missing from that map's $retainKeys list.
esk8s::Result<nlohmann::json> strategic_merge_patch(const nlohmann::json& target,
                                                    const nlohmann::json& patch,
                                                    const std::string& kind);

}  // namespace kubesim
