#include <doctest/doctest.h>

#include <mutex>

#include "common/escape.h"

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
    messages.emplace_back(m);
    fields.emplace_back(f.begin(), f.end());
  }
  std::mutex mu;
  std::vector<std::string> lines;
  // What the sink itself received, before any formatting (what a host's callback gets).
  std::vector<std::string> messages;
  std::vector<std::vector<LogField>> fields;

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

TEST_CASE("logger: a field with a newline cannot start a second record") {
  auto sink = std::make_shared<CaptureSink>(LogLevel::kInfo);
  Logger log(sink, "gossip");
  // What a hostile member would put into its claimed identity.
  const std::string forged = "esdb-9\n2030-01-01T00:00:00.000Z info runtime: member joined\r";
  log.warn("refused peer " + forged, {{"identity", forged}, {"key\nforged", "v"}});
  REQUIRE(sink->lines.size() == 1);
  const std::string& line = sink->lines[0];
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\r') == std::string::npos);
  CHECK(line ==
        "warn gossip: refused peer esdb-9\\n2030-01-01T00:00:00.000Z info runtime: member "
        "joined\\r identity=\"esdb-9\\\\n2030-01-01T00:00:00.000Z info runtime: member "
        "joined\\\\r\" key\\nforged=v");
  // The sink (a host's log callback) gets escaped text too, not only the formatted line.
  CHECK(sink->messages[0].find('\n') == std::string::npos);
  REQUIRE(sink->fields[0].size() == 2);
  CHECK(sink->fields[0][0].second ==
        "esdb-9\\n2030-01-01T00:00:00.000Z info runtime: member joined\\r");
  CHECK(sink->fields[0][1].first == "key\\nforged");
}

TEST_CASE("logger: control characters and invalid UTF-8 become visible escapes") {
  auto sink = std::make_shared<CaptureSink>(LogLevel::kInfo);
  Logger log(sink, "config");
  log.info("bad\x1b[31mred\x7f", {{"value", "tab\there\x01 \xff\xfe caf\xc3\xa9 \xf0\x9f\x98\x80"}});
  REQUIRE(sink->messages.size() == 1);
  CHECK(sink->messages[0] == "bad\\x1b[31mred\\x7f");
  // Valid UTF-8 (é, an emoji) passes; lone and stray bytes are escaped byte by byte.
  CHECK(sink->fields[0][0].second == "tab\\there\\x01 \\xff\\xfe caf\xc3\xa9 \xf0\x9f\x98\x80");

  // Overlong forms, surrogates, truncated sequences, C1 controls and line separators.
  CHECK(escape_untrusted("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(escape_untrusted("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(escape_untrusted("ab\xe2\x82") == "ab\\xe2\\x82");
  CHECK(escape_untrusted("\xc2\x9b" "2J") == "\\u009b2J");
  CHECK(escape_untrusted("a\xe2\x80\xa8" "b") == "a\\u2028b");
  CHECK(escape_untrusted("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
  // Backslashes pass, so escaping twice changes nothing.
  const std::string once = escape_untrusted("a\nb\\c\xff");
  CHECK(escape_untrusted(once) == once);
  CHECK_FALSE(needs_escaping(once));
  CHECK(needs_escaping("\x7f"));
}

TEST_CASE("logger: long field values and keys are cut with a marker, messages at a larger bound") {
  auto sink = std::make_shared<CaptureSink>(LogLevel::kInfo);
  Logger log(sink, "discovery");
  const std::string big(100000, 'v');
  log.info(std::string(100000, 'm'), {{"body", big}, {std::string(5000, 'k'), "x"}});
  REQUIRE(sink->fields.size() == 1);
  const std::string& body = sink->fields[0][0].second;
  CHECK(body.size() <= kMaxLogFieldBytes + 32);
  CHECK(body.starts_with(std::string(kMaxLogFieldBytes, 'v')));
  CHECK(body.ends_with("...(" + std::to_string(100000 - kMaxLogFieldBytes) + " more bytes)"));
  CHECK(sink->fields[0][1].first.size() <= kMaxLogFieldBytes + 32);
  CHECK(sink->messages[0].size() <= kMaxLogMessageBytes + 32);
  CHECK(sink->messages[0].ends_with("more bytes)"));
  // A cut never splits an escape: "\n" is two bytes, and only whole units fit.
  std::string cut = escape_untrusted(std::string(9, 'a') + "\n", 10);
  CHECK(cut == std::string(9, 'a') + "...(1 more bytes)");
}

TEST_CASE("logger: format_record escapes and quotes a record that did not pass through Logger") {
  std::vector<LogField> fields{{"v", "a \"b\" \\ c"}, {"nl", "x\ny"}, {"eq", "k=v"}};
  CHECK(format_record(LogLevel::kInfo, "c", "m\nforged", fields) ==
        "info c: m\\nforged v=\"a \\\"b\\\" \\\\ c\" nl=x\\ny eq=\"k=v\"");
}
