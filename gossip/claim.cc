#include "gossip/claim.h"

namespace esk8s::gossip {

namespace {

void put_u64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void put_text(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

}  // namespace

MemberState signed_state(MemberState s) {
  return s == MemberState::kLeft ? MemberState::kLeft : MemberState::kAlive;
}

std::string signed_claim_bytes(std::string_view cluster, const MemberRecord& r) {
  std::string out;
  out.reserve(64 + cluster.size() + r.identity.size() + r.address.size() + r.meta.size());
  put_text(out, "esk8s member claim v1");
  put_text(out, cluster);
  put_text(out, r.identity);
  put_u64(out, r.instance.hi);
  put_u64(out, r.instance.lo);
  put_u64(out, r.incarnation);
  put_text(out, r.address);
  put_u64(out, r.port);
  put_u64(out, static_cast<uint64_t>(signed_state(r.state)));
  put_text(out, r.meta);
  return out;
}

bool same_signed_content(const MemberRecord& a, const MemberRecord& b) {
  return a.identity == b.identity && a.instance == b.instance && a.incarnation == b.incarnation &&
         a.address == b.address && a.port == b.port && a.meta == b.meta &&
         signed_state(a.state) == signed_state(b.state) && a.credential == b.credential &&
         a.signature == b.signature;
}

bool valid_identity_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdentityBytes) return false;
  size_t label = 0;
  char prev = '.';
  for (char c : s) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok || (label == 0 && c == '-') || ++label > 63) return false;
    }
    prev = c;
  }
  return label != 0 && prev != '-';
}

const char* to_string(ClaimRejection r) {
  switch (r) {
    case ClaimRejection::kInvalidIdentity:
      return "invalid_identity";
    case ClaimRejection::kNotAllowed:
      return "not_allowed";
    case ClaimRejection::kBadSignature:
      return "bad_signature";
    case ClaimRejection::kTableFull:
      return "table_full";
    case ClaimRejection::kForgedSelf:
      return "forged_self";
  }
  return "unknown";
}

}  // namespace esk8s::gossip
