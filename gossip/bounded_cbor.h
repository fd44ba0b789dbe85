// A CBOR reader with hard limits, for bytes that come from the network. nlohmann's own from_cbor
// recurses once per nesting level and builds whatever the input describes, so a hostile 8 MiB
// frame of nested arrays would overflow the stack and a frame of tiny items would cost hundreds of
// megabytes of DOM. This reader drives nlohmann's SAX interface and aborts the parse as soon as
// the input exceeds the nesting depth, the declared container size or the total number of items
// it is given, so the stack depth and the DOM it builds are bounded by the limits, not the input.
//
// What it accepts is a subset of CBOR: definite-length arrays and maps (an indefinite-length one
// is rejected), map keys that are text strings and appear once, no tags. Integers keep their CBOR
// major type: unsigned integers become number_unsigned and negative ones number_integer (a
// negative integer below INT64_MIN is rejected).
//
// Used by the wire codec (wire.cc) and the host-status codec (host_status.cc); not a public API.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>

#include "common/status.h"

namespace esk8s::gossip {

struct CborLimits {
  size_t max_depth = 4;       // nesting of arrays and maps; the top-level container is depth 1
  size_t max_container = 16;  // elements (or key/value pairs) one array or map may declare
  size_t max_items = 64;      // every value counted once, containers included
  bool allow_maps = false;    // maps at any depth (the wire envelope uses only arrays)
};

// Parses exactly one CBOR data item that fills `bytes` (trailing bytes are an error). Errors
// (invalid_argument) name the limit or the syntax error and the byte offset, never the input.
Result<nlohmann::json> parse_bounded_cbor(std::span<const uint8_t> bytes, const CborLimits& limits);

// The CBOR-flavoured name of a DOM value's type with its article, for error messages ("port is
// a text string"): "an unsigned integer", "a negative integer", "a text string", "a byte string",
// "an array", "a map", "a boolean", "null", "a float".
const char* cbor_type_name(const nlohmann::json& v);

}  // namespace esk8s::gossip
