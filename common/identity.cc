#include "common/identity.h"

namespace esk8s {

namespace {
bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
}  // namespace

bool is_dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!is_alnum_lower(s.front()) || !is_alnum_lower(s.back())) return false;
  for (char c : s) {
    if (!is_alnum_lower(c) && c != '-') return false;
  }
  return true;
}

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!is_dns1123_label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string make_identity(std::string_view pod, std::string_view service, std::string_view ns,
                          std::string_view domain) {
  std::string id;
  id.reserve(pod.size() + service.size() + ns.size() + domain.size() + 8);
  id.append(pod).append(".").append(service).append(".").append(ns).append(".svc.").append(domain);
  return id;
}

}  // namespace esk8s
