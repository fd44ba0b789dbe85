// LogLines: a LogSink for tests that keeps every record as its text line (format_record), at
// every level, so a test can count what was logged and read a record's fields.
//
// Thread-safety: every method from any thread.
#pragma once

#include <cstddef>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/logger.h"

namespace esk8s::test {

class LogLines : public LogSink {
 public:
  bool enabled(LogLevel) const override { return true; }
  void write(LogLevel level, std::string_view component, std::string_view message,
             std::span<const LogField> fields) override {
    std::lock_guard lock(mu_);
    lines_.push_back(format_record(level, component, message, fields));
  }
  // How many lines contain `part`.
  size_t count(std::string_view part) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& l : lines_) n += l.find(part) != std::string::npos ? 1 : 0;
    return n;
  }
  // The first line that contains `part`, or "".
  std::string line_with(std::string_view part) {
    std::lock_guard lock(mu_);
    for (const auto& l : lines_) {
      if (l.find(part) != std::string::npos) return l;
    }
    return "";
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace esk8s::test
