#include "common/logger.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/escape.h"
#include "common/rfc3339.h"

namespace esk8s {

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

namespace {

// After escaping there are no control characters left; what remains to quote is what would make
// "key=value" ambiguous.
bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=') return true;
  }
  return false;
}

// `s`, or its escaped copy in `storage` when it needs one.
std::string_view safe_text(std::string_view s, std::string& storage) {
  if (!needs_escaping(s)) return s;
  storage = escape_untrusted(s);
  return storage;
}

// `escaped` (already through safe_text) in double quotes, '"' and '\' backslash-escaped: a
// quoted text value and a JSON string alike, since escaped text holds no control characters.
void append_quoted(std::string& out, std::string_view escaped) {
  out.push_back('"');
  for (char c : escaped) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_value(std::string& out, std::string_view raw) {
  std::string storage;
  std::string_view v = safe_text(raw, storage);
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  append_quoted(out, v);
}

// `raw` as a JSON string: escaped as format_record escapes it, so only '"' and '\' are left for
// JSON to escape (see format_record_json).
void append_json_string(std::string& out, std::string_view raw) {
  std::string storage;
  append_quoted(out, safe_text(raw, storage));
}

bool within(std::string_view s, size_t max_bytes) {
  return s.size() <= max_bytes && !needs_escaping(s);
}

}  // namespace

std::string format_record(LogLevel level, std::string_view component, std::string_view message,
                          std::span<const LogField> fields) {
  std::string line;
  line.reserve(64 + message.size());
  line.append(to_string(level));
  line.push_back(' ');
  std::string storage;
  line.append(safe_text(component, storage));
  line.append(": ");
  line.append(safe_text(message, storage));
  for (const auto& [k, v] : fields) {
    line.push_back(' ');
    line.append(safe_text(k, storage));
    line.push_back('=');
    append_value(line, v);
  }
  return line;
}

std::string format_record_json(std::chrono::system_clock::time_point time, LogLevel level,
                               std::string_view component, std::string_view message,
                               std::span<const LogField> fields) {
  std::string line;
  line.reserve(96 + message.size());
  line.append("{\"time\":\"").append(format_rfc3339(time)).append("\",\"level\":\"");
  line.append(to_string(level)).append("\",\"component\":");
  append_json_string(line, component);
  line.append(",\"message\":");
  append_json_string(line, message);
  line.append(",\"fields\":{");
  bool first = true;
  for (const auto& [k, v] : fields) {
    if (!first) line.push_back(',');
    first = false;
    append_json_string(line, k);
    line.push_back(':');
    append_json_string(line, v);
  }
  line.append("}}");
  return line;
}

std::string format_line(LogFormat format, std::chrono::system_clock::time_point time,
                        LogLevel level, std::string_view component, std::string_view message,
                        std::span<const LogField> fields) {
  std::string line = format == LogFormat::kJson
                         ? format_record_json(time, level, component, message, fields)
                         : format_rfc3339(time) + " " +
                               format_record(level, component, message, fields);
  line.push_back('\n');
  return line;
}

void StderrSink::write(LogLevel level, std::string_view component, std::string_view message,
                       std::span<const LogField> fields) {
  std::string line =
      format_line(LogFormat::kText, std::chrono::system_clock::now(), level, component, message,
                  fields);
  // One write(2) per record: lines from concurrent threads do not interleave.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

void Logger::write_escaped(LogLevel level, std::string_view message,
                           std::span<const LogField> fields) const {
  bool clean = within(component_, kMaxLogFieldBytes) && within(message, kMaxLogMessageBytes);
  for (const auto& [k, v] : fields) {
    clean = clean && within(k, kMaxLogFieldBytes) && within(v, kMaxLogFieldBytes);
  }
  if (clean) {  // the common case: no copies
    sink_->write(level, component_, message, fields);
    return;
  }
  std::vector<LogField> safe;
  safe.reserve(fields.size());
  for (const auto& [k, v] : fields) {
    safe.emplace_back(escape_untrusted(k, kMaxLogFieldBytes), escape_untrusted(v, kMaxLogFieldBytes));
  }
  sink_->write(level, escape_untrusted(component_, kMaxLogFieldBytes),
               escape_untrusted(message, kMaxLogMessageBytes), safe);
}

void Logger::log(LogLevel level, std::string_view message,
                 std::initializer_list<LogField> fields) const {
  if (!enabled(level)) return;
  write_escaped(level, message, std::span<const LogField>(fields.begin(), fields.size()));
}

void Logger::log(LogLevel level, std::string_view message,
                 const std::vector<LogField>& fields) const {
  if (!enabled(level)) return;
  write_escaped(level, message, fields);
}

}  // namespace esk8s
