// Decoding what the Kubernetes API sends about discovery.k8s.io/v1 EndpointSlices: single
// objects, EndpointSliceList responses, watch events, and a watch response body arriving in
// arbitrary chunks. Input is untrusted: every failure is a Status naming the offending field by
// its path in the document (e.g. `object.endpoints[2].addresses[0]`), never an exception and
// never a crash.
//
// Shape rules (the API's own defaults):
//   - a field that is absent or JSON null takes its default: `endpoints`/`ports` empty,
//     conditions ready/serving true and terminating false (each one independently, so an absent
//     `ready` is true even when `serving` is present), strings empty, port 0, protocol "TCP";
//   - a field that is present with the wrong JSON type is an error (a string where an array is
//     expected, a non-string address, a port outside 0-65535, ...);
//   - unknown fields are ignored; `kind`, when present and non-empty, must be the expected one;
//   - the service name is the label kubernetes.io/service-name.
// Documents nested deeper than 100 levels are rejected before they are built (no EndpointSlice
// comes close), so hostile input cannot exhaust the stack or memory.
//
// Thread-safety: the free functions are pure. A WatchStreamDecoder is a plain value, used by one
// thread at a time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "discovery/endpointslice.h"
#include "kube/watch_stream.h"

namespace esk8s::discovery {

// The largest single document accepted: one watch line or one list response body. Callers
// listing slices page with `limit` so that a page stays below it.
using kube::kMaxObjectBytes;

// One EndpointSlice object (a list item or a watch event's object). Wrong shape -> Status naming
// the field.
Result<EndpointSlice> parse_endpoint_slice(const nlohmann::json& obj);

// An EndpointSliceList response body: items, metadata.resourceVersion, metadata.continue. A body
// that is a Kubernetes Status (kind "Status") is an error carrying its code, reason and message.
// Bodies larger than kMaxObjectBytes are rejected unread.
Result<SliceList> parse_slice_list(std::string_view body);

// One watch event line {"type": ..., "object": ...} (surrounding whitespace and a trailing "\r"
// are ignored). Types: ADDED, MODIFIED, DELETED (object is an EndpointSlice, resource_version its
// metadata.resourceVersion), BOOKMARK (only object.metadata.resourceVersion is read and it must
// be a non-empty string; everything else may be null or empty) and ERROR (object is a Status:
// code, reason, message fill SliceEvent.status; this is a successfully parsed event, the caller
// decides what a 410 means). A missing or unknown `type`, a missing `object`, malformed JSON or
// a line longer than kMaxObjectBytes are errors.
Result<SliceEvent> parse_watch_event(std::string_view line);

// Incremental decoder for a watch response body (kube::WatchStreamDecoder with
// parse_watch_event): feed it the body in chunks of any size; each complete non-blank line
// yields one Result<SliceEvent> (an error for a bad line, after which decoding continues with the
// next line). A line longer than max_line_bytes yields one error as soon as the limit is crossed
// and is discarded up to its newline: the decoder never buffers more than max_line_bytes. The
// results do not depend on how the body was split into chunks.
class WatchStreamDecoder : public kube::WatchStreamDecoder<SliceEvent> {
 public:
  explicit WatchStreamDecoder(size_t max_line_bytes = kMaxObjectBytes);
};

}  // namespace esk8s::discovery
