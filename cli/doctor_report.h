// How `esk8s doctor` shows its findings: a table for people (ANSI colour only when asked, i.e.
// when stdout is a terminal) or a JSON document for tools:
//   {"findings": [{"severity", "check", "object", "message", "why", "fix"[, "command"]}, ...],
//    "summary": {"errors", "warnings", "info", "namespaces", "statefulsets", "exit_code"}}
//
// Thread-safety: pure functions (they write only to the given stream).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/doctor_model.h"

namespace esk8s::cli::doctor {

struct ReportContext {
  std::vector<std::string> namespaces;    // as inspected
  std::vector<std::string> statefulsets;  // "ns/name" of every esk8s StatefulSet found
};

// REQUIRES: findings sorted (sort_findings) when the order matters to the reader.
nlohmann::json render_json(const std::vector<Finding>& findings, const ReportContext& ctx);
void render_table(const std::vector<Finding>& findings, const ReportContext& ctx, bool color,
                  std::ostream& out);

}  // namespace esk8s::cli::doctor
