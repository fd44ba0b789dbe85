#include "discovery/dns_message.h"

#include <arpa/inet.h>

#include <cstdio>

namespace esk8s::discovery {

namespace {

Status malformed(const std::string& what) {
  return Status::invalid_argument("malformed DNS response: " + what);
}

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxMessageSize = 65535;
constexpr size_t kMaxRecords = 1000;
constexpr size_t kMaxNameOctets = 255;
// A legitimate name rarely follows more than a couple of pointers; a bound this generous still
// ends every loop quickly.
constexpr int kMaxPointerJumps = 64;
constexpr size_t kMinQuestionSize = 5;  // root name + type + class
constexpr size_t kMinRecordSize = 11;   // root name + type + class + ttl + rdlength

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

uint16_t get16(std::string_view b, size_t pos) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[pos]) << 8) |
                               static_cast<uint8_t>(b[pos + 1]));
}

uint32_t get32(std::string_view b, size_t pos) {
  return (static_cast<uint32_t>(get16(b, pos)) << 16) | get16(b, pos + 2);
}

// Inner helpers report the bare problem; parse_dns_response adds the prefix and the location.
Status bad(const std::string& what) { return Status::invalid_argument(what); }

void append_label_char(std::string& out, uint8_t c) {
  if (c == '.' || c == '\\') {
    out.push_back('\\');
    out.push_back(static_cast<char>(c));
  } else if (c > 0x20 && c < 0x7f) {
    out.push_back(static_cast<char>(c));
  } else {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
    out.append(buf);
  }
}

// Reads the possibly compressed name starting at `pos` into `out` (presentation form with the
// trailing dot). `*end` receives the offset just after the name's bytes at `pos` (after the
// first pointer when the name is compressed).
Status read_name(std::string_view msg, size_t pos, std::string* out, size_t* end) {
  out->clear();
  const size_t start = pos;
  size_t wire_octets = 1;  // the terminating root label
  int jumps = 0;
  bool jumped = false;
  while (true) {
    if (pos >= msg.size()) {
      return bad("name at offset " + std::to_string(start) + " runs past the end of the " +
                 std::to_string(msg.size()) + "-byte message");
    }
    const uint8_t b = static_cast<uint8_t>(msg[pos]);
    const uint8_t kind = b & 0xc0;
    if (kind == 0xc0) {
      if (pos + 1 >= msg.size()) {
        return bad("compression pointer at offset " + std::to_string(pos) +
                   " is cut off by the end of the message");
      }
      const size_t target = get16(msg, pos) & 0x3fff;
      if (target >= msg.size()) {
        return bad("compression pointer at offset " + std::to_string(pos) + " points to offset " +
                   std::to_string(target) + ", past the end of the " + std::to_string(msg.size()) +
                   "-byte message");
      }
      if (++jumps > kMaxPointerJumps) {
        return bad("compression loop: name at offset " + std::to_string(start) +
                   " follows more than " + std::to_string(kMaxPointerJumps) + " pointers");
      }
      if (!jumped) {
        *end = pos + 2;
        jumped = true;
      }
      pos = target;
      continue;
    }
    if (kind != 0) {
      return bad("label at offset " + std::to_string(pos) + " has length byte " +
                 std::to_string(b) +
                 ": labels are at most 63 octets (extended label types are not supported)");
    }
    const size_t len = b;
    if (len == 0) {
      if (!jumped) *end = pos + 1;
      if (out->empty()) out->push_back('.');
      return Status::ok();
    }
    if (pos + 1 + len > msg.size()) {
      return bad("label at offset " + std::to_string(pos) + " (" + std::to_string(len) +
                 " octets) runs past the end of the " + std::to_string(msg.size()) +
                 "-byte message");
    }
    wire_octets += 1 + len;
    if (wire_octets > kMaxNameOctets) {
      return bad("name at offset " + std::to_string(start) + " is longer than " +
                 std::to_string(kMaxNameOctets) + " octets");
    }
    for (size_t i = 0; i < len; ++i)
      append_label_char(*out, static_cast<uint8_t>(msg[pos + 1 + i]));
    out->push_back('.');
    pos += 1 + len;
  }
}

