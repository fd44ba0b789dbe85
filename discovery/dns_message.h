// A sans-IO codec for the DNS wire format (RFC 1035, SRV per RFC 2782): builds standard queries
// and parses responses. It never touches a socket; the `dns` discovery source (dns_source.h)
// does the I/O.
//
// Contract of the parser: the input is hostile. Every length is bounds-checked against the
// buffer, compressed names follow at most a fixed number of pointers (so pointer loops end), names
// are at most 255 octets, messages at most 64 KiB and at most 1000 records. A refused message
// yields an invalid_argument Status naming what is wrong and where (section, record, offset).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace esk8s::discovery {

// Resource record types the discovery source uses.
inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypeSrv = 33;
inline constexpr uint16_t kDnsTypeAaaa = 28;

// Response codes the discovery source tells apart.
inline constexpr int kDnsRcodeNoError = 0;
inline constexpr int kDnsRcodeServFail = 2;
inline constexpr int kDnsRcodeNxDomain = 3;
inline constexpr int kDnsRcodeRefused = 5;

// A standard query (opcode QUERY, RD set, one question of class IN) for `name` and `qtype`
// (33 = SRV, 1 = A, 28 = AAAA) with id `id`. `name` is dot-separated, a trailing dot is optional,
// "" or "." is the root; escapes are not interpreted. Returns "" when `name` cannot be encoded
// (an empty label, a label longer than 63 octets, or more than 255 octets on the wire).
std::string encode_dns_query(uint16_t id, const std::string& name, uint16_t qtype);

// One resource record. Names are in presentation form with the trailing dot ("a.b.c.", the
// root is "."), case preserved; octets other than printable ASCII, '.' and '\' are escaped as
// "\DDD" / "\." / "\\".
struct DnsRecord {
  std::string name;
  uint16_t type = 0;
  uint32_t ttl = 0;
  uint16_t priority = 0, weight = 0, port = 0;  // SRV
  std::string target;                           // SRV target; CNAME canonical name
  std::string address;                          // A/AAAA as text ("10.0.0.1", "fd00::1")
};

struct DnsResponse {
  uint16_t id = 0;
  int rcode = 0;                                // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...
  bool truncated = false;                       // TC: the answer did not fit; ask again over TCP
  std::vector<DnsRecord> answers, additionals;  // the authority section is checked and skipped
};

// Parses a response (QR must be set). Records of other types and classes are kept with only
// name/type/ttl filled. Bytes after the last counted record are ignored.
Result<DnsResponse> parse_dns_response(std::string_view bytes);

// "NOERROR", "SERVFAIL", "NXDOMAIN", ... or "RCODE <n>".
std::string dns_rcode_name(int rcode);

}  // namespace esk8s::discovery
