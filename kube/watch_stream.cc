#include "kube/watch_stream.h"

#include <algorithm>
#include <exception>

#include "common/escape.h"
#include "common/text.h"

namespace esk8s::kube {

using nlohmann::json;
using namespace json_read;

namespace {

std::string too_large(std::string_view what, size_t size) {
  return std::string(what) + " is " + std::to_string(size) + " bytes, more than the limit of " +
         std::to_string(kMaxObjectBytes);
}

Result<RawWatchEvent> parse_watch_envelope_unchecked(std::string_view line) {
  if (line.size() > kMaxObjectBytes) {
    return Status::invalid_argument(too_large("watch event", line.size()));
  }
  json doc;
  if (Status s = parse_document(line, "watch event", kMaxDepth, doc); !s) return s;
  if (!doc.is_object()) {
    return Status::invalid_argument("watch event is " + describe(doc) + ", expected an object: " +
                                    truncate_for_log(trim(line), kQuoteBytes));
  }

  const json* type = member(doc, "type");
  if (type == nullptr) {
    return Status::invalid_argument("watch event has no field type: " +
                                    truncate_for_log(trim(line), kQuoteBytes));
  }
  if (!type->is_string()) {
    return with_prefix("watch event: ", wrong_type("type", *type, "a string"));
  }
  RawWatchEvent ev;
  ev.type_name = type->get_ref<const std::string&>();
  const std::string& name = ev.type_name;
  if (name == "ADDED") {
    ev.type = EventType::kAdded;
  } else if (name == "MODIFIED") {
    ev.type = EventType::kModified;
  } else if (name == "DELETED") {
    ev.type = EventType::kDeleted;
  } else if (name == "BOOKMARK") {
    ev.type = EventType::kBookmark;
  } else if (name == "ERROR") {
    ev.type = EventType::kError;
  } else {
    return Status::invalid_argument("watch event field type is \"" + truncate_for_log(name, 64) +
                                    "\", expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR");
  }

  const std::string prefix = "watch event " + name + ": ";
  const json* object = member(doc, "object");
  if (object == nullptr) return Status::invalid_argument(prefix + "has no field object");

  switch (ev.type) {
    case EventType::kError:
      if (Status s = parse_api_status(*object, "object", ev.status); !s) {
        return with_prefix(prefix, s);
      }
      return ev;
    case EventType::kBookmark: {
      // Only metadata.resourceVersion matters; the rest is typically null or empty.
      if (!object->is_object()) {
        return with_prefix(prefix, wrong_type("object", *object, "an object"));
      }
      const json* md = nullptr;
      if (Status s = read_object(*object, "metadata", "object", md); !s) {
        return with_prefix(prefix, s);
      }
      if (md != nullptr) {
        if (Status s = read_string(*md, "resourceVersion", "object.metadata", ev.resource_version);
            !s) {
          return with_prefix(prefix, s);
        }
      }
      if (ev.resource_version.empty()) {
        return Status::invalid_argument(prefix +
                                        "field object.metadata.resourceVersion is "
                                        "missing or empty");
      }
      return ev;
    }
    default:
      ev.object = std::move(doc["object"]);
      return ev;
  }
}

Result<RawListPage> parse_list_envelope_unchecked(std::string_view body,
                                                  std::string_view list_kind) {
  const std::string what = std::string(list_kind) + " response";
  if (body.size() > kMaxObjectBytes) {
    return Status::invalid_argument(too_large(what, body.size()) +
                                    "; list with a smaller `limit`");
  }
  json doc;
  if (Status s = parse_document(body, what, kMaxDepth, doc); !s) return s;
  const std::string prefix = what + ": ";
  if (!doc.is_object()) return with_prefix(prefix, wrong_type("", doc, "an object"));

  std::string kind;
  if (Status s = read_string(doc, "kind", "", kind); !s) return with_prefix(prefix, s);
  if (kind == "Status") {
    ApiStatus st;
    if (Status s = parse_api_status(doc, "", st); !s) return with_prefix(prefix, s);
    return Status::invalid_argument("the API answered with a Status instead of an " +
                                    std::string(list_kind) + ": " + std::to_string(st.code) +
                                    " " + st.reason + ": " + truncate_for_log(st.message, 1024));
  }
  if (Status s = check_kind(doc, "", list_kind); !s) return with_prefix(prefix, s);

  RawListPage list;
  const json* md = nullptr;
  if (Status s = read_object(doc, "metadata", "", md); !s) return with_prefix(prefix, s);
  if (md != nullptr) {
    if (Status s = read_string(*md, "resourceVersion", "metadata", list.resource_version); !s) {
      return with_prefix(prefix, s);
    }
    if (Status s = read_string(*md, "continue", "metadata", list.continue_token); !s) {
      return with_prefix(prefix, s);
    }
  }
  const json* items = nullptr;
  if (Status s = read_array(doc, "items", "", items); !s) return with_prefix(prefix, s);
  if (items != nullptr) list.items = std::move(doc["items"]);
  return list;
}

// The first bytes of a line made of `buffered` followed by `more`: enough to quote it.
std::string line_head(std::string_view buffered, std::string_view more) {
  std::string head(buffered.substr(0, kQuoteBytes + 1));
  head.append(more.substr(0, kQuoteBytes + 1 - head.size()));
  return head;
}

}  // namespace

Result<RawWatchEvent> parse_watch_envelope(std::string_view line) {
  try {
    return parse_watch_envelope_unchecked(line);
  } catch (const std::exception& e) {
    return Status::internal(std::string("watch event: unexpected failure: ") + e.what());
  }
}

Result<RawListPage> parse_list_envelope(std::string_view body, std::string_view list_kind) {
  try {
    return parse_list_envelope_unchecked(body, list_kind);
  } catch (const std::exception& e) {
    return Status::internal(std::string(list_kind) + " response: unexpected failure: " +
                            e.what());
  }
}

// ---- WatchLineSplitter ----------------------------------------------------------------------

WatchLineSplitter::WatchLineSplitter(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

void WatchLineSplitter::feed(std::string_view chunk, const Sink& sink) {
  size_t pos = 0;
  while (pos < chunk.size()) {
    const size_t newline = chunk.find('\n', pos);
    if (discarding_) {
      if (newline == std::string_view::npos) break;  // still inside the over-long line
      discarding_ = false;
      pos = newline + 1;
      continue;
    }
    if (newline == std::string_view::npos) {
      std::string_view rest = chunk.substr(pos);
      if (partial_.size() + rest.size() > max_line_bytes_) {
        report_overlong(line_head(partial_, rest), sink);
        std::string().swap(partial_);
        discarding_ = true;
      } else {
        partial_.append(rest);
      }
      break;
    }
    std::string_view piece = chunk.substr(pos, newline - pos);
    pos = newline + 1;
    if (partial_.size() + piece.size() > max_line_bytes_) {
      report_overlong(line_head(partial_, piece), sink);
      std::string().swap(partial_);
      continue;
    }
    if (partial_.empty()) {
      complete_line(piece, sink);
    } else {
      partial_.append(piece);
      complete_line(partial_, sink);
      partial_.clear();
      // Do not keep a large buffer alive after one large event.
      if (partial_.capacity() > 64 * 1024) std::string().swap(partial_);
    }
  }
}

void WatchLineSplitter::finish(const Sink& sink) {
  if (!discarding_ && !partial_.empty()) complete_line(partial_, sink);
  std::string().swap(partial_);
  discarding_ = false;
}

void WatchLineSplitter::complete_line(std::string_view line, const Sink& sink) {
  if (trim(line).empty()) return;  // blank lines carry nothing
  sink(line);
}

// `line_start` holds more than min(200, max_line_bytes) bytes of the line (it crossed the
// limit). Only that many are quoted, and every way of splitting the stream has seen them by the
// time the limit is crossed: the message is the same however the stream was fed.
void WatchLineSplitter::report_overlong(std::string_view line_start, const Sink& sink) const {
  const size_t shown = std::min(kQuoteBytes, max_line_bytes_);
  sink(Status::invalid_argument("watch stream line is longer than " +
                                std::to_string(max_line_bytes_) +
                                " bytes; skipped it up to its end: " +
                                truncate_for_log(line_start, shown)));
}

}  // namespace esk8s::kube
