// Small text helpers every module shares: trimming, percent-encoding for URLs, IP literal
// checks. One home each, so two modules never disagree on what "trimmed" or "an IPv6 address"
// means.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace esk8s {

// `s` without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r). A view into `s`.
std::string_view trim(std::string_view s);

// `s` percent-encoded for a URL path segment or query value (RFC 3986 section 2.1): the
// unreserved characters A-Z a-z 0-9 - _ . ~ stay, every other byte becomes %XX (upper-case
// hex), '/' '=' '&' '%' and non-ASCII bytes included.
std::string percent_encode(std::string_view s);

// A dotted-quad IPv4 literal as inet_pton reads it ("10.0.0.1"; no leading zeros, no CIDR).
bool is_ipv4(std::string_view s);
// An IPv6 literal as inet_pton reads it ("fd00::1", "::ffff:10.0.0.1"; no brackets, no zone).
bool is_ipv6(std::string_view s);

}  // namespace esk8s
