#include "plugin/metrics.h"

#include <cmath>
#include <cstdio>

namespace esk8s::plugin {

namespace {

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

std::string render_prometheus(const std::vector<Metric>& metrics) {
  std::string out;
  std::string last;
  for (const auto& m : metrics) {
    if (m.name != last) {
      out += "# HELP " + m.name + " " + m.help + "\n# TYPE " + m.name + " " + m.type + "\n";
      last = m.name;
    }
    out += m.name;
    if (!m.labels.empty()) {
      out += "{";
      for (size_t i = 0; i < m.labels.size(); ++i) {
        out += (i ? "," : "") + m.labels[i].first + "=\"" + escape(m.labels[i].second) + "\"";
      }
      out += "}";
    }
    out += " " + number(m.value) + "\n";
  }
  return out;
}

}  // namespace esk8s::plugin