std::string address_text(int family, std::string_view raw) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, raw.data(), buf, sizeof buf)) return "";
  return buf;
}

// Reads one resource record at `*pos` and advances `*pos` past it. `where` names the record in
// errors ("answer record 2").
Status read_record(std::string_view msg, size_t* pos, const std::string& where, DnsRecord* rr) {
  size_t p = 0;
  Status s = read_name(msg, *pos, &rr->name, &p);
  if (!s) return bad(where + ": " + s.message());
  if (p + 10 > msg.size()) {
    return bad(where + ": record header at offset " + std::to_string(p) +
               " is cut off by the end of the " + std::to_string(msg.size()) + "-byte message");
  }
  rr->type = get16(msg, p);
  const uint16_t rclass = get16(msg, p + 2);
  rr->ttl = get32(msg, p + 4);
  const size_t rdlength = get16(msg, p + 8);
  const size_t rdata = p + 10;
  const size_t rdata_end = rdata + rdlength;
  if (rdata_end > msg.size()) {
    return bad(where + ": RDATA of " + std::to_string(rdlength) + " octets at offset " +
               std::to_string(rdata) + " runs past the end of the " + std::to_string(msg.size()) +
               "-byte message");
  }
  *pos = rdata_end;
  if (rclass != 1) return Status::ok();  // not IN: keep name/type/ttl only
  const std::string_view body = msg.substr(rdata, rdlength);
  switch (rr->type) {
    case kDnsTypeA:
    case kDnsTypeAaaa: {
      const size_t want = rr->type == kDnsTypeA ? 4 : 16;
      if (rdlength != want) {
        return bad(where + ": " + (rr->type == kDnsTypeA ? "A" : "AAAA") + " record has " +
                   std::to_string(rdlength) + " octets of RDATA, expected " + std::to_string(want));
      }
      rr->address = address_text(rr->type == kDnsTypeA ? AF_INET : AF_INET6, body);
      break;
    }
    case kDnsTypeSrv: {
      if (rdlength < 7) {
        return bad(where + ": SRV record has " + std::to_string(rdlength) +
                   " octets of RDATA, at least 7 are needed");
      }
      rr->priority = get16(msg, rdata);
      rr->weight = get16(msg, rdata + 2);
      rr->port = get16(msg, rdata + 4);
      size_t end = 0;
      // The target's own bytes must fill the RDATA exactly (pointers may lead elsewhere).
      s = read_name(msg, rdata + 6, &rr->target, &end);
      if (!s) return bad(where + ": SRV target: " + s.message());
      if (end != rdata_end) {
        return bad(where + ": SRV target ends at offset " + std::to_string(end) +
                   " but the RDATA ends at offset " + std::to_string(rdata_end));
      }
      break;
    }
    case kDnsTypeCname: {
      size_t end = 0;
      s = read_name(msg, rdata, &rr->target, &end);
      if (!s) return bad(where + ": CNAME target: " + s.message());
      if (end != rdata_end) {
        return bad(where + ": CNAME target ends at offset " + std::to_string(end) +
                   " but the RDATA ends at offset " + std::to_string(rdata_end));
      }
      break;
    }
    default:
      break;
  }
  return Status::ok();
}

}  // namespace

std::string encode_dns_query(uint16_t id, const std::string& name, uint16_t qtype) {
  std::string out;
  out.reserve(kHeaderSize + name.size() + 6);
  put16(out, id);
  put16(out, 0x0100);  // QR=0, opcode QUERY, RD=1
  put16(out, 1);       // QDCOUNT
  put16(out, 0);       // ANCOUNT
  put16(out, 0);       // NSCOUNT
  put16(out, 0);       // ARCOUNT
  std::string_view n = name;
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  size_t wire_octets = 1;
  while (!n.empty()) {
    const size_t dot = n.find('.');
    const std::string_view label = n.substr(0, dot);
    if (label.empty() || label.size() > 63) return "";
    wire_octets += 1 + label.size();
    if (wire_octets > kMaxNameOctets) return "";
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
    if (dot == std::string_view::npos) break;
    n.remove_prefix(dot + 1);
    if (n.empty()) return "";  // "a..": the trailing dot was already removed
  }
  out.push_back('\0');
  put16(out, qtype);
  put16(out, 1);  // class IN
  return out;
}

