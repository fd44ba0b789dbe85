// The gossip wire format. One envelope is one CBOR data item (RFC 8949), definite lengths only,
// no maps, no tags:
//
//   envelope      = [ version_min   uint  (<= 65535)
//                     version_max   uint  (<= 65535, >= version_min)
//                     cluster       text  (<= kMaxClusterNameBytes)
//                     from          text  (1..kMaxIdentityBytes)
//                     from_instance bytes (exactly 16: hi big-endian, then lo big-endian)
//                     body_type     uint  (see the table below)
//                     body          array (layout per body_type)
//                     updates       array of member (<= kMaxPiggybackUpdates) ]
//
//   body_type  body
//   1 Ping          [ seq uint (<= 2^32-1), target text (<= kMaxIdentityBytes) ]
//   2 IndirectPing  [ seq uint, target text, address text (<= kMaxAddressBytes),
//                     port uint (<= 65535), want_nack bool ]
//   3 Ack           [ seq uint ]
//   4 Nack          [ seq uint ]
//   5 PushPull      [ join bool, reply bool, members array of member (<= kMaxPushPullMembers) ]
//   WARNING: append only. A new body gets the next number; a number is never reused or
//   re-laid-out. An old decoder rejects an unknown number ("unknown body type 6").
//
//   member     = [ identity    text  (1..kMaxIdentityBytes)
//                  instance    bytes (exactly 16, all zero: unknown)
//                  incarnation uint  (<= 2^64-1)
//                  address     text  (<= kMaxAddressBytes)
//                  port        uint  (<= 65535)
//                  state       uint  (0 alive, 1 suspect, 2 dead, 3 left)
//                  meta        bytes (<= kMaxMetaBytes, opaque: host_status.h)
//                  accuser     text  (<= kMaxIdentityBytes, may be empty) ]
//
// Versioning: the version range comes first and the decoder does not judge it (beyond
// min <= max): an envelope from a peer whose range does not overlap ours still decodes, and the
// core counts and drops it. For that to keep working, every future protocol version keeps this
// exact layout and only adds body types; the decoder is strict (exactly 8 envelope elements, exact
// body arity, no trailing bytes), so a version that needs more fields must put them in a new body
// type. decode(encode(e)) == e. The decoder does accept CBOR's non-preferred forms (an integer
// written longer than needed, a chunked string), which encode() never writes; re-encoding such a
// frame gives the preferred encoding of the same value.
//
// Limits: the frame is rejected above kMaxFrameBytes before parsing; the parser
// (bounded_cbor.h) stops at nesting depth 4, at any array declaring more than
// kMaxPushPullMembers elements and at more items than a maximal push-pull holds; then every string
// length, count and integer range is checked against message.h. Error messages name the element
// ("update 3: identity is 300 bytes, limit 253"; indices count from 0) and never quote input.
#include "gossip/wire.h"

#include <limits>
#include <string>
#include <utility>

#include "gossip/bounded_cbor.h"

