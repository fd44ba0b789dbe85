// The HTTP/1.1 request parser configuration and limits the endpoints use, shared by the server
// (plugin/http_session.cc) and the fuzz target (tests/fuzz/http_request_fuzz.cc) so that what is
// fuzzed is what is served.
//
//   - the request head (request line + fields) is at most kHttpMaxHeaderBytes: 431, close;
//   - no request body is accepted: a request announcing one (Content-Length > 0, chunked) gets
//     413 and the connection closes without reading it. The parser's own body limit is off so
//     that a POST with a body is still answered 405 (the method is judged first);
//   - the read buffer is bounded (kHttpMaxBufferBytes), so no input grows memory past it.
//
// Thread-safety: pure functions and constants.
#pragma once

#include <cstddef>
#include <optional>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "plugin/http_refusals.h"

namespace esk8s::plugin {

inline constexpr size_t kHttpMaxHeaderBytes = 8 * 1024;
// The connection's read buffer: a whole head plus pipelined bytes read along with it.
inline constexpr size_t kHttpMaxBufferBytes = 2 * kHttpMaxHeaderBytes;

using HttpRequestParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;

// Applies the limits above to a fresh parser. REQUIRES: nothing parsed yet.
void configure_request_parser(HttpRequestParser& parser);

// The refusal a head read earns, from its error and the bytes the parser consumed for the head:
// header_limit and buffer_overflow → kHeaderTooLarge, any other parse error → kBadRequest; and a
// head that parsed but took more than kHttpMaxHeaderBytes → kHeaderTooLarge too (Beast judges its
// header limit per read, so a head a little over it passes when its bytes arrive in one read and
// not when they trickle in: the answer must not depend on how the client's bytes were split).
// nullopt for a clean head and for errors that are not the client's request (end of stream,
// timeouts, I/O errors: the caller decides).
std::optional<HttpRefusal> refusal_for_head_read(const boost::beast::error_code& ec,
                                                 size_t head_bytes);

// After a head parsed cleanly: the refusal its body announcement earns (kBodyTooLarge when a body
// follows), nullopt when the request is complete.
std::optional<HttpRefusal> refusal_for_body(const HttpRequestParser& parser);

}  // namespace esk8s::plugin
