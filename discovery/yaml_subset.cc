#include "discovery/yaml_subset.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace esk8s::discovery {

namespace {

using nlohmann::json;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool is_flow_indicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

Status error_at(int line, const std::string& what) {
  return Status::config("line " + std::to_string(line) + ": " + what);
}

// A short, printable excerpt of `s` for error messages.
std::string show(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

std::string column(int indent) { return "column " + std::to_string(indent + 1); }

// `- ` or a lone `-`: a block sequence entry.
bool is_seq_entry(std::string_view text) {
  return !text.empty() && text[0] == '-' && (text.size() == 1 || is_blank(text[1]));
}

// "---" or "..." alone or followed by whitespace.
bool is_marker(std::string_view text, std::string_view marker) {
  return text.substr(0, 3) == marker && (text.size() == 3 || is_blank(text[3]));
}

// The plain scalar `s` as a JSON value: booleans and nulls per the YAML core schema, everything
// else (numbers included) a string.
json resolve_plain(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "null" || s == "Null" || s == "NULL" || s == "~") return nullptr;
  return std::string(s);
}

// Rejects plain scalars that start with a character YAML reserves for features this subset
// does not have.
Status check_plain_start(std::string_view s, int line) {
  char c = s.front();
  if (c == '&' || c == '*' || c == '!') {
    return error_at(line, "anchors, aliases and tags ('&', '*', '!') are not supported; found " +
                              show(s) + " (quote the value if it is a string)");
  }
  if (c == '%' || c == '@' || c == '`' || c == '|' || c == '>' || c == ',' || c == ']' ||
      c == '}' || c == '#') {
    return error_at(line, std::string("a plain value cannot start with '") + c + "'; found " +
                              show(s) + " (quote the value)");
  }
  return Status::ok();
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool parse_hex(std::string_view s, uint32_t& out) {
  out = 0;
  for (char c : s) {
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    out = out * 16 + d;
  }
  return true;
}

// Reads a numeric escape of `digits` hex digits at text[i] (just past the escape letter).
Status read_hex_escape(std::string_view text, size_t& i, size_t digits, char letter, int line,
                       uint32_t& cp) {
  if (text.size() - i < digits || !parse_hex(text.substr(i, digits), cp)) {
    return error_at(line, std::string("escape \\") + letter + " needs " + std::to_string(digits) +
                              " hex digits");
  }
  i += digits;
  return Status::ok();
}

// Parses the quoted scalar that starts at text[pos] (a ' or "). On success `pos` is just past the
// closing quote.
Status parse_quoted(std::string_view text, size_t& pos, int line, std::string& out) {
  const char quote = text[pos];
  size_t i = pos + 1;
  out.clear();
  if (quote == '\'') {
    while (i < text.size()) {
      if (text[i] == '\'') {
        if (i + 1 < text.size() && text[i + 1] == '\'') {
          out += '\'';
          i += 2;
          continue;
        }
        pos = i + 1;
        return Status::ok();
      }
      out += text[i++];
    }
    return error_at(line,
                    "unterminated single-quoted string (quoted strings must end on the same line)");
  }
  while (i < text.size()) {
    char c = text[i];
    if (c == '"') {
      pos = i + 1;
      return Status::ok();
    }
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) break;
    char e = text[i + 1];
    i += 2;
    switch (e) {
      case '"':
      case '\\':
      case '/':
      case ' ':
        out += e;
        break;
      case '\t':
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case '0':
        out += '\0';
        break;
      case 'a':
        out += '\a';
        break;
      case 'v':
        out += '\v';
        break;
      case 'e':
        out += '\x1b';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        if (auto s = read_hex_escape(text, i, digits, e, line, cp); !s) return s;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A UTF-16 high surrogate must be followed by \u and a low surrogate.
          uint32_t low = 0;
          if (text.substr(i, 2) != "\\u") {
            return error_at(line, "escape \\u" + std::string(text.substr(i - 4, 4)) +
                                      " is a lone UTF-16 surrogate");
          }
          i += 2;
          if (auto s = read_hex_escape(text, i, 4, 'u', line, low); !s) return s;
          if (low < 0xDC00 || low > 0xDFFF) {
            return error_at(line, "escape \\u" + std::string(text.substr(i - 10, 4)) +
                                      " is not followed by a low surrogate");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp > 0x10FFFF) {
          return error_at(line, std::string("escape \\") + e + " names an invalid code point");
        }
        append_utf8(out, cp);
        break;
      }
      default:
        return error_at(line, std::string("unknown escape '\\") + e +
                                  "' in a double-quoted string (supported: \\\" \\\\ \\/ \\n "
                                  "\\t \\r \\b \\f \\0 \\a \\v \\e \\xXX \\uXXXX \\UXXXXXXXX)");
    }
  }
  return error_at(line,
                  "unterminated double-quoted string (quoted strings must end on the same line)");
}

