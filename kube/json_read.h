// Reading Kubernetes API documents with nlohmann::json, for every object type the client
// decodes (EndpointSlices, CertificateSigningRequests, watch events, Status answers). Input is
// untrusted: every failure is a Status naming the offending field by its path in the document
// (e.g. `object.endpoints[2].addresses[0]`), never an exception escaping a parse_* entry point.
//
// Shape rules (the API's own defaults): a member that is absent or JSON null takes its default
// (the read_* functions leave `out` unchanged); a member present with the wrong JSON type is an
// error; unknown members are ignored.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "kube/watch_state.h"

namespace esk8s::kube::json_read {

// How much of an offending input an error message quotes.
inline constexpr size_t kQuoteBytes = 200;

// "a.b" from "a" and "b" ("b" when the parent is the root, "").
std::string field_path(const std::string& parent, std::string_view key);
// "a[3]".
std::string index_path(const std::string& parent, size_t i);
// "an object", "a string", "null", ... for messages.
std::string describe(const nlohmann::json& v);
// "field a.b", or "the document" for the root.
std::string name_of(const std::string& path);
// "<name_of(path)> is <describe(v)>, expected <expected>".
Status wrong_type(const std::string& path, const nlohmann::json& v, std::string_view expected);
// The same status with `prefix` in front of its message (always invalid_argument).
Status with_prefix(std::string_view prefix, const Status& s);

// The member `key` of `obj` (an object), or nullptr when it is absent or null.
const nlohmann::json* member(const nlohmann::json& obj, const char* key);
// Typed members; `path` is where `obj` sits in its document.
Status read_string(const nlohmann::json& obj, const char* key, const std::string& path,
                   std::string& out);
Status read_bool(const nlohmann::json& obj, const char* key, const std::string& path, bool& out);
// An integer within [lo, hi].
Status read_int(const nlohmann::json& obj, const char* key, const std::string& path, int64_t lo,
                int64_t hi, int64_t& out);
// `out` is nullptr when the member is absent or null.
Status read_object(const nlohmann::json& obj, const char* key, const std::string& path,
                   const nlohmann::json*& out);
Status read_array(const nlohmann::json& obj, const char* key, const std::string& path,
                  const nlohmann::json*& out);

// False when `text` opens more than `limit` arrays/objects at once. Strings are skipped the way
// the JSON lexer reads them, so on the valid prefix the parser will build the count is exact.
bool nesting_within(std::string_view text, size_t limit);
// Parses `text` (one JSON value, surrounding whitespace allowed) into `out`, refusing documents
// nested deeper than `max_depth` before anything is built. `what` names the document in errors.
Status parse_document(std::string_view text, std::string_view what, size_t max_depth,
                      nlohmann::json& out);

// A Kubernetes Status object (kind "Status"): code, reason, message.
Status parse_api_status(const nlohmann::json& obj, const std::string& path, ApiStatus& out);
// `kind`, when present and non-empty, must be `expected`.
Status check_kind(const nlohmann::json& obj, const std::string& path, std::string_view expected);

}  // namespace esk8s::kube::json_read
