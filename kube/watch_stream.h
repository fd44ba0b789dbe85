// Decoding what the Kubernetes API sends for any list/watch, whatever the object type: list
// response pages, watch event lines, and a watch response body arriving in arbitrary chunks.
// The object itself is decoded by a function of the caller's (EndpointSlices in
// discovery/endpointslice.cc, CertificateSigningRequests in plugin/csr_wait.cc); everything
// around it -- size and nesting bounds, the line splitting, the event envelope
// {"type", "object"}, BOOKMARK and ERROR events, Status answers, list metadata -- lives here.
//
// Input is untrusted: every failure is a Status naming the offending field by its path in the
// document, never an exception and never a crash. Documents nested deeper than kMaxDepth levels
// are rejected before they are built, so hostile input cannot exhaust the stack or memory.
//
// Thread-safety: the free functions are pure. A decoder is a plain value, used by one thread at
// a time.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "kube/json_read.h"
#include "kube/watch_state.h"

namespace esk8s::kube {

// The largest single document accepted: one watch line or one list response body. Callers
// listing objects page with `limit` so that a page stays below it.
inline constexpr size_t kMaxObjectBytes = 4 * 1024 * 1024;
// No API object nests more than a few dozen levels (managedFields included).
inline constexpr size_t kMaxDepth = 100;

// Decodes one object found at `path` of its document ("object", "items[3]") into `out`; an error
// names the field. The caller's part of decoding a list or a watch.
template <class Object>
using ObjectParser = std::function<Status(const nlohmann::json&, const std::string&, Object&)>;

// One watch event line with its object not yet decoded.
struct RawWatchEvent {
  EventType type = EventType::kAdded;
  std::string type_name;         // "ADDED", ... (for messages)
  nlohmann::json object;         // ADDED/MODIFIED/DELETED: the object, to decode
  std::string resource_version;  // BOOKMARK: object.metadata.resourceVersion (non-empty)
  ApiStatus status;              // ERROR
};

// One watch event line {"type": ..., "object": ...} (surrounding whitespace and a trailing "\r"
// are ignored). Types: ADDED, MODIFIED, DELETED (object kept for the caller's parser), BOOKMARK
// (only object.metadata.resourceVersion is read and it must be a non-empty string; everything
// else may be null or empty) and ERROR (object is a Status: code, reason, message; this is a
// successfully parsed event, the caller decides what a 410 means). A missing or unknown `type`,
// a missing `object`, malformed JSON or a line longer than kMaxObjectBytes are errors.
Result<RawWatchEvent> parse_watch_envelope(std::string_view line);

// One list response page with its items not yet decoded.
struct RawListPage {
  nlohmann::json items = nlohmann::json::array();  // an array (empty when absent or null)
  std::string resource_version;
  std::string continue_token;
};

// A `<list_kind>` response body ("EndpointSliceList"): items, metadata.resourceVersion,
// metadata.continue. A body that is a Kubernetes Status (kind "Status") is an error carrying its
// code, reason and message. Bodies larger than kMaxObjectBytes are rejected unread.
Result<RawListPage> parse_list_envelope(std::string_view body, std::string_view list_kind);

// The typed forms: the envelope, then each object through `parse`. For ADDED/MODIFIED/DELETED
// the event's resource_version is the object's (Traits::resource_version).
template <class Object, class Traits = ObjectTraits<Object>>
Result<WatchEvent<Object>> parse_watch_event_as(std::string_view line,
                                                const ObjectParser<Object>& parse) {
  try {
    auto raw = parse_watch_envelope(line);
    if (!raw.is_ok()) return raw.status();
    RawWatchEvent& r = raw.value();
    WatchEvent<Object> ev;
    ev.type = r.type;
    ev.resource_version = std::move(r.resource_version);
    ev.status = std::move(r.status);
    if (r.type == EventType::kBookmark || r.type == EventType::kError) return ev;
    if (Status s = parse(r.object, "object", ev.object); !s) {
      return json_read::with_prefix("watch event " + r.type_name + ": ", s);
    }
    ev.resource_version = Traits::resource_version(ev.object);
    return ev;
  } catch (const std::exception& e) {
    return Status::internal(std::string("watch event: unexpected failure: ") + e.what());
  }
}

template <class Object>
Result<ListPage<Object>> parse_list_as(std::string_view body, std::string_view list_kind,
                                       const ObjectParser<Object>& parse) {
  const std::string prefix = std::string(list_kind) + " response: ";
  try {
    auto raw = parse_list_envelope(body, list_kind);
    if (!raw.is_ok()) return raw.status();
    ListPage<Object> page;
    page.resource_version = std::move(raw.value().resource_version);
    page.continue_token = std::move(raw.value().continue_token);
    const nlohmann::json& items = raw.value().items;
    page.items.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (Status s = parse(items[i], json_read::index_path("items", i), page.items[i]); !s) {
        return json_read::with_prefix(prefix, s);
      }
    }
    return page;
  } catch (const std::exception& e) {
    return Status::internal(prefix + "unexpected failure: " + e.what());
  }
}