namespace esk8s::gossip {
namespace {

using nlohmann::json;

// Body type numbers. WARNING: append only (see the table above).
enum class BodyType : uint64_t {
  kPing = 1,
  kIndirectPing = 2,
  kAck = 3,
  kNack = 4,
  kPushPull = 5,
};

constexpr size_t kEnvelopeElements = 8;
constexpr size_t kMemberElements = 10;
constexpr size_t kInstanceBytes = 16;
// Deepest legal nesting: envelope > push-pull body > members > member.
constexpr size_t kMaxDepth = 4;
// Items in the largest legal envelope: every member is 1 + 8 items; the envelope, its scalars
// and any body's scalars and arrays are well under 32.
constexpr size_t kMaxItems =
    (kMaxPushPullMembers + kMaxPiggybackUpdates) * (1 + kMemberElements) + 32;

// ---- encoding ----

json bytes_value(const uint8_t* data, size_t size) {
  return json::binary(std::vector<uint8_t>(data, data + size));
}

json instance_value(const InstanceId& id) {
  uint8_t b[kInstanceBytes];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(id.hi >> (56 - 8 * i));
    b[8 + i] = static_cast<uint8_t>(id.lo >> (56 - 8 * i));
  }
  return bytes_value(b, kInstanceBytes);
}

json member_value(const MemberRecord& m) {
  return json::array({m.identity, instance_value(m.instance), m.incarnation, m.address, m.port,
                      static_cast<uint64_t>(m.state),
                      bytes_value(reinterpret_cast<const uint8_t*>(m.meta.data()), m.meta.size()),
                      m.accuser,
                      bytes_value(reinterpret_cast<const uint8_t*>(m.credential.data()),
                                  m.credential.size()),
                      bytes_value(reinterpret_cast<const uint8_t*>(m.signature.data()),
                                  m.signature.size())});
}

json members_value(const std::vector<MemberRecord>& members) {
  json out = json::array();
  for (const MemberRecord& m : members) out.push_back(member_value(m));
  return out;
}

struct BodyEncoder {
  BodyType* type;
  json operator()(const Ping& p) const {
    *type = BodyType::kPing;
    return json::array({p.seq, p.target});
  }
  json operator()(const IndirectPing& p) const {
    *type = BodyType::kIndirectPing;
    return json::array({p.seq, p.target, p.address, p.port, p.want_nack});
  }
  json operator()(const Ack& a) const {
    *type = BodyType::kAck;
    return json::array({a.seq});
  }
  json operator()(const Nack& n) const {
    *type = BodyType::kNack;
    return json::array({n.seq});
  }
  json operator()(const PushPull& p) const {
    *type = BodyType::kPushPull;
    return json::array({p.join, p.reply, members_value(p.members)});
  }
};

// ---- decoding ----

// Reads typed fields out of the parsed DOM; `where` prefixes every error ("update 3").
class Fields {
 public:
  Fields(const json& array, std::string where) : array_(array), where_(std::move(where)) {}

  // The prefix for errors about this element.
  Status error(const std::string& what) const {
    return Status::invalid_argument(where_.empty() ? what : where_ + ": " + what);
  }

  // REQUIRES: i < size of the array (checked by expect_array).
  Status uint(size_t i, const char* name, uint64_t max, uint64_t& out) const {
    const json& v = array_[i];
    if (!v.is_number_unsigned()) return wrong_type(name, v, "an unsigned integer");
    const uint64_t n = v.get<uint64_t>();
    if (n > max) {
      return error(std::string(name) + " is " + std::to_string(n) + ", limit " +
                   std::to_string(max));
    }
    out = n;
    return Status::ok();
  }

  template <typename T>
  Status uint_as(size_t i, const char* name, T& out) const {
    uint64_t n = 0;
    Status s = uint(i, name, std::numeric_limits<T>::max(), n);
    if (s) out = static_cast<T>(n);
    return s;
  }

  Status boolean(size_t i, const char* name, bool& out) const {
    const json& v = array_[i];
    if (!v.is_boolean()) return wrong_type(name, v, "a boolean");
    out = v.get<bool>();
    return Status::ok();
  }

  Status text(size_t i, const char* name, size_t min, size_t max, std::string& out) const {
    const json& v = array_[i];
    if (!v.is_string()) return wrong_type(name, v, "a text string");
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > max) {
      return error(std::string(name) + " is " + std::to_string(s.size()) + " bytes, limit " +
                   std::to_string(max));
    }
    if (s.size() < min) return error(std::string(name) + " is empty");
    out = s;
    return Status::ok();
  }

  Status bytes(size_t i, const char* name, size_t max, std::string& out) const {
    const json& v = array_[i];
    if (!v.is_binary()) return wrong_type(name, v, "a byte string");
    const std::vector<uint8_t>& b = v.get_binary();
    if (b.size() > max) {
      return error(std::string(name) + " is " + std::to_string(b.size()) + " bytes, limit " +
                   std::to_string(max));
    }
    out.assign(b.begin(), b.end());
    return Status::ok();
  }

  Status instance(size_t i, const char* name, InstanceId& out) const {
    const json& v = array_[i];
    if (!v.is_binary()) return wrong_type(name, v, "a byte string");
    const std::vector<uint8_t>& b = v.get_binary();
    if (b.size() != kInstanceBytes) {
      return error(std::string(name) + " is " + std::to_string(b.size()) + " bytes, expected " +
                   std::to_string(kInstanceBytes));
    }
    out = InstanceId{};
    for (size_t k = 0; k < 8; ++k) {
      out.hi = (out.hi << 8) | b[k];
      out.lo = (out.lo << 8) | b[8 + k];
    }
    return Status::ok();
  }

