// A small YAML parser for the subset of YAML that kubeconfig files use, as written by kubectl,
// cloud CLIs, kind, minikube and by hand. esk8s has no YAML library; this is enough to read a
// kubeconfig and nothing more. Pure function, no I/O, never throws.
//
// Supported:
//   - block mappings (`key: value`) and block sequences (`- item`), including `- key: value`
//     items that start a mapping and sequences indented at the same level as their parent key
//     (kubectl writes `clusters:\n- name: x`);
//   - plain, 'single-quoted' ('' is a quote) and "double-quoted" scalars (escapes \" \\ \/ \n \t
//     \r \b \f \0 \a \v \e, space, \xXX, \uXXXX with surrogate pairs, \UXXXXXXXX), all on one line;
//   - comments: `#` at the start of a line or after whitespace;
//   - empty values (null), `---` at the start (a single document only), `...` at the end;
//   - flow mappings and sequences that open and close on ONE line: `{}`, `[]`, `{a: b, c: d}`,
//     `[a, b]`, nested, with quoted or plain scalars;
//   - literal block scalars `|`, `|-`, `|+`, with an optional indentation digit (`|2`).
// Plain scalars stay strings except true/True/TRUE, false/False/FALSE (booleans) and
// null/Null/NULL/~ (null); numbers stay strings. Mapping keys are strings and must be unique.
//
// Not supported (an error that says so): anchors, aliases and tags (& * !), folded `>` scalars,
// multi-line plain or quoted scalars, multi-line flow collections, complex `?` keys, several
// documents, tab indentation. Limits: input at most kYamlMaxInputBytes, nesting depth at most
// kYamlMaxDepth collections.
//
// Errors are Status::config whose message starts with "line N: " and says what was expected,
// e.g. `line 4: unterminated double-quoted string (quoted strings must end on the same line)`.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace esk8s::discovery {

inline constexpr size_t kYamlMaxInputBytes = 1024 * 1024;
inline constexpr int kYamlMaxDepth = 64;

// Parses one YAML document. An empty document (only blank lines or comments) is null.
Result<nlohmann::json> parse_yaml_subset(std::string_view text);

}  // namespace esk8s::discovery
