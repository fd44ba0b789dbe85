#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

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

namespace {
using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2026-12-07T20:42:08.123Z
const system_clock::time_point kT{milliseconds(1796676128123)};

// A JSON line as a log pipeline reads it: strict (nlohmann rejects control characters in strings
// and ill-formed UTF-8), one object with exactly the five keys.
nlohmann::json parse_line(const std::string& line) {
  INFO(line);
  REQUIRE(line.find('\n') == std::string::npos);
  REQUIRE(line.find('\r') == std::string::npos);
  nlohmann::json j;
  REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
  REQUIRE(j.is_object());
  REQUIRE(j.size() == 5);
  for (const char* key : {"time", "level", "component", "message"}) {
    REQUIRE(j.contains(key));
    REQUIRE(j[key].is_string());
  }
  REQUIRE(j["fields"].is_object());
  return j;
}
}  // namespace

TEST_CASE("logger: a JSON record has time, level, component, message and its fields in order") {
  std::vector<LogField> fields{{"identity", "esdb-0"}, {"empty", ""}, {"time", "not the time"}};
  const std::string line = format_record_json(kT, LogLevel::kWarn, "gossip", "refused", fields);
  CHECK(line ==
        "{\"time\":\"2026-12-07T20:42:08.123Z\",\"level\":\"warn\",\"component\":\"gossip\","
        "\"message\":\"refused\",\"fields\":{\"identity\":\"esdb-0\",\"empty\":\"\","
        "\"time\":\"not the time\"}}");
  // A field named like a top-level key stays a field.
  nlohmann::json j = parse_line(line);
  CHECK(j["time"] == "2026-12-07T20:42:08.123Z");
  CHECK(j["fields"]["time"] == "not the time");
  CHECK(format_record_json(kT, LogLevel::kTrace, "c", "m", {}) ==
        "{\"time\":\"2026-12-07T20:42:08.123Z\",\"level\":\"trace\",\"component\":\"c\","
        "\"message\":\"m\",\"fields\":{}}");
}

TEST_CASE("logger: hostile text in a JSON record stays one valid line, read as text shows it") {
  static constexpr char kControls[] = "nul \0 bell \x07 esc \x1b[31m del \x7f";
  const std::string hostile[] = {
      "line\nforged {\"level\":\"error\"}\r",
      "quote \" and backslash \\ and \\\" escaped quote",
      std::string(kControls, sizeof kControls - 1),
      "invalid \xff\xfe \xc0\xaf \xed\xa0\x80 truncated \xe2\x82",
      "c1 \xc2\x9b" "2J separators \xe2\x80\xa8 \xe2\x80\xa9 fine caf\xc3\xa9 \xf0\x9f\x98\x80",
      "\\u0000 looks like an escape",
      "",
  };
  for (const std::string& h : hostile) {
    std::vector<LogField> fields{{h, h}, {"k", h}};
    nlohmann::json j = parse_line(format_record_json(kT, LogLevel::kError, h, h, fields));
    // Exactly what escape_untrusted (the text format's escaping) makes of it.
    const std::string shown = escape_untrusted(h);
    CHECK(j["component"] == shown);
    CHECK(j["message"] == shown);
    CHECK(j["fields"][shown] == shown);
    CHECK(j["fields"]["k"] == shown);
    CHECK(j["level"] == "error");
  }
}

TEST_CASE("logger: every byte and random byte strings give valid JSON lines") {
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    std::vector<LogField> fields{{one, one}};
    parse_line(format_record_json(kT, LogLevel::kInfo, one, "x" + one + "y", fields));
  }
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 40);
  auto random_text = [&] {
    std::string s(static_cast<size_t>(len(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    return s;
  };
  for (int i = 0; i < 2000; ++i) {
    std::vector<LogField> fields{{random_text(), random_text()}, {"v", random_text()}};
    nlohmann::json j = parse_line(format_record_json(kT, LogLevel::kDebug, random_text(),
                                                     random_text(), fields));
    CHECK(j["fields"].size() >= 1);  // two keys, or one when the random key is "v"
  }
}

TEST_CASE("logger: log formats are text and json, nothing else") {
  CHECK(parse_log_format("text") == LogFormat::kText);
  CHECK(parse_log_format("json") == LogFormat::kJson);
  for (const char* bad : {"", "JSON", " json", "json ", "logfmt", "jsonl"}) {
    CHECK_FALSE(parse_log_format(bad).has_value());
  }
}

TEST_CASE("logger: format_line ends every record with one newline, text with its time first") {
  std::vector<LogField> fields{{"k", "v\nw"}};
  CHECK(format_line(LogFormat::kText, kT, LogLevel::kInfo, "c", "m", fields) ==
        "2026-12-07T20:42:08.123Z info c: m k=v\\nw\n");
  const std::string json = format_line(LogFormat::kJson, kT, LogLevel::kInfo, "c", "m", fields);
  REQUIRE(json.ends_with("}\n"));
  CHECK(json.find('\n') == json.size() - 1);
  CHECK(parse_line(json.substr(0, json.size() - 1))["fields"]["k"] == "v\\nw");
}
