// Structured logging. A Logger tags records with a component name and hands them to a LogSink:
// the plugin's sink forwards to the host's log callback, the CLI's and the tests' sinks print or
// capture. Records are (level, component, message, fields); messages are sentences for humans,
// fields are key/value pairs for machines.
//
// Records carry text from outside (identities from gossip, configuration values, file contents),
// so Logger escapes every record before any sink sees it, the host's log callback included: the
// message, the component and every field key and value go through escape_untrusted
// (common/escape.h: control characters, invalid UTF-8), so no record can span two lines or carry
// a terminal escape sequence; field keys and values are cut at kMaxLogFieldBytes and messages at
// kMaxLogMessageBytes, with a marker saying how much was left out. Sinks therefore receive text
// that is safe to print as is.
//
// Thread-safety: Logger is immutable and may be shared between threads; a LogSink must accept
// concurrent calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace esk8s {

// Longest field key or value a sink receives (escaped); longer ones are cut with a marker.
inline constexpr size_t kMaxLogFieldBytes = 1024;
// Longest message a sink receives (escaped). Larger than a field: a configuration error lists
// every problem in its message.
inline constexpr size_t kMaxLogMessageBytes = 16 * 1024;

enum class LogLevel { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4 };

// "trace", "debug", "info", "warn", "error".
std::string_view to_string(LogLevel level);

// How a record is written as a line: `text` (format_record) or `json` (format_record_json).
enum class LogFormat { kText, kJson };

// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> parse_log_format(std::string_view name);

using LogField = std::pair<std::string, std::string>;

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual bool enabled(LogLevel level) const = 0;
  virtual void write(LogLevel level, std::string_view component, std::string_view message,
                     std::span<const LogField> fields) = 0;
};

// Writes "<time> <level> <component>: <message> key=value ..." lines to stderr, one write per
// record so concurrent records do not interleave.
class StderrSink : public LogSink {
 public:
  explicit StderrSink(LogLevel min_level = LogLevel::kInfo) : min_level_(min_level) {}
  bool enabled(LogLevel level) const override { return level >= min_level_; }
  void write(LogLevel level, std::string_view component, std::string_view message,
             std::span<const LogField> fields) override;

 private:
  LogLevel min_level_;
};

// Formats a record as one line (without time and newline): text is escaped as Logger does (so a
// record handed over without Logger still cannot span lines), and values that are empty or
// contain a space, '"' or '=' are quoted, with '"' and '\' inside the quotes backslash-escaped.
// Used by StderrSink and by hosts that print records.
std::string format_record(LogLevel level, std::string_view component, std::string_view message,
                          std::span<const LogField> fields);

// Formats a record as one JSON object (without newline), for log pipelines:
//   {"time":"2026-12-07T20:42:08.123Z","level":"warn","component":"gossip",
//    "message":"refused peer","fields":{"identity":"esdb-9\\n..."}}
// Fields are strings in a nested object, in order, so no field can replace time, level,
// component or message. Text goes through the same escaping as format_record first
// (escape_untrusted: control characters and invalid UTF-8 become \n, \xNN, \u2028), which leaves
// printable ASCII and well-formed UTF-8 only; JSON string quoting then needs to escape nothing
// but '"' and '\'. So every line is valid JSON in valid UTF-8, whatever the record holds, and a
// JSON reader gets back exactly what the text format shows.
std::string format_record_json(std::chrono::system_clock::time_point time, LogLevel level,
                               std::string_view component, std::string_view message,
                               std::span<const LogField> fields);

// The whole line a sink writes, newline included: the time and format_record (text), or
// format_record_json (json).
std::string format_line(LogFormat format, std::chrono::system_clock::time_point time,
                        LogLevel level, std::string_view component, std::string_view message,
                        std::span<const LogField> fields);

class Logger {
 public:
  Logger(std::shared_ptr<LogSink> sink, std::string component)
      : sink_(std::move(sink)), component_(std::move(component)) {}

  // A logger for a sub-component sharing this logger's sink.
  Logger with_component(std::string component) const { return Logger(sink_, std::move(component)); }

  bool enabled(LogLevel level) const { return sink_ && sink_->enabled(level); }
  void log(LogLevel level, std::string_view message,
           std::initializer_list<LogField> fields = {}) const;
  void log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) const;

  void trace(std::string_view m, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kTrace, m, f);
  }
  void debug(std::string_view m, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kDebug, m, f);
  }
  void info(std::string_view m, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kInfo, m, f);
  }
  void warn(std::string_view m, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kWarn, m, f);
  }
  void error(std::string_view m, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kError, m, f);
  }

 private:
  // Escapes and bounds the record (see the header comment), then hands it to the sink.
  // REQUIRES: enabled(level).
  void write_escaped(LogLevel level, std::string_view message,
                     std::span<const LogField> fields) const;

  std::shared_ptr<LogSink> sink_;
  std::string component_;
};

}  // namespace esk8s
