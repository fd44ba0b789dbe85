// common/text.h: the one trim, percent-encoding and IP literal check every module uses.
#include <doctest/doctest.h>

#include <string>

#include "common/escape.h"
#include "common/text.h"

using esk8s::is_ipv4;
using esk8s::is_ipv6;
using esk8s::percent_encode;
using esk8s::trim;
using esk8s::truncate_for_log;

TEST_CASE("text: trim removes ASCII whitespace at both ends only") {
  CHECK(trim("") == "");
  CHECK(trim(" \t\r\n\v\f") == "");
  CHECK(trim("  a b\t") == "a b");
  CHECK(trim("token\n") == "token");
  CHECK(trim("\r\n{\"a\":1}\r\n") == "{\"a\":1}");
  CHECK(trim("x") == "x");
  // Not whitespace: NUL and non-ASCII bytes stay.
  CHECK(trim(std::string("\0a\0", 3)) == std::string("\0a\0", 3));
  CHECK(trim("\xc2\xa0x\xc2\xa0") == "\xc2\xa0x\xc2\xa0");
}

TEST_CASE("text: percent_encode keeps unreserved characters and encodes every other byte") {
  CHECK(percent_encode("") == "");
  CHECK(percent_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(percent_encode("kubernetes.io/service-name=esdb") ==
        "kubernetes.io%2Fservice-name%3Desdb");
  CHECK(percent_encode("a b&c%d+e?f#g") == "a%20b%26c%25d%2Be%3Ff%23g");
  CHECK(percent_encode(std::string("\0\xff", 2)) == "%00%FF");
  CHECK(percent_encode("é") == "%C3%A9");
}

TEST_CASE("text: IPv4 and IPv6 literals as inet_pton reads them") {
  CHECK(is_ipv4("10.0.0.1"));
  CHECK(is_ipv4("255.255.255.255"));
  CHECK_FALSE(is_ipv4("256.0.0.1"));
  CHECK_FALSE(is_ipv4("10.0.0"));
  CHECK_FALSE(is_ipv4("10.0.0.1/8"));
  CHECK_FALSE(is_ipv4("fd00::1"));
  CHECK_FALSE(is_ipv4(""));
  CHECK_FALSE(is_ipv4(std::string("10.0.0.1\0x", 10)));
  CHECK(is_ipv6("fd00::1"));
  CHECK(is_ipv6("::"));
  CHECK(is_ipv6("::ffff:10.0.0.1"));
  CHECK_FALSE(is_ipv6("[fd00::1]"));
  CHECK_FALSE(is_ipv6("fd00::1%eth0"));
  CHECK_FALSE(is_ipv6("10.0.0.1"));
  CHECK_FALSE(is_ipv6("esdb-0"));
  CHECK_FALSE(is_ipv6(std::string("::1\0", 4)));
}

TEST_CASE("escape: truncate_for_log cuts by input bytes and escapes as escape_untrusted") {
  CHECK(truncate_for_log("short") == "short");
  CHECK(truncate_for_log(std::string(300, 'a')) == std::string(200, 'a') + "...");
  CHECK(truncate_for_log("abcdef", 3) == "abc...");
  CHECK(truncate_for_log("a\nb\x01", 10) == "a\\nb\\x01");
  // C1 controls and line separators are escaped like every other control character.
  CHECK(truncate_for_log("\xc2\x9b[2J\xe2\x80\xa8") == "\\u009b[2J\\u2028");
  // The cut depends on the first `max` bytes alone: a lead byte announcing a sequence that would
  // cross `max` ends the quote whatever follows it.
  CHECK(truncate_for_log("ab\xe2\x82\xac", 3) == "ab...");
  CHECK(truncate_for_log("ab\xe2zz", 3) == "ab...");
  std::string ten_escaped;
  for (int i = 0; i < 10; ++i) ten_escaped += "\\x01";
  CHECK(truncate_for_log(std::string(100, '\x01'), 10) == ten_escaped + "...");
  // "é" is two bytes: a cut in its middle backs off to before it.
  CHECK(truncate_for_log("ab\xc3\xa9z", 3) == "ab...");
  CHECK(truncate_for_log("", 0).empty());
  // Bytes that are not UTF-8 are escaped, so the result is safe for any log sink.
  CHECK(truncate_for_log("a\xff\xc3(\xed\xa0\x80") == "a\\xff\\xc3(\\xed\\xa0\\x80");
  CHECK(truncate_for_log("\xe2\x82\xac\xf0\x9f\x98\x80") == "\xe2\x82\xac\xf0\x9f\x98\x80");
  CHECK(truncate_for_log("\xe2\x82", 5) == "\\xe2\\x82");  // a cut-off sequence at the very end
}
