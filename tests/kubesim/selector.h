// Label and field selectors as the Kubernetes API server parses and applies them: the
// `labelSelector` / `fieldSelector` query parameters, and the metav1.LabelSelector /
// map selectors inside objects (StatefulSet, Service, PodDisruptionBudget).
//
// Pure values; thread-safe to share once built.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kubesim {

struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // Everything matches an empty selector.
  LabelSelector() = default;

  // Query syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k` (`==` is `=`). Errors name the
  // offending text.
  static esk8s::Result<LabelSelector> parse(std::string_view text);
  // metav1.LabelSelector JSON:
  // {"matchLabels":{...},"matchExpressions":[{"key","operator","values"}]}. A null/absent selector
  // matches nothing when `null_matches_nothing` (StatefulSet semantics) — callers decide; this
  // returns an empty (match-all) selector for null.
  static esk8s::Result<LabelSelector> from_label_selector(const nlohmann::json& selector);
  // A plain map selector (Service spec.selector): every pair must match.
  static LabelSelector from_map(const nlohmann::json& map);

  bool empty() const { return requirements_.empty(); }
  // `labels` is a metadata.labels object (or null).
  bool matches(const nlohmann::json& labels) const;

  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<LabelRequirement> requirements_;
};

// `metadata.name=x,metadata.namespace!=y,status.phase=Running`. Fields are dotted paths into the
// object; which fields a resource supports is decided by the caller (the API server answers 400
// for unsupported ones).
class FieldSelector {
 public:
  struct Term {
    std::string field;
    bool equals = true;
    std::string value;
  };

  static esk8s::Result<FieldSelector> parse(std::string_view text);
  bool matches(const nlohmann::json& object) const;
  const std::vector<Term>& terms() const { return terms_; }

 private:
  std::vector<Term> terms_;
};

// Label keys and values as Kubernetes validates them.
bool is_valid_label_key(std::string_view key);
bool is_valid_label_value(std::string_view value);

}  // namespace kubesim