Result<DnsResponse> parse_dns_response(std::string_view bytes) {
  if (bytes.size() > kMaxMessageSize) {
    return malformed("message is " + std::to_string(bytes.size()) + " bytes, more than the " +
                     std::to_string(kMaxMessageSize) + "-byte maximum");
  }
  if (bytes.size() < kHeaderSize) {
    return malformed("truncated header: " + std::to_string(bytes.size()) + " bytes, a header is " +
                     std::to_string(kHeaderSize));
  }
  DnsResponse r;
  r.id = get16(bytes, 0);
  const uint16_t flags = get16(bytes, 2);
  if ((flags & 0x8000) == 0) return malformed("QR bit is clear: the message is a query");
  r.truncated = (flags & 0x0200) != 0;
  r.rcode = flags & 0x000f;
  const size_t qd = get16(bytes, 4), an = get16(bytes, 6), ns = get16(bytes, 8),
               ar = get16(bytes, 10);
  const size_t total = qd + an + ns + ar;
  if (total > kMaxRecords) {
    return malformed("header claims " + std::to_string(total) + " entries (questions " +
                     std::to_string(qd) + ", answers " + std::to_string(an) + ", authority " +
                     std::to_string(ns) + ", additional " + std::to_string(ar) +
                     "), more than the " + std::to_string(kMaxRecords) + " accepted");
  }
  const size_t min_size = qd * kMinQuestionSize + (an + ns + ar) * kMinRecordSize;
  if (min_size > bytes.size() - kHeaderSize) {
    return malformed("header claims " + std::to_string(total) + " entries, which need at least " +
                     std::to_string(min_size) + " bytes, but only " +
                     std::to_string(bytes.size() - kHeaderSize) + " follow the header");
  }
  size_t pos = kHeaderSize;
  std::string scratch;
  for (size_t i = 0; i < qd; ++i) {
    size_t end = 0;
    Status s = read_name(bytes, pos, &scratch, &end);
    if (!s) {
      return malformed("question " + std::to_string(i + 1) + ": " + s.message());
    }
    if (end + 4 > bytes.size()) {
      return malformed("question " + std::to_string(i + 1) + ": type and class at offset " +
                       std::to_string(end) + " are cut off by the end of the message");
    }
    pos = end + 4;
  }
  struct Section {
    const char* name;
    size_t count;
    std::vector<DnsRecord>* out;
  };
  std::vector<DnsRecord> authority;
  const Section sections[] = {{"answer", an, &r.answers},
                              {"authority", ns, &authority},
                              {"additional", ar, &r.additionals}};
  for (const Section& sec : sections) {
    sec.out->reserve(sec.count);
    for (size_t i = 0; i < sec.count; ++i) {
      DnsRecord rr;
      Status s =
          read_record(bytes, &pos, std::string(sec.name) + " record " + std::to_string(i + 1), &rr);
      if (!s) return malformed(s.message());
      sec.out->push_back(std::move(rr));
    }
  }
  return r;
}

std::string dns_rcode_name(int rcode) {
  switch (rcode) {
    case 0:
      return "NOERROR";
    case 1:
      return "FORMERR";
    case 2:
      return "SERVFAIL";
    case 3:
      return "NXDOMAIN";
    case 4:
      return "NOTIMP";
    case 5:
      return "REFUSED";
    default:
      return "RCODE " + std::to_string(rcode);
  }
}

}  // namespace esk8s::discovery
