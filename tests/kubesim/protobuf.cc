#include "tests/kubesim/protobuf.h"

#include <cstdint>
#include <map>
#include <string_view>

namespace kubesim {

namespace {

constexpr size_t kMaxBody = 1 << 20;

// Length-delimited and varint fields of one message; repeated fields keep the last value, which
// is enough for the scalar fields read here.
struct Fields {
  std::map<uint32_t, std::string_view> bytes;
  std::map<uint32_t, uint64_t> varints;
};

bool read_varint(std::string_view& in, uint64_t& out) {
  out = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    uint8_t b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    out |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

std::optional<Fields> parse(std::string_view in) {
  Fields f;
  while (!in.empty()) {
    uint64_t key = 0;
    if (!read_varint(in, key)) return std::nullopt;
    uint32_t field = static_cast<uint32_t>(key >> 3);
    switch (key & 7) {
      case 0: {
        uint64_t v;
        if (!read_varint(in, v)) return std::nullopt;
        f.varints[field] = v;
        break;
      }
      case 1:
        if (in.size() < 8) return std::nullopt;
        in.remove_prefix(8);
        break;
      case 2: {
        uint64_t len;
        if (!read_varint(in, len) || len > in.size()) return std::nullopt;
        f.bytes[field] = in.substr(0, len);
        in.remove_prefix(len);
        break;
      }
      case 5:
        if (in.size() < 4) return std::nullopt;
        in.remove_prefix(4);
        break;
      default:
        return std::nullopt;
    }
  }
  return f;
}

std::string str(const Fields& f, uint32_t field) {
  auto it = f.bytes.find(field);
  return it == f.bytes.end() ? "" : std::string(it->second);
}

std::optional<Fields> sub(const Fields& f, uint32_t field) {
  auto it = f.bytes.find(field);
  if (it == f.bytes.end()) return Fields{};
  return parse(it->second);
}

}  // namespace

std::optional<nlohmann::json> decode_k8s_protobuf(const std::string& body) {
  if (body.size() > kMaxBody || body.size() < 4 || body.compare(0, 4, std::string("k8s\0", 4)) != 0)
    return std::nullopt;
  auto unknown = parse(std::string_view(body).substr(4));
  if (!unknown) return std::nullopt;
  auto type_meta = sub(*unknown, 1);
  auto raw = sub(*unknown, 2);
  if (!type_meta || !raw) return std::nullopt;
  nlohmann::json out = {{"apiVersion", str(*type_meta, 1)}, {"kind", str(*type_meta, 2)}};
  auto spec = sub(*raw, 2);
  if (!spec) return std::nullopt;
  const std::string kind = out["kind"];
  if (kind == "SelfSubjectAccessReview" || kind == "SubjectAccessReview") {
    nlohmann::json s = nlohmann::json::object();
    if (spec->bytes.count(1)) {
      auto ra = sub(*spec, 1);
      if (!ra) return std::nullopt;
      s["resourceAttributes"] = {{"namespace", str(*ra, 1)}, {"verb", str(*ra, 2)},
                                 {"group", str(*ra, 3)},     {"version", str(*ra, 4)},
                                 {"resource", str(*ra, 5)},  {"subresource", str(*ra, 6)},
                                 {"name", str(*ra, 7)}};
    }
    if (spec->bytes.count(2)) {
      auto nra = sub(*spec, 2);
      if (!nra) return std::nullopt;
      s["nonResourceAttributes"] = {{"path", str(*nra, 1)}, {"verb", str(*nra, 2)}};
    }
    if (kind == "SubjectAccessReview") {
      // SubjectAccessReviewSpec: 1 resourceAttributes, 2 nonResourceAttributes, 3 user, 4 groups.
      s["user"] = str(*spec, 3);
    }
    out["spec"] = s;
    return out;
  }
  if (kind == "SelfSubjectRulesReview") {
    out["spec"] = {{"namespace", str(*spec, 1)}};
    return out;
  }
  return std::nullopt;
}

}  // namespace kubesim