  // The array at i (its length is the caller's to check).
  Status array_at(size_t i, const char* name, const json*& out) const {
    const json& v = array_[i];
    if (!v.is_array()) return wrong_type(name, v, "an array");
    out = &v;
    return Status::ok();
  }

 private:
  Status wrong_type(const char* name, const json& v, const char* expected) const {
    return error(std::string(name) + " is " + cbor_type_name(v) + ", expected " + expected);
  }

  const json& array_;
  std::string where_;
};

// Checks that `v` is an array of exactly `n` elements.
Status expect_array(const json& v, size_t n, const std::string& what) {
  if (!v.is_array()) {
    return Status::invalid_argument(what + " is " + cbor_type_name(v) + ", expected an array");
  }
  if (v.size() != n) {
    return Status::invalid_argument(what + " has " + std::to_string(v.size()) +
                                    " elements, expected " + std::to_string(n));
  }
  return Status::ok();
}

#define RETURN_IF_ERROR(expr) \
  do {                        \
    Status _s = (expr);       \
    if (!_s) return _s;       \
  } while (0)

Status decode_member(const json& v, const std::string& where, MemberRecord& m) {
  RETURN_IF_ERROR(expect_array(v, kMemberElements, where));
  Fields f(v, where);
  RETURN_IF_ERROR(f.text(0, "identity", 1, kMaxIdentityBytes, m.identity));
  RETURN_IF_ERROR(f.instance(1, "instance", m.instance));
  RETURN_IF_ERROR(f.uint(2, "incarnation", std::numeric_limits<uint64_t>::max(), m.incarnation));
  RETURN_IF_ERROR(f.text(3, "address", 0, kMaxAddressBytes, m.address));
  RETURN_IF_ERROR(f.uint_as(4, "port", m.port));
  uint64_t state = 0;
  RETURN_IF_ERROR(f.uint(5, "state", static_cast<uint64_t>(MemberState::kLeft), state));
  m.state = static_cast<MemberState>(state);
  RETURN_IF_ERROR(f.bytes(6, "meta", kMaxMetaBytes, m.meta));
  RETURN_IF_ERROR(f.text(7, "accuser", 0, kMaxIdentityBytes, m.accuser));
  RETURN_IF_ERROR(f.bytes(8, "credential", kMaxCredentialBytes, m.credential));
  RETURN_IF_ERROR(f.bytes(9, "signature", kMaxSignatureBytes, m.signature));
  return Status::ok();
}

Status decode_members(const json& v, const char* what, size_t limit,
                      std::vector<MemberRecord>& out) {
  if (v.size() > limit) {
    return Status::invalid_argument(std::to_string(v.size()) + " " + what + "s, limit " +
                                    std::to_string(limit));
  }
  out.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    RETURN_IF_ERROR(decode_member(v[i], std::string(what) + " " + std::to_string(i), out[i]));
  }
  return Status::ok();
}

Status decode_body(uint64_t type, const json& v, Body& out) {
  switch (static_cast<BodyType>(type)) {
    case BodyType::kPing: {
      RETURN_IF_ERROR(expect_array(v, 2, "ping"));
      Fields f(v, "ping");
      Ping p;
      RETURN_IF_ERROR(f.uint_as(0, "seq", p.seq));
      RETURN_IF_ERROR(f.text(1, "target", 0, kMaxIdentityBytes, p.target));
      out = std::move(p);
      return Status::ok();
    }
    case BodyType::kIndirectPing: {
      RETURN_IF_ERROR(expect_array(v, 5, "indirect ping"));
      Fields f(v, "indirect ping");
      IndirectPing p;
      RETURN_IF_ERROR(f.uint_as(0, "seq", p.seq));
      RETURN_IF_ERROR(f.text(1, "target", 0, kMaxIdentityBytes, p.target));
      RETURN_IF_ERROR(f.text(2, "address", 0, kMaxAddressBytes, p.address));
      RETURN_IF_ERROR(f.uint_as(3, "port", p.port));
      RETURN_IF_ERROR(f.boolean(4, "want_nack", p.want_nack));
      out = std::move(p);
      return Status::ok();
    }
    case BodyType::kAck: {
      RETURN_IF_ERROR(expect_array(v, 1, "ack"));
      Ack a;
      RETURN_IF_ERROR(Fields(v, "ack").uint_as(0, "seq", a.seq));
      out = a;
      return Status::ok();
    }
    case BodyType::kNack: {
      RETURN_IF_ERROR(expect_array(v, 1, "nack"));
      Nack n;
      RETURN_IF_ERROR(Fields(v, "nack").uint_as(0, "seq", n.seq));
      out = n;
      return Status::ok();
    }
    case BodyType::kPushPull: {
      RETURN_IF_ERROR(expect_array(v, 3, "push-pull"));
      Fields f(v, "push-pull");
      PushPull p;
      RETURN_IF_ERROR(f.boolean(0, "join", p.join));
      RETURN_IF_ERROR(f.boolean(1, "reply", p.reply));
      const json* members = nullptr;
      RETURN_IF_ERROR(f.array_at(2, "members", members));
      RETURN_IF_ERROR(decode_members(*members, "push-pull member", kMaxPushPullMembers, p.members));
      out = std::move(p);
      return Status::ok();
    }
  }
  return Status::invalid_argument("unknown body type " + std::to_string(type));
}

}  // namespace

