#include "cli/doctor_report.h"

#include <algorithm>

#include "cli/doctor_checks.h"

namespace esk8s::cli::doctor {

using nlohmann::json;

namespace {

struct Counts {
  size_t errors = 0, warnings = 0, info = 0;
};

Counts count(const std::vector<Finding>& findings) {
  Counts c;
  for (const Finding& f : findings) {
    (f.severity == Severity::kError     ? c.errors
     : f.severity == Severity::kWarning ? c.warnings
                                        : c.info)++;
  }
  return c;
}

std::string plural(size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// ANSI SGR codes: bold red, yellow, cyan.
const char* colour_of(Severity s) {
  switch (s) {
    case Severity::kError:
      return "\033[1;31m";
    case Severity::kWarning:
      return "\033[33m";
    case Severity::kInfo:
      return "\033[36m";
  }
  return "";
}

std::string padded(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

}  // namespace

json render_json(const std::vector<Finding>& findings, const ReportContext& ctx) {
  json list = json::array();
  for (const Finding& f : findings) {
    json item = {{"severity", severity_name(f.severity)},
                 {"check", f.check},
                 {"object", f.object},
                 {"message", f.message},
                 {"why", f.why},
                 {"fix", f.fix}};
    if (!f.command.empty()) item["command"] = f.command;
    list.push_back(std::move(item));
  }
  Counts c = count(findings);
  return {{"findings", list},
          {"summary",
           {{"errors", c.errors},
            {"warnings", c.warnings},
            {"info", c.info},
            {"namespaces", ctx.namespaces},
            {"statefulsets", ctx.statefulsets},
            {"exit_code", exit_code(findings)}}}};
}

void render_table(const std::vector<Finding>& findings, const ReportContext& ctx, bool color,
                  std::ostream& out) {
  size_t check_width = 5;
  for (const Finding& f : findings) check_width = std::max(check_width, f.check.size());
  check_width += 2;
  if (findings.empty()) {
    out << "no findings\n";
  } else {
    out << padded("SEVERITY", 9) << padded("CHECK", check_width) << "OBJECT\n";
  }
  for (const Finding& f : findings) {
    std::string sev = padded(upper(severity_name(f.severity)), 9);
    if (color) sev = std::string(colour_of(f.severity)) + sev + "\033[0m";
    out << sev << padded(f.check, check_width) << f.object << "\n"
        << "         " << f.message << "\n"
        << "         why: " << f.why << "\n"
        << "         fix: " << f.fix << "\n";
    if (!f.command.empty()) out << "         run: " << f.command << "\n";
  }
  Counts c = count(findings);
  std::string where;
  for (const std::string& s : ctx.statefulsets) where += (where.empty() ? "" : ", ") + s;
  std::string namespaces;
  for (const std::string& n : ctx.namespaces) namespaces += (namespaces.empty() ? "" : ", ") + n;
  out << (findings.empty() ? "" : "\n") << plural(c.errors, "error") << ", "
      << plural(c.warnings, "warning") << ", " << c.info << " info in namespace"
      << (ctx.namespaces.size() == 1 ? " " : "s ") << namespaces
      << (where.empty() ? ""
                        : " (StatefulSet" + std::string(ctx.statefulsets.size() == 1 ? " " : "s ") +
                              where + ")")
      << "\n";
}

}  // namespace esk8s::cli::doctor
