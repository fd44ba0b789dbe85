// Reads the YAML of a kubeconfig into a JSON value with yaml-cpp (Debian's libyaml-cpp), so that
// kube_config.cc interprets the same tree whatever YAML style wrote it: block or flow
// collections, plain, quoted, literal `|` and folded `>` scalars, multi-line scalars, comments,
// anchors, aliases and `<<` merge keys.
//
// Value rules (those of YAML 1.2's core schema that kubeconfigs need, as before with the
// hand-written parser this replaces): plain true/True/TRUE and false/False/FALSE are booleans,
// plain null/Null/NULL/~ and empty values are null, every other scalar is a string (numbers
// stay strings: a kubeconfig has no numeric field). Mapping keys must be scalars and unique.
//
// Bounds, so that no input can exhaust the stack or memory: at most kKubeconfigMaxBytes of
// input, collections nested at most kKubeconfigMaxDepth deep (checked as the parser opens them,
// before yaml-cpp recurses further), and at most kKubeconfigMaxNodes values and
// kKubeconfigMaxScalarBytes of scalar text after aliases are expanded ("billion laughs").
//
// Never throws: yaml-cpp's exceptions (and any other) become Status::config values whose message
// starts with "line L, column C: " when the position is known.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace esk8s::kube {

inline constexpr size_t kKubeconfigMaxBytes = 1024 * 1024;
inline constexpr int kKubeconfigMaxDepth = 64;
inline constexpr size_t kKubeconfigMaxNodes = 200'000;
inline constexpr size_t kKubeconfigMaxScalarBytes = 8 * 1024 * 1024;

// Parses one YAML document. A stream without a document (empty, blank lines, comments) is null;
// more than one document is an error.
Result<nlohmann::json> parse_kubeconfig_yaml(std::string_view text);

}  // namespace esk8s::kube
