// parse_yaml_subset: the YAML that kubeconfig files use, and line-numbered errors (never
// exceptions) for everything else.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "discovery/yaml_subset.h"

using esk8s::discovery::parse_yaml_subset;
using nlohmann::json;

namespace {

json parse_ok(std::string_view text) {
  auto r = parse_yaml_subset(text);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return r.value();
}

std::string error_of(std::string_view text) {
  esk8s::Result<json> r = json();
  CHECK_NOTHROW(r = parse_yaml_subset(text));
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == esk8s::Status::Code::kConfig);
  return r.status().message();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("yaml: a kubeconfig as kubectl writes it (sequences at the parent's indentation)") {
  const char* text = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdA==
    server: https://127.0.0.1:6443
  name: kind-kind
contexts:
- context:
    cluster: kind-kind
    namespace: prod
    user: kind-kind
  name: kind-kind
current-context: kind-kind
kind: Config
preferences: {}
users:
- name: kind-kind
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
)";
  json j = parse_ok(text);
  CHECK(j["apiVersion"] == "v1");
  CHECK(j["kind"] == "Config");
  CHECK(j["current-context"] == "kind-kind");
  CHECK(j["preferences"] == json::object());
  REQUIRE(j["clusters"].is_array());
  REQUIRE(j["clusters"].size() == 1);
  CHECK(j["clusters"][0]["name"] == "kind-kind");
  CHECK(j["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443");
  CHECK(j["clusters"][0]["cluster"]["certificate-authority-data"] == "TFMwdA==");
  CHECK(j["contexts"][0]["context"]["namespace"] == "prod");
  CHECK(j["users"][0]["user"]["client-key-data"] == "a2V5");
}

TEST_CASE("yaml: indented sequences, nested sequences and mappings inside sequence items") {
  json j = parse_ok(R"(
top:
  list:
    - a
    - b: 1
      c: 2
    -
      d: 3
    - - x
      - y
    -
  after: z
)");
  const json& list = j["top"]["list"];
  REQUIRE(list.size() == 5);
  CHECK(list[0] == "a");
  CHECK(list[1] == json({{"b", "1"}, {"c", "2"}}));
  CHECK(list[2] == json({{"d", "3"}}));
  CHECK(list[3] == json::array({"x", "y"}));
  CHECK(list[4].is_null());
  CHECK(j["top"]["after"] == "z");
}

TEST_CASE("yaml: scalars stay strings except booleans and nulls, empty values are null") {
  json j = parse_ok(R"(
port: 6443
ratio: 1.5
octal: 0755
t: true
f: false
T: True
n: null
tilde: ~
empty:
quoted_true: "true"
quoted_null: 'null'
url: https://[::1]:6443/path?x=y
windows: C:\temp\x
hash: a#b
spaces: several words here
)");
  CHECK(j["port"] == "6443");
  CHECK(j["ratio"] == "1.5");
  CHECK(j["octal"] == "0755");
  CHECK(j["t"] == true);
  CHECK(j["f"] == false);
  CHECK(j["T"] == true);
  CHECK(j["n"].is_null());
  CHECK(j["tilde"].is_null());
  CHECK(j["empty"].is_null());
  CHECK(j["quoted_true"] == "true");
  CHECK(j["quoted_null"] == "null");
  CHECK(j["url"] == "https://[::1]:6443/path?x=y");
  CHECK(j["windows"] == "C:\\temp\\x");
  CHECK(j["hash"] == "a#b");
  CHECK(j["spaces"] == "several words here");
}

TEST_CASE("yaml: single- and double-quoted scalars with escapes") {
  json j = parse_ok(R"(
single: 'it''s # not a comment'
double: "say \"hi\"\\ # still text"
escapes: "a\tb\nc\/d"
unicode: "caf\u00e9 \u20ac \U0001F600 \ud83d\ude00"
hex: "\x41"
"quoted key": v
'single key': w
empty_single: ''
empty_double: ""
colon: "a: b"
)");
  CHECK(j["single"] == "it's # not a comment");
  CHECK(j["double"] == "say \"hi\"\\ # still text");
  CHECK(j["escapes"] == "a\tb\nc/d");
  CHECK(j["unicode"] == "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF0\x9F\x98\x80");
  CHECK(j["hex"] == "A");
  CHECK(j["quoted key"] == "v");
  CHECK(j["single key"] == "w");
  CHECK(j["empty_single"] == "");
  CHECK(j["empty_double"] == "");
  CHECK(j["colon"] == "a: b");
}

TEST_CASE("yaml: comments at line start, after values and after keys") {
  json j = parse_ok(R"(# leading comment
  # indented comment
a: 1 # trailing
b: # comment after an empty value
  c: "x" # after a quoted value
	# a comment indented with a tab is still a comment
d:
  - e # in a sequence
  # between items
  - f
)");
  CHECK(j["a"] == "1");
  CHECK(j["b"] == json({{"c", "x"}}));
  CHECK(j["d"] == json::array({"e", "f"}));
}

TEST_CASE("yaml: one-line flow mappings and sequences") {
  json j = parse_ok(R"(
empty_map: {}
empty_seq: []
map: {a: b, c: d}
seq: [a, b]
nested: {list: [1, 2, {x: y}], "q": 'r', n: null, t: true}
json_style: {"k":"v", "n": [ ]}
trailing: [a, b, ]
novalue: {a, b: }
spaced: [ several words , "x, y" ]
url: [https://a:6443]
with_comment: [a, b] # comment
)");
  CHECK(j["empty_map"] == json::object());
  CHECK(j["empty_seq"] == json::array());
  CHECK(j["map"] == json({{"a", "b"}, {"c", "d"}}));
  CHECK(j["seq"] == json::array({"a", "b"}));
  CHECK(j["nested"]["list"] == json::parse(R"(["1", "2", {"x": "y"}])"));
  CHECK(j["nested"]["q"] == "r");
  CHECK(j["nested"]["n"].is_null());
  CHECK(j["nested"]["t"] == true);
  CHECK(j["json_style"] == json::parse(R"({"k": "v", "n": []})"));
  CHECK(j["trailing"] == json::array({"a", "b"}));
  CHECK(j["novalue"] == json::parse(R"({"a": null, "b": null})"));
  CHECK(j["spaced"] == json::array({"several words", "x, y"}));
  CHECK(j["url"] == json::array({"https://a:6443"}));
  CHECK(j["with_comment"] == json::array({"a", "b"}));
  CHECK(parse_ok("[a, [b, [c]]]") == json::parse(R"(["a", ["b", ["c"]]])"));
  CHECK(parse_ok("- {a: b}\n- []\n") == json::parse(R"([{"a": "b"}, []])"));
}

TEST_CASE("yaml: literal block scalars keep lines, relative indentation and '#'") {
  json j = parse_ok(R"(
cert: |
  -----BEGIN CERTIFICATE-----
  MIIB # not a comment
    indented

  -----END CERTIFICATE-----
strip: |-
  no trailing newline


keep: |+
  kept

explicit: |2
    two extra spaces
empty: |
next: after
list:
- |
  in a sequence
- key: |-
    in a mapping in a sequence
  other: x
)");
  CHECK(j["cert"] ==
        "-----BEGIN CERTIFICATE-----\nMIIB # not a comment\n  indented\n\n"
        "-----END CERTIFICATE-----\n");
  CHECK(j["strip"] == "no trailing newline");
  CHECK(j["keep"] == "kept\n\n");
  CHECK(j["explicit"] == "  two extra spaces\n");
  CHECK(j["empty"] == "");
  CHECK(j["next"] == "after");
  CHECK(j["list"][0] == "in a sequence\n");
  CHECK(j["list"][1]["key"] == "in a mapping in a sequence");
  CHECK(j["list"][1]["other"] == "x");
}

TEST_CASE("yaml: document markers, CRLF line endings, BOM and empty documents") {
  CHECK(parse_ok("---\na: b\n...\n") == json({{"a", "b"}}));
  CHECK(parse_ok("%YAML 1.2\n--- # start\na: b\n") == json({{"a", "b"}}));
  CHECK(parse_ok("a: b\r\nc:\r\n- d\r\n") == json::parse(R"({"a": "b", "c": ["d"]})"));
  CHECK(parse_ok("\xEF\xBB\xBF"
                 "a: b\n") == json({{"a", "b"}}));
  CHECK(parse_ok("").is_null());
  CHECK(parse_ok("# only a comment\n\n---\n").is_null());
  CHECK(parse_ok("just a scalar") == "just a scalar");
  CHECK(parse_ok("  a: 1\n  b: 2\n") == json({{"a", "1"}, {"b", "2"}}));
}

TEST_CASE("yaml: bad indentation is a line-numbered error") {
  std::string e = error_of("a:\n  b: 1\n   c: 2\n");
  CHECK(contains(e, "line 3:"));
  CHECK(contains(e, "bad indentation"));

  e = error_of("a:\n    b: 1\n  c: 2\n");
  CHECK(contains(e, "line 3:"));

  e = error_of("a:\n  - x\n  b: y\n");
  CHECK(contains(e, "line 3:"));

  e = error_of("a: 1\n  b: 2\n");
  CHECK(contains(e, "line 2:"));

  e = error_of("a:\n  b: 1\n c: 2\n");
  CHECK(contains(e, "line 3:"));

  e = error_of("a: 1\n- b\n");
  CHECK(contains(e, "line 2:"));
  CHECK(contains(e, "sequence entry"));

  e = error_of("- a\nb: c\n");
  CHECK(contains(e, "line 2:"));

  e = error_of("a: 1\njust text\n");
  CHECK(contains(e, "line 2:"));
  CHECK(contains(e, "expected 'key: value'"));
}

TEST_CASE("yaml: unterminated quotes and flow collections are line-numbered errors") {
  std::string e = error_of("a: b\nc: \"unterminated\nd: e\n");
  CHECK(contains(e, "line 2:"));
  CHECK(contains(e, "unterminated double-quoted string"));

  e = error_of("a: 'open\n");
  CHECK(contains(e, "line 1:"));
  CHECK(contains(e, "unterminated single-quoted string"));

  e = error_of("x: 1\n\"key: v\n");
  CHECK(contains(e, "line 2:"));

  e = error_of("a: [b, c\n  , d]\n");
  CHECK(contains(e, "line 1:"));
  CHECK(contains(e, "unterminated flow sequence"));

  e = error_of("a: {b: c\n");
  CHECK(contains(e, "unterminated flow mapping"));

  e = error_of("a: [b, # c]\n");
  CHECK(contains(e, "unterminated flow sequence"));

  e = error_of("a: [b c] d\n");
  CHECK(contains(e, "line 1:"));
  CHECK(contains(e, "unexpected text"));

  e = error_of("a: [b, [c: d]]\n");
  CHECK(contains(e, "unexpected ':'"));

  e = error_of("a: \"x\" y\n");
  CHECK(contains(e, "after the closing quote"));

  e = error_of("a: \"bad \\q escape\"\n");
  CHECK(contains(e, "unknown escape"));

  e = error_of("a: \"\\u12\"\n");
  CHECK(contains(e, "hex digits"));

  e = error_of("a: \"\\ud800\"\n");
  CHECK(contains(e, "surrogate"));
}

TEST_CASE("yaml: tab indentation is a line-numbered error") {
  std::string e = error_of("a:\n\tb: c\n");
  CHECK(contains(e, "line 2:"));
  CHECK(contains(e, "tab"));

  e = error_of("a:\n  b: c\n  d:\n\t  e: f\n");
  CHECK(contains(e, "line 4:"));

  e = error_of("a:\n  - x\n \t- y\n");
  CHECK(contains(e, "line 3:"));
}

TEST_CASE("yaml: unsupported features are named") {
  CHECK(contains(error_of("a: &anchor x\n"), "anchors"));
  CHECK(contains(error_of("a: *alias\n"), "aliases"));
  CHECK(contains(error_of("a: !!str x\n"), "tags"));
  CHECK(contains(error_of("a: >\n  folded\n"), "folded"));
  CHECK(contains(error_of("? complex\n: key\n"), "complex mapping keys"));
  CHECK(contains(error_of("a: b\n---\nc: d\n"), "line 2: a second document"));
  CHECK(contains(error_of("a: b\n...\nc: d\n"), "line 3:"));
  CHECK(contains(error_of("a: - b\n"), "sequence cannot start on the same line"));
  CHECK(contains(error_of("a: b: c\n"), "line 1: unexpected ': '"));
  CHECK(contains(error_of("a: |x\n  b\n"), "block scalar indicator"));
  CHECK(contains(error_of("a: 1\na: 2\n"), "line 2: duplicate key \"a\""));
  CHECK(contains(error_of("a: {b: 1, b: 2}\n"), "duplicate key"));
  CHECK(contains(error_of("--- a: b\n"), "after '---'"));
  CHECK(contains(error_of(": v\n"), "empty mapping key"));
  CHECK(contains(error_of("%TAG ! tag:x\n---\na: b\n"), "directives"));
}

TEST_CASE("yaml: size and depth limits") {
  std::string big(esk8s::discovery::kYamlMaxInputBytes + 1, '#');
  CHECK(contains(error_of(big), "limit"));

  std::string deep_flow = "a: " + std::string(100, '[') + std::string(100, ']') + "\n";
  CHECK(contains(error_of(deep_flow), "nesting deeper than 64"));

  std::string deep_block;
  for (int i = 0; i < 100; ++i) deep_block += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  CHECK(contains(error_of(deep_block), "nesting deeper than 64"));

  std::string deep_seq;
  for (int i = 0; i < 100; ++i) deep_seq += "- ";
  deep_seq += "x\n";
  CHECK(contains(error_of(deep_seq), "nesting deeper than 64"));

  // 64 levels are fine.
  std::string ok_flow = std::string(63, '[') + std::string(63, ']');
  CHECK(parse_yaml_subset("a: " + ok_flow).is_ok());
}

TEST_CASE("yaml: mangled input never throws or crashes") {
  const std::string base = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: "TFMw\u0041dA=="
    server: 'https://[::1]:6443'
  name: a
users:
- name: u
  user: {token: abc, list: [1, 2, {x: y}]}
cert: |-
  line one
    line two
)";
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return (state >> 8) & 0xFFFF;
  };
  const std::string alphabet = " \t\n:-#'\"[]{},|>&*!?\\ux0aZ";
  int ok = 0;
  int failed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = next() % s.size();
      switch (next() % 3) {
        case 0:
          s[pos] = alphabet[next() % alphabet.size()];
          break;
        case 1:
          s.insert(pos, 1, alphabet[next() % alphabet.size()]);
          break;
        default:
          s.erase(pos, 1 + next() % 3);
          break;
      }
      if (s.empty()) s = "x";
    }
    esk8s::Result<json> r = json();
    REQUIRE_NOTHROW(r = parse_yaml_subset(s));
    if (r.is_ok()) {
      ++ok;
    } else {
      ++failed;
      CHECK(r.status().message().rfind("line ", 0) == 0);
    }
  }
  CHECK(ok > 0);
  CHECK(failed > 0);
}