// Splits a watch response body, fed in chunks of any size, into its newline-delimited lines:
// an event may span chunks and one chunk may hold several. "\r\n" line ends are tolerated and
// blank lines skipped. A line longer than max_line_bytes (not counting its "\n") yields one
// error as soon as the limit is crossed and is discarded up to its newline: the splitter never
// buffers more than max_line_bytes. The lines and errors do not depend on how the body was split
// into chunks.
class WatchLineSplitter {
 public:
  // Called for each complete non-blank line (a view valid during the call) or over-long line
  // (an error).
  using Sink = std::function<void(Result<std::string_view>)>;

  explicit WatchLineSplitter(size_t max_line_bytes = kMaxObjectBytes);

  void feed(std::string_view chunk, const Sink& sink);
  // End of the body: hands over a trailing line that lacks its newline, then resets the
  // splitter so it can be reused for a new body.
  void finish(const Sink& sink);

  // Bytes of the incomplete current line held in memory (<= max_line_bytes).
  size_t buffered_bytes() const { return partial_.size(); }

 private:
  void complete_line(std::string_view line, const Sink& sink);
  void report_overlong(std::string_view line_start, const Sink& sink) const;

  size_t max_line_bytes_;
  std::string partial_;      // the current line so far, when it did not end in the last chunk
  bool discarding_ = false;  // inside an over-long line: skip up to the next newline
};

// Incremental decoder for a watch response body: each complete non-blank line yields one
// Result<Event> (an error for a bad line, after which decoding simply continues with the next
// line), decoded by `parse` (e.g. a parse_watch_event_as instantiation).
template <class Event>
class WatchStreamDecoder {
 public:
  using LineParser = std::function<Result<Event>(std::string_view)>;

  explicit WatchStreamDecoder(LineParser parse, size_t max_line_bytes = kMaxObjectBytes)
      : parse_(std::move(parse)), lines_(max_line_bytes) {}

  // Results of the lines completed by `chunk`, in stream order.
  std::vector<Result<Event>> feed(std::string_view chunk) {
    std::vector<Result<Event>> out;
    lines_.feed(chunk, collector(out));
    return out;
  }
  // End of the body: decodes a trailing line that lacks its newline, then resets the decoder so
  // it can be reused for a new body.
  std::vector<Result<Event>> finish() {
    std::vector<Result<Event>> out;
    lines_.finish(collector(out));
    return out;
  }

  size_t buffered_bytes() const { return lines_.buffered_bytes(); }

 private:
  WatchLineSplitter::Sink collector(std::vector<Result<Event>>& out) const {
    return [this, &out](Result<std::string_view> line) {
      if (line.is_ok()) {
        out.push_back(parse_(line.value()));
      } else {
        out.push_back(line.status());
      }
    };
  }

  LineParser parse_;
  WatchLineSplitter lines_;
};

}  // namespace esk8s::kube
