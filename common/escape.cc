#include "common/escape.h"

#include <cstdint>

namespace esk8s {

namespace {

bool in(uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; }

// The length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629, table 3-7 of the
// Unicode standard), or 0 when the byte there does not start one.
size_t utf8_length(std::string_view text, size_t i) {
  auto at = [&](size_t k) -> int {
    return i + k < text.size() ? static_cast<uint8_t>(text[i + k]) : -1;
  };
  auto cont = [&](size_t k, uint8_t lo = 0x80, uint8_t hi = 0xBF) {
    int b = at(k);
    return b >= 0 && in(static_cast<uint8_t>(b), lo, hi);
  };
  const auto lead = static_cast<uint8_t>(text[i]);
  if (lead < 0x80) return 1;
  if (in(lead, 0xC2, 0xDF)) return cont(1) ? 2 : 0;
  if (lead == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
  if (in(lead, 0xE1, 0xEC) || in(lead, 0xEE, 0xEF)) return cont(1) && cont(2) ? 3 : 0;
  if (lead == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no surrogates
  if (lead == 0xF0) return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
  if (in(lead, 0xF1, 0xF3)) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (lead == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

constexpr char kHex[] = "0123456789abcdef";

// The escape for the unit of `len` bytes at text[i] (len 0: one invalid byte), or empty when the
// unit passes through unchanged.
std::string escape_unit(std::string_view text, size_t i, size_t len) {
  const auto b0 = static_cast<uint8_t>(text[i]);
  if (len == 0) return {'\\', 'x', kHex[b0 >> 4], kHex[b0 & 0xF]};
  if (len == 1) {
    if (b0 == '\n') return "\\n";
    if (b0 == '\r') return "\\r";
    if (b0 == '\t') return "\\t";
    if (b0 < 0x20 || b0 == 0x7F) return {'\\', 'x', kHex[b0 >> 4], kHex[b0 & 0xF]};
    return {};
  }
  const auto b1 = static_cast<uint8_t>(text[i + 1]);
  if (len == 2 && b0 == 0xC2 && b1 <= 0x9F) {  // C1 control U+0080..U+009F
    return {'\\', 'u', '0', '0', kHex[b1 >> 4], kHex[b1 & 0xF]};
  }
  if (len == 3 && b0 == 0xE2 && b1 == 0x80) {
    const auto b2 = static_cast<uint8_t>(text[i + 2]);
    if (b2 == 0xA8) return "\\u2028";
    if (b2 == 0xA9) return "\\u2029";
  }
  return {};
}

// Length of the UTF-8 sequence that lead byte `c` announces; 1 for ASCII and for bytes that
// cannot start a sequence.
size_t announced_length(unsigned char c) {
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 1;
}

// Whether the `len` bytes at `i` are one well-formed UTF-8 character (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
bool well_formed(std::string_view s, size_t i, size_t len) {
  if (i + len > s.size()) return false;
  const auto lead = static_cast<unsigned char>(s[i]);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    unsigned char lo = 0x80, hi = 0xBF;
    if (k == 1 && lead == 0xE0) lo = 0xA0;
    if (k == 1 && lead == 0xED) hi = 0x9F;
    if (k == 1 && lead == 0xF0) lo = 0x90;
    if (k == 1 && lead == 0xF4) hi = 0x8F;
    if (b < lo || b > hi) return false;
  }
  return true;
}

}  // namespace

bool needs_escaping(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<uint8_t>(text[i]);
    if (b >= 0x20 && b < 0x7F) {  // printable ASCII, the common case
      ++i;
      continue;
    }
    size_t len = utf8_length(text, i);
    if (len == 0 || !escape_unit(text, i, len).empty()) return true;
    i += len;
  }
  return false;
}

std::string escape_untrusted(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
  for (size_t i = 0; i < text.size();) {
    size_t len = utf8_length(text, i);
    std::string escaped = escape_unit(text, i, len);
    size_t unit = len == 0 ? 1 : len;
    size_t add = escaped.empty() ? unit : escaped.size();
    if (out.size() + add > max_bytes) {
      out += "...(" + std::to_string(text.size() - i) + " more bytes)";
      return out;
    }
    if (escaped.empty()) {
      out.append(text.substr(i, unit));
    } else {
      out += escaped;
    }
    i += unit;
  }
  return out;
}

std::string truncate_for_log(std::string_view bytes, size_t max) {
  // The cut: whole characters (as their lead byte announces them) within the first `max` bytes;
  // a byte that does not start a well-formed sequence counts alone.
  size_t cut = 0;
  while (cut < bytes.size()) {
    const size_t len = announced_length(static_cast<unsigned char>(bytes[cut]));
    if (cut + len > max) break;
    cut += len > 1 && well_formed(bytes, cut, len) ? len : 1;
  }
  std::string out = escape_untrusted(bytes.substr(0, cut));
  if (cut < bytes.size()) out += "...";
  return out;
}

}  // namespace esk8s