std::vector<uint8_t> encode(const Envelope& e) {
  BodyType type = BodyType::kPing;
  json body = std::visit(BodyEncoder{&type}, e.body);
  json envelope =
      json::array({e.version_min, e.version_max, e.cluster, e.from, instance_value(e.from_instance),
                   static_cast<uint64_t>(type), std::move(body), members_value(e.updates)});
  return json::to_cbor(envelope);
}

Result<Envelope> decode(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxFrameBytes) {
    return Status::invalid_argument("frame is " + std::to_string(bytes.size()) + " bytes, limit " +
                                    std::to_string(kMaxFrameBytes));
  }
  CborLimits limits;
  limits.max_depth = kMaxDepth;
  limits.max_container = kMaxPushPullMembers;
  limits.max_items = kMaxItems;
  limits.allow_maps = false;
  Result<json> parsed = parse_bounded_cbor(bytes, limits);
  if (!parsed) return parsed.status();
  const json& v = parsed.value();

  RETURN_IF_ERROR(expect_array(v, kEnvelopeElements, "envelope"));
  Fields f(v, "");
  Envelope e;
  RETURN_IF_ERROR(f.uint_as(0, "version_min", e.version_min));
  RETURN_IF_ERROR(f.uint_as(1, "version_max", e.version_max));
  if (e.version_min > e.version_max) {
    return Status::invalid_argument("version range [" + std::to_string(e.version_min) + ", " +
                                    std::to_string(e.version_max) + "] is inverted");
  }
  RETURN_IF_ERROR(f.text(2, "cluster", 0, kMaxClusterNameBytes, e.cluster));
  RETURN_IF_ERROR(f.text(3, "from", 1, kMaxIdentityBytes, e.from));
  RETURN_IF_ERROR(f.instance(4, "from_instance", e.from_instance));
  uint64_t type = 0;
  RETURN_IF_ERROR(f.uint(5, "body_type", std::numeric_limits<uint64_t>::max(), type));
  RETURN_IF_ERROR(decode_body(type, v[6], e.body));
  const json* updates = nullptr;
  RETURN_IF_ERROR(f.array_at(7, "updates", updates));
  RETURN_IF_ERROR(decode_members(*updates, "update", kMaxPiggybackUpdates, e.updates));
  return e;
}

void append_frame_header(std::vector<uint8_t>& out, uint32_t length) {
  out.push_back(static_cast<uint8_t>(length >> 24));
  out.push_back(static_cast<uint8_t>(length >> 16));
  out.push_back(static_cast<uint8_t>(length >> 8));
  out.push_back(static_cast<uint8_t>(length));
}

Result<uint32_t> parse_frame_header(std::span<const uint8_t, kFrameHeaderBytes> header) {
  const uint32_t length =
      (static_cast<uint32_t>(header[0]) << 24) | (static_cast<uint32_t>(header[1]) << 16) |
      (static_cast<uint32_t>(header[2]) << 8) | static_cast<uint32_t>(header[3]);
  if (length == 0) return Status::invalid_argument("frame length is 0");
  if (length > kMaxFrameBytes) {
    return Status::invalid_argument("frame length is " + std::to_string(length) + " bytes, limit " +
                                    std::to_string(kMaxFrameBytes));
  }
  return length;
}

#undef RETURN_IF_ERROR

}  // namespace esk8s::gossip
