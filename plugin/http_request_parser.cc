#include "plugin/http_request_parser.h"

#include <cstdint>
#include <limits>

#include <boost/beast/http/error.hpp>

namespace esk8s::plugin {

namespace http = boost::beast::http;

void configure_request_parser(HttpRequestParser& parser) {
  parser.header_limit(static_cast<std::uint32_t>(kHttpMaxHeaderBytes));
  // Judged by refusal_for_body after the method, not by the parser.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

std::optional<HttpRefusal> refusal_for_head_read(const boost::beast::error_code& ec,
                                                 size_t head_bytes) {
  if (!ec) {
    if (head_bytes > kHttpMaxHeaderBytes) return HttpRefusal::kHeaderTooLarge;
    return std::nullopt;
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return HttpRefusal::kHeaderTooLarge;
  }
  if (ec == http::error::body_limit) return HttpRefusal::kBodyTooLarge;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
    return HttpRefusal::kBadRequest;
  }
  return std::nullopt;
}

std::optional<HttpRefusal> refusal_for_body(const HttpRequestParser& parser) {
  if (parser.is_done()) return std::nullopt;
  return HttpRefusal::kBodyTooLarge;
}

}  // namespace esk8s::plugin
