#include <doctest/doctest.h>

#include <mutex>

#include "common/logger.h"

using namespace esk8s;

namespace {
class CaptureSink : public LogSink {
 public:
  explicit CaptureSink(LogLevel min) : min_(min) {}
  bool enabled(LogLevel l) const override { return l >= min_; }
  void write(LogLevel l, std::string_view c, std::string_view m,
             std::span<const LogField> f) override {
    std::lock_guard lock(mu);
    lines.push_back(format_record(l, c, m, f));
  }
  std::mutex mu;
  std::vector<std::string> lines;

 private:
  LogLevel min_;
};
}  // namespace

TEST_CASE("logger: records carry component and fields, values with spaces are quoted") {
  auto sink = std::make_shared<CaptureSink>(LogLevel::kInfo);
  Logger log(sink, "runtime");
  log.info("started", {{"identity", "esdb-0"}, {"reason", "a \"quoted\" value"}, {"empty", ""}});
  log.debug("dropped below the sink's level");
  log.with_component("http").warn("slow");
  REQUIRE(sink->lines.size() == 2);
  CHECK(sink->lines[0] ==
        "info runtime: started identity=esdb-0 reason=\"a \\\"quoted\\\" value\" empty=\"\"");
  CHECK(sink->lines[1] == "warn http: slow");
}

TEST_CASE("logger: a logger without a sink drops everything") {
  Logger log(nullptr, "x");
  CHECK_FALSE(log.enabled(LogLevel::kError));
  log.error("nowhere");
}
