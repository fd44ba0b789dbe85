// The slice of Kubernetes' protobuf encoding kubesim must read: kubectl sends
// SelfSubjectAccessReview and SelfSubjectRulesReview bodies as
// application/vnd.kubernetes.protobuf and does not fall back to JSON. The envelope is the magic
// "k8s\0" followed by a runtime.Unknown {typeMeta{apiVersion, kind}, raw, contentEncoding,
// contentType}; `raw` is the object. Other kinds are reported as unsupported (the API server
// answers 415). Size-limited, never throws.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace kubesim {

// JSON for the object in `body`, or nullopt when it is malformed or of a kind kubesim does not
// decode.
std::optional<nlohmann::json> decode_k8s_protobuf(const std::string& body);

}  // namespace kubesim
