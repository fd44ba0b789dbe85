#include <doctest/doctest.h>

#include "discovery/static_source.h"

using esk8s::discovery::parse_static_peers;

namespace {
std::string error_of(std::string_view text) {
  auto r = parse_static_peers(text, 2114);
  REQUIRE_FALSE(r.is_ok());
  return r.status().message();
}
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("static peers: IPv4, bracketed IPv6, host names and default ports parse") {
  auto r = parse_static_peers(
      " a.svc.ns.svc.cluster.local=10.0.0.1:7000 , b.svc.ns.svc.cluster.local=[fd00::2]:7001,"
      "c.svc.ns.svc.cluster.local=[::1],d.svc.ns.svc.cluster.local=db-3.example.com",
      2114);
  REQUIRE(r.is_ok());
  REQUIRE(r->size() == 4);
  CHECK(r.value()[0].address == "10.0.0.1");
  CHECK(r.value()[0].gossip_port == 7000);
  CHECK(r.value()[1].address == "fd00::2");
  CHECK(r.value()[1].gossip_port == 7001);
  CHECK(r.value()[2].address == "::1");
  CHECK(r.value()[2].gossip_port == 2114);
  CHECK(r.value()[3].address == "db-3.example.com");
  CHECK(r.value()[3].ready);
}

TEST_CASE("static peers: empty entries are skipped but a list without any entry is refused") {
  auto r = parse_static_peers(" , a.b=10.0.0.1,", 2114);
  REQUIRE(r.is_ok());
  CHECK(r->size() == 1);
  for (const char* text : {",", " , ", " , ,", ""}) {
    CAPTURE(text);
    std::string msg = error_of(text);
    CHECK(contains(msg, "ESK8S_STATIC_PEERS="));
    CHECK(contains(msg, "lists no peer"));
    CHECK(contains(msg, "expected identity=address[:port]"));
  }
}

TEST_CASE("static peers: an entry with control characters is echoed escaped and cut") {
  std::string msg = error_of("a.b\n2024-01-01 error forged=1\x1b[31m");
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.find('\x1b') == std::string::npos);
  CHECK(contains(msg, "a.b\\n2024-01-01 error forged=1\\x1b[31m"));
  std::string longest = error_of("x" + std::string(5000, 'y'));
  CHECK(longest.size() < 600);
  CHECK(contains(longest, "more bytes)"));
}

TEST_CASE("static peers: every malformed entry is refused with the entry named") {
  CHECK(contains(error_of("a.b"), "\"a.b\" has no '='"));
  CHECK(contains(error_of("A.b=10.0.0.1"), "identity that is not a lower-case DNS name"));
  CHECK(contains(error_of("a.b=10.0.0.1,a.b=10.0.0.2"), "repeats an identity"));
  CHECK(contains(error_of("a.b=[fd00::1"), "unclosed '['"));
  CHECK(contains(error_of("a.b=[zz::1]"), "invalid IPv6 address"));
  CHECK(contains(error_of("a.b=[::1]x"), "text after ']'"));
  CHECK(contains(error_of("a.b=[::1]:"), "empty port"));
  CHECK(contains(error_of("a.b=fd00::1"), "without brackets"));
  CHECK(contains(error_of("a.b=10.0.0.1:"), "empty port"));
  CHECK(contains(error_of("a.b=:80"), "has no address"));
  CHECK(contains(error_of("a.b=bad_host"), "neither an IP literal nor a DNS name"));
  CHECK(contains(error_of("a.b=10.0.0.1:0"), "not 1-65535"));
  CHECK(contains(error_of("a.b=10.0.0.1:65536"), "not 1-65535"));
  CHECK(contains(error_of("a.b=10.0.0.1:8x"), "not 1-65535"));
  CHECK(contains(error_of("a.b=10.0.0.1:80"
                          ",x"),
                 "\"x\" has no '='"));
}
