#include "gossip/bounded_cbor.h"

#include <string>
#include <utility>
#include <vector>

namespace esk8s::gossip {
namespace {

using nlohmann::json;

// Longest nlohmann error text passed on. Its messages name a byte offset and at most the last
// byte read (as hex), never the input, but keep them short anyway.
constexpr size_t kMaxSyntaxErrorChars = 160;

// Builds the DOM bottom-up: an open container lives on `stack_` until its end event, then moves
// into its parent. Every event checks the limits first and returns false to abort the parse.
class BoundedBuilder {
 public:
  explicit BoundedBuilder(const CborLimits& limits) : limits_(limits) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool v) { return add(json(v)); }
  bool number_integer(json::number_integer_t v) {
    // CBOR major type 1 is always negative; nlohmann computes -1 - n in int64 arithmetic, so a
    // non-negative result means n did not fit (the value is below INT64_MIN).
    if (v >= 0) return fail("negative integer below -2^63");
    return add(json(v));
  }
  bool number_unsigned(json::number_unsigned_t v) { return add(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t& /*text*/) { return add(json(v)); }
  bool string(json::string_t& v) { return add(json(std::move(v))); }
  bool binary(json::binary_t& v) {
    return add(json::binary(std::move(static_cast<json::binary_t::container_type&>(v))));
  }

  bool start_array(size_t len) { return open(json::array(), len, "array"); }
  bool end_array() { return close(); }
  bool start_object(size_t len) {
    if (!limits_.allow_maps) return fail("unexpected map");
    return open(json::object(), len, "map");
  }
  bool key(json::string_t& k) {
    Frame& top = stack_.back();
    if (top.value.contains(k)) return fail("duplicate map key");
    top.key = std::move(k);
    return true;
  }
  bool end_object() { return close(); }

  bool parse_error(size_t /*position*/, const std::string& /*last_token*/,
                   const json::exception& ex) {
    if (error_.empty()) {
      error_ = ex.what();
      if (error_.size() > kMaxSyntaxErrorChars) error_.resize(kMaxSyntaxErrorChars);
    }
    return false;
  }

  const std::string& error() const { return error_; }
  bool done() const { return done_; }
  json take() { return std::move(root_); }

 private:
  struct Frame {
    json value;
    std::string key;  // maps: the key of the value that comes next
  };

  bool fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
    return false;
  }

  bool count_item() {
    if (++items_ > limits_.max_items) {
      return fail("more than " + std::to_string(limits_.max_items) + " items");
    }
    return true;
  }

  bool open(json container, size_t len, const char* what) {
    if (!count_item()) return false;
    if (len == static_cast<size_t>(-1)) return fail(std::string("indefinite-length ") + what);
    if (stack_.size() + 1 > limits_.max_depth) {
      return fail("nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    if (len > limits_.max_container) {
      return fail(std::string(what) + " at depth " + std::to_string(stack_.size() + 1) +
                  " declares " + std::to_string(len) + " elements, limit " +
                  std::to_string(limits_.max_container));
    }
    stack_.push_back(Frame{std::move(container), {}});
    return true;
  }

  bool close() {
    json value = std::move(stack_.back().value);
    stack_.pop_back();
    return place(std::move(value));
  }

  bool add(json v) { return count_item() && place(std::move(v)); }

  bool place(json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      done_ = true;
      return true;
    }
    Frame& top = stack_.back();
    if (top.value.is_array()) {
      top.value.push_back(std::move(v));
    } else {
      top.value[std::move(top.key)] = std::move(v);
      top.key.clear();
    }
    return true;
  }

  CborLimits limits_;
  std::vector<Frame> stack_;
  json root_;
  bool done_ = false;
  size_t items_ = 0;
  std::string error_;
};

}  // namespace

Result<nlohmann::json> parse_bounded_cbor(std::span<const uint8_t> bytes,
                                          const CborLimits& limits) {
  if (bytes.empty()) return Status::invalid_argument("empty CBOR input");
  BoundedBuilder builder(limits);
  bool ok = false;
  try {
    ok = json::sax_parse(bytes.data(), bytes.data() + bytes.size(), &builder,
                         json::input_format_t::cbor, /*strict=*/true);
  } catch (const json::exception& e) {
    std::string msg = e.what();
    if (msg.size() > kMaxSyntaxErrorChars) msg.resize(kMaxSyntaxErrorChars);
    return Status::invalid_argument("CBOR: " + msg);
  }
  if (!ok || !builder.done()) {
    const std::string& err = builder.error();
    return Status::invalid_argument("CBOR: " + (err.empty() ? std::string("parse failed") : err));
  }
  return builder.take();
}

const char* cbor_type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "a map";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a text string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
      return "a negative integer";
    case json::value_t::number_unsigned:
      return "an unsigned integer";
    case json::value_t::number_float:
      return "a float";
    case json::value_t::binary:
      return "a byte string";
    case json::value_t::discarded:
      return "a discarded value";
  }
  return "an unknown value";
}

}  // namespace esk8s::gossip