// After a complete value: only whitespace and a comment may follow.
Status expect_line_end(std::string_view text, size_t pos, int line, const std::string& where) {
  std::string_view rest = text.substr(pos);
  std::string_view t = trim_left(rest);
  if (t.empty() || (t[0] == '#' && t.size() < rest.size())) return Status::ok();
  return error_at(line, "unexpected text " + show(t) + " " + where);
}

// One significant line: `text` starts at `indent` (or, for the content after `- `, at the column
// of that content) and has trailing whitespace removed; comments are still in it.
struct Line {
  int number = 0;
  int indent = 0;
  std::string_view text;
};

struct KeyLine {
  bool is_key = false;
  std::string key;
  std::string_view rest;  // what follows `key:`, left-trimmed
};

class Parser {
 public:
  explicit Parser(std::string_view text) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      std::string_view l =
          text.substr(start, nl == std::string_view::npos ? text.npos : nl - start);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      raw_.push_back(l);
      if (nl == std::string_view::npos) break;
      start = nl + 1;
    }
  }

  Status parse_document(json& out) {
    if (auto s = load(); !s) return s;
    if (!cur_) {
      out = nullptr;
      return Status::ok();
    }
    if (auto s = parse_block(-1, 0, out); !s) return s;
    if (auto s = load(); !s) return s;
    if (cur_) {
      return error_at(cur_->number,
                      "unexpected content at " + column(cur_->indent) +
                          ": it does not line up with any open mapping or sequence (check the "
                          "indentation)");
    }
    return Status::ok();
  }

 private:
  // Makes cur_ the next significant line unless it is already set; leaves it empty at the end.
  Status load() {
    while (!cur_ && next_ < raw_.size()) {
      const int number = static_cast<int>(next_) + 1;
      std::string_view body = trim_right(raw_[next_++]);
      size_t sp = body.find_first_not_of(' ');
      if (sp == std::string_view::npos) continue;
      std::string_view text = body.substr(sp);
      if (text[0] == '#') continue;
      if (text[0] == '\t') {
        if (trim_left(text)[0] == '#') continue;
        return error_at(number,
                        "tab character in the indentation; YAML indentation must use spaces");
      }
      if (sp == 0 && is_marker(text, "---")) {
        if (started_) {
          return error_at(number,
                          "a second document ('---') is not supported; expected a single YAML "
                          "document");
        }
        started_ = true;
        if (auto s = expect_line_end(text, 3, number,
                                     "after '---' (start the content on the next line)");
            !s) {
          return s;
        }
        continue;
      }
      if (sp == 0 && is_marker(text, "...")) {
        ended_ = true;
        continue;
      }
      if (sp == 0 && text[0] == '%') {
        if (!started_ && text.substr(0, 5) == "%YAML") continue;
        return error_at(number,
                        "YAML directives other than %YAML (before '---') are not supported");
      }
      if (ended_) {
        return error_at(number,
                        "content after the document end marker '...'; expected a single YAML "
                        "document");
      }
      started_ = true;
      previous_line_ = current_line_;
      current_line_ = number;
      cur_ = Line{number, static_cast<int>(sp), text};
    }
    return Status::ok();
  }

  Status unexpected_indent(const Line& l, int expected) const {
    std::string msg = "bad indentation: expected an entry at " + column(expected) +
                      " (or a less indented line), found " + column(l.indent);
    if (plain_line_ == previous_line_) {
      msg += " (if this continues the value on line " + std::to_string(plain_line_) +
             ": multi-line plain values are not supported; quote the value or use '|')";
    }
    return error_at(l.number, msg);
  }

  Status too_deep(int line) const {
    return error_at(line, "nesting deeper than " + std::to_string(kYamlMaxDepth) + " levels");
  }

  // Decides whether `l` is `key: rest`.
  Status split_key(const Line& l, KeyLine& k) const {
    std::string_view t = l.text;
    k = KeyLine{};
    if (t[0] == '"' || t[0] == '\'') {
      size_t pos = 0;
      std::string key;
      if (auto s = parse_quoted(t, pos, l.number, key); !s) return s;
      std::string_view after = trim_left(t.substr(pos));
      if (!after.empty() && after[0] == ':' && (after.size() == 1 || is_blank(after[1]))) {
        k.is_key = true;
        k.key = std::move(key);
        k.rest = trim_left(after.substr(1));
      }
      return Status::ok();
    }
    if (t[0] == '{' || t[0] == '[') return Status::ok();
    if (t[0] == '?' && (t.size() == 1 || is_blank(t[1]))) {
      return error_at(l.number, "complex mapping keys ('? ') are not supported");
    }
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '#' && i > 0 && is_blank(t[i - 1])) break;
      if (t[i] == ':' && (i + 1 == t.size() || is_blank(t[i + 1]))) {
        std::string_view key = trim_right(t.substr(0, i));
        if (key.empty()) return error_at(l.number, "empty mapping key before ':'");
        if (auto s = check_plain_start(key, l.number); !s) return s;
        k.is_key = true;
        k.key = std::string(key);
        k.rest = trim_left(t.substr(i + 1));
        return Status::ok();
      }
    }
    return Status::ok();
  }

  // The block node that starts at cur_. `parent_indent` is the indentation of the enclosing
  // collection (-1 at the top), which bounds literal block content.
  Status parse_block(int parent_indent, int depth, json& out) {
    const Line l = *cur_;
    if (is_seq_entry(l.text)) return parse_sequence(l.indent, depth, out);
    KeyLine k;
    if (auto s = split_key(l, k); !s) return s;
    if (k.is_key) return parse_mapping(l.indent, depth, out);
    return parse_inline(l.text, parent_indent, depth, out);
  }

  Status parse_mapping(int indent, int depth, json& out) {
    if (depth >= kYamlMaxDepth) return too_deep(cur_->number);
    out = json::object();
    while (true) {
      if (auto s = load(); !s) return s;
      if (!cur_ || cur_->indent < indent) return Status::ok();
      const Line l = *cur_;
      if (l.indent > indent) return unexpected_indent(l, indent);
      if (is_seq_entry(l.text)) {
        return error_at(l.number, "expected a mapping key at " + column(indent) +
                                      ", found a sequence entry '-' (a sequence must be the "
                                      "value of a key)");
      }
      KeyLine k;
      if (auto s = split_key(l, k); !s) return s;
      if (!k.is_key) {
        return error_at(l.number,
                        "expected 'key: value' at " + column(indent) + ", found " + show(l.text));
      }
      if (out.contains(k.key)) return error_at(l.number, "duplicate key " + show(k.key));
      json value;
      if (k.rest.empty() || k.rest[0] == '#') {
        // The value is on the following lines: a more indented block, a sequence at this same
        // indentation (kubectl style), or nothing (null).
        cur_.reset();
        if (auto s = load(); !s) return s;
        if (cur_ && cur_->indent > indent) {
          if (auto s = parse_block(indent, depth + 1, value); !s) return s;
        } else if (cur_ && cur_->indent == indent && is_seq_entry(cur_->text)) {
          if (auto s = parse_sequence(indent, depth + 1, value); !s) return s;
        }
      } else {
        if (auto s = parse_inline(k.rest, indent, depth + 1, value); !s) return s;
      }
      out[k.key] = std::move(value);
    }
  }

  Status parse_sequence(int indent, int depth, json& out) {
    if (depth >= kYamlMaxDepth) return too_deep(cur_->number);
    out = json::array();
    while (true) {
      if (auto s = load(); !s) return s;
      if (!cur_ || cur_->indent < indent) return Status::ok();
      const Line l = *cur_;
      if (l.indent > indent) return unexpected_indent(l, indent);
      // Anything else at this indentation belongs to the parent (kubectl puts a mapping's
      // sequences at the key's own indentation); the parent reports it if it does not fit.
      if (!is_seq_entry(l.text)) return Status::ok();
      std::string_view rest = trim_left(l.text.substr(1));
      json item;
      if (rest.empty() || rest[0] == '#') {
        cur_.reset();
        if (auto s = load(); !s) return s;
        if (cur_ && cur_->indent > indent) {
          if (auto s = parse_block(indent, depth + 1, item); !s) return s;
        }
      } else {
        // The content after `- ` is parsed as if it were a line of its own at its column, so
        // `- name: x` starts a mapping whose following keys line up under `name`.
        cur_->indent = l.indent + static_cast<int>(rest.data() - l.text.data());
        cur_->text = rest;
        if (auto s = parse_block(indent, depth + 1, item); !s) return s;
      }
      out.push_back(std::move(item));
    }
  }

  // A value that starts on the current line (after `key:` or `- `, or alone on its line) and,
  // except for a literal block, ends there. Consumes the line.
  Status parse_inline(std::string_view text, int parent_indent, int depth, json& out) {
    const int line = cur_->number;
    const char c = text[0];
    if (c == '|') return parse_literal(text.substr(1), parent_indent, line, out);
    if (c == '>') {
      return error_at(line,
                      "folded block scalars ('>') are not supported; use a literal block '|' or "
                      "a quoted string");
    }
    if (c == '{' || c == '[') {
      size_t pos = 0;
      if (auto s = parse_flow(text, pos, line, depth, out); !s) return s;
      if (auto s = expect_line_end(text, pos, line, "after the closing bracket"); !s) return s;
      cur_.reset();
      return Status::ok();
    }
    if (c == '"' || c == '\'') {
      std::string value;
      size_t pos = 0;
      if (auto s = parse_quoted(text, pos, line, value); !s) return s;
      if (auto s = expect_line_end(text, pos, line, "after the closing quote"); !s) return s;
      out = std::move(value);
      cur_.reset();
      return Status::ok();
    }
    if (is_seq_entry(text)) {
      return error_at(line,
                      "a sequence cannot start on the same line as its key; put the '- ' "
                      "entries on the following lines");
    }
    if (c == '?' && (text.size() == 1 || is_blank(text[1]))) {
      return error_at(line, "complex mapping keys ('? ') are not supported");
    }
    if (auto s = check_plain_start(text, line); !s) return s;
    std::string_view value = text;
    for (size_t i = 1; i < text.size(); ++i) {
      if (text[i] == '#' && is_blank(text[i - 1])) {
        value = text.substr(0, i);
        break;
      }
    }
    value = trim_right(value);
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == ':' && (i + 1 == value.size() || is_blank(value[i + 1]))) {
        return error_at(line, "unexpected ': ' in the plain value " + show(value) +
                                  " (a mapping cannot start here); quote the value");
      }
    }
    out = resolve_plain(value);
    plain_line_ = line;
    cur_.reset();
    return Status::ok();
  }

  // A literal block scalar; `header` is what follows the '|'. Content lines are the following
  // lines indented deeper than `parent_indent`.
  Status parse_literal(std::string_view header, int parent_indent, int line, json& out) {
    bool strip = false;
    bool keep = false;
    int explicit_indent = 0;
    size_t h = 0;
    for (; h < header.size() && h < 2; ++h) {
      char c = header[h];
      if ((c == '-' || c == '+') && !strip && !keep) {
        strip = c == '-';
        keep = c == '+';
      } else if (c >= '1' && c <= '9' && explicit_indent == 0) {
        explicit_indent = c - '0';
      } else {
        break;
      }
    }
    if (auto s = expect_line_end(header, h, line,
                                 "after the block scalar indicator (expected |, |-, |+ or |2)");
        !s) {
      return s;
    }
    int content_indent = explicit_indent ? std::max(parent_indent, 0) + explicit_indent : -1;
    std::string body;
    size_t i = next_;
    for (; i < raw_.size(); ++i) {
      std::string_view l = raw_[i];
      const bool whitespace_only = trim_right(l).empty();
      size_t sp = l.find_first_not_of(' ');
      if (sp == std::string_view::npos) sp = l.size();
      const int spaces = static_cast<int>(sp);
      if (spaces == 0 && (is_marker(l, "---") || is_marker(l, "..."))) break;
      if (content_indent < 0) {
        if (whitespace_only) {
          body += '\n';
          continue;
        }
        if (spaces <= parent_indent) break;
        content_indent = spaces;
      }
      if (spaces < content_indent) {
        if (whitespace_only) {
          body += '\n';
          continue;
        }
        break;
      }
      body.append(l.substr(static_cast<size_t>(content_indent)));
      body += '\n';
    }
    next_ = i;
    cur_.reset();
    if (!keep) {
      while (!body.empty() && body.back() == '\n') body.pop_back();
      if (!strip && !body.empty()) body += '\n';
    }
    out = std::move(body);
    return Status::ok();
  }

  static Status unterminated_flow(int line, char open) {
    return error_at(line, std::string("unterminated flow ") +
                              (open == '[' ? "sequence '['" : "mapping '{'") +
                              "; flow collections must open and close on the same line");
  }

  static void skip_blanks(std::string_view t, size_t& pos) {
    while (pos < t.size() && is_blank(t[pos])) ++pos;
  }

  // A flow collection starting at t[pos] ('[' or '{'), closed on the same line.
  Status parse_flow(std::string_view t, size_t& pos, int line, int depth, json& out) {
    if (depth >= kYamlMaxDepth) return too_deep(line);
    const char open = t[pos];
    const char close = open == '[' ? ']' : '}';
    out = open == '[' ? json::array() : json::object();
    ++pos;
    while (true) {
      skip_blanks(t, pos);
      if (pos >= t.size() || t[pos] == '#') return unterminated_flow(line, open);
      if (t[pos] == close) {
        ++pos;
        return Status::ok();
      }
      if (open == '[') {
        json item;
        if (auto s = parse_flow_node(t, pos, line, depth, item); !s) return s;
        out.push_back(std::move(item));
      } else {
        std::string key;
        if (auto s = parse_flow_key(t, pos, line, key); !s) return s;
        skip_blanks(t, pos);
        json value;
        if (pos < t.size() && t[pos] == ':') {
          ++pos;
          skip_blanks(t, pos);
          if (pos < t.size() && t[pos] != ',' && t[pos] != '}') {
            if (auto s = parse_flow_node(t, pos, line, depth, value); !s) return s;
          }
        }
        if (out.contains(key)) return error_at(line, "duplicate key " + show(key));
        out[key] = std::move(value);
      }
      skip_blanks(t, pos);
      if (pos >= t.size() || t[pos] == '#') return unterminated_flow(line, open);
      if (t[pos] == ',') {
        ++pos;
        continue;
      }
      if (t[pos] == close) {
        ++pos;
        return Status::ok();
      }
      return error_at(line, std::string("expected ',' or '") + close + "' in a flow " +
                                (open == '[' ? "sequence" : "mapping") + ", found " +
                                show(t.substr(pos)));
    }
  }

  Status parse_flow_key(std::string_view t, size_t& pos, int line, std::string& key) {
    const char c = t[pos];
    if (c == '"' || c == '\'') return parse_quoted(t, pos, line, key);
    if (c == '{' || c == '[') {
      return error_at(line, "flow collections as mapping keys are not supported");
    }
    size_t i = pos;
    for (; i < t.size(); ++i) {
      char ch = t[i];
      if (ch == ',' || ch == '{' || ch == '}' || ch == '[' || ch == ']') break;
      if (ch == '#' && i > pos && is_blank(t[i - 1])) break;
      if (ch == ':' && (i + 1 == t.size() || is_blank(t[i + 1]) || is_flow_indicator(t[i + 1]))) {
        break;
      }
    }
    std::string_view k = trim_right(t.substr(pos, i - pos));
    if (k.empty())
      return error_at(line, "expected a key in a flow mapping, found " + show(t.substr(pos)));
    if (auto s = check_plain_start(k, line); !s) return s;
    key = std::string(k);
    pos = i;
    return Status::ok();
  }

  // One value inside a flow collection.
  Status parse_flow_node(std::string_view t, size_t& pos, int line, int depth, json& out) {
    const char c = t[pos];
    if (c == '[' || c == '{') return parse_flow(t, pos, line, depth + 1, out);
    if (c == '"' || c == '\'') {
      std::string s;
      if (auto st = parse_quoted(t, pos, line, s); !st) return st;
      out = std::move(s);
      return Status::ok();
    }
    if (c == ',' || c == ']' || c == '}') {
      return error_at(line,
                      std::string("expected a value in a flow collection, found '") + c + "'");
    }
    size_t i = pos;
    for (; i < t.size(); ++i) {
      char ch = t[i];
      if (is_flow_indicator(ch)) break;
      if (ch == '#' && i > pos && is_blank(t[i - 1])) break;
      if (ch == ':' && (i + 1 == t.size() || is_blank(t[i + 1]) || is_flow_indicator(t[i + 1]))) {
        return error_at(line,
                        "unexpected ':' in a flow value (key: value pairs are only supported "
                        "directly inside { }); quote the value");
      }
    }
    std::string_view v = trim_right(t.substr(pos, i - pos));
    if (auto s = check_plain_start(v, line); !s) return s;
    out = resolve_plain(v);
    pos = i;
    return Status::ok();
  }

  std::vector<std::string_view> raw_;
  size_t next_ = 0;          // index of the next raw line load() examines
  std::optional<Line> cur_;  // the current significant line, not yet consumed
  bool started_ = false;     // content or '---' seen
  bool ended_ = false;       // '...' seen
  int current_line_ = 0;     // number of the last line load() made current
  int previous_line_ = -1;   // and of the one before it
  int plain_line_ = -2;      // line of the last plain scalar value
};

}  // namespace

Result<nlohmann::json> parse_yaml_subset(std::string_view text) {
  if (text.size() > kYamlMaxInputBytes) {
    return Status::config("YAML input is " + std::to_string(text.size()) + " bytes; the limit is " +
                          std::to_string(kYamlMaxInputBytes) + " bytes (1 MiB)");
  }
  try {
    Parser parser(text);
    nlohmann::json out;
    if (Status s = parser.parse_document(out); !s) return s;
    return out;
  } catch (const std::exception& e) {
    // Not expected: the parser reports every problem as a Status. Kept so a bug cannot turn
    // malformed input into a crash.
    return Status::internal(std::string("YAML parser failure: ") + e.what());
  }
}

}  // namespace esk8s::discovery
