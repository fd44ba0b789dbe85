#include "common/text.h"

#include <arpa/inet.h>

namespace esk8s {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

// inet_pton needs a NUL-terminated string; a view may hold a NUL of its own, which no literal
// contains.
bool pton(int family, std::string_view s) {
  if (s.find('\0') != std::string_view::npos) return false;
  const std::string text(s);
  unsigned char buf[16];
  return inet_pton(family, text.c_str(), buf) == 1;
}

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool is_ipv4(std::string_view s) { return pton(AF_INET, s); }

bool is_ipv6(std::string_view s) { return pton(AF_INET6, s); }

}  // namespace esk8s
