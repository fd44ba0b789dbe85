#include "plugin/http_session.h"

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace esk8s::plugin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// How much the wait for a request's first bytes may read at once (the head read goes on from
// there, up to the buffer's bound).
constexpr size_t kFirstReadBytes = 4096;

std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

}  // namespace

template <class Stream>
HttpSession<Stream>::HttpSession(Stream stream, uint64_t id, HttpSessionHost& host,
                                 HttpSessionTimeouts timeouts, std::shared_ptr<const void> keep)
    : keep_(std::move(keep)), stream_(std::move(stream)), id_(id), host_(host), timeouts_(timeouts) {}

template <class Stream>
void HttpSession<Stream>::start() {
  asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
    self->guarded([&] {
      // One deadline covers the whole first head (and an HTTPS handshake), from the accept.
      beast::get_lowest_layer(self->stream_).expires_after(self->timeouts_.head_timeout);
      if constexpr (std::is_same_v<Stream, HttpsStream>) {
        self->stream_.async_handshake(asio::ssl::stream_base::server,
                                      [self](beast::error_code ec) {
                                        self->guarded([&] { self->on_handshake(ec); });
                                      });
      } else {
        self->read_request();
      }
    });
  });
}

template <class Stream>
void HttpSession<Stream>::on_handshake(const beast::error_code& ec) {
  if (closed_) return;
  if (ec) return refuse_silently(HttpRefusal::kTlsHandshake);
  read_request();
}

template <class Stream>
void HttpSession<Stream>::close_from_outside(std::optional<HttpRefusal> reason) {
  asio::post(stream_.get_executor(), [self = this->shared_from_this(), reason] {
    self->guarded([&] {
      if (self->closed_) return;
      if (reason) self->host_.refused(self->id_, *reason, {});
      self->finish();
    });
  });
}

template <class Stream>
template <class F>
void HttpSession<Stream>::guarded(F&& step) noexcept {
  try {
    step();
  } catch (const std::exception& e) {
    host_.failed(id_, e.what());
    finish();
  } catch (...) {
    host_.failed(id_, "unknown exception");
    finish();
  }
}

template <class Stream>
void HttpSession<Stream>::read_request() {
  if (closed_) return;
  parser_.emplace();
  configure_request_parser(*parser_);
  // A new connection has waited since its accept (the server admitted it as waiting); a kept-alive
  // one waits from now on.
  if (!first_request_) host_.waiting(id_);
  if (buffer_.size() > 0) {  // pipelined bytes: the head has started
    if (!first_request_) beast::get_lowest_layer(stream_).expires_after(timeouts_.head_timeout);
    read_head();
    return;
  }
  if (!first_request_) beast::get_lowest_layer(stream_).expires_after(timeouts_.keep_alive);
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                            self->guarded([&] { self->on_first_bytes(ec, n); });
                          });
}

template <class Stream>
void HttpSession<Stream>::on_first_bytes(const beast::error_code& ec, size_t n) {
  if (closed_) return;
  if (ec == beast::error::timeout) return refuse_silently(HttpRefusal::kIdleTimeout);
  if (ec) return finish();  // the client closed (or reset) between requests
  buffer_.commit(n);
  if (!first_request_) beast::get_lowest_layer(stream_).expires_after(timeouts_.head_timeout);
  read_head();
}

template <class Stream>
void HttpSession<Stream>::read_head() {
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = this->shared_from_this()](beast::error_code ec, size_t used) {
                            self->guarded([&] { self->on_head(ec, used); });
                          });
}

template <class Stream>
void HttpSession<Stream>::on_head(const beast::error_code& ec, size_t head_bytes) {
  if (closed_) return;
  if (ec == beast::error::timeout) return refuse_silently(HttpRefusal::kHeaderTimeout);
  if (std::optional<HttpRefusal> r = refusal_for_head_read(ec, head_bytes)) {
    host_.busy(id_);
    return respond(refusal_answer(*r, {}), {}, false);
  }
  if (ec) return finish();  // the client closed mid-head, or an I/O error
  host_.busy(id_);
  const auto& req = parser_->get();
  HttpRequestHead head{view(req.method_string()), view(req.target())};
  HttpAnswer answer = host_.answer(head);
  if (!answer.refusal) {
    if (std::optional<HttpRefusal> r = refusal_for_body(*parser_)) {
      answer = refusal_answer(*r, head);
    }
  }
  const bool keep_alive = req.keep_alive() && !answer.refusal;
  respond(std::move(answer), head, keep_alive);
}

template <class Stream>
void HttpSession<Stream>::respond(HttpAnswer answer, const HttpRequestHead& head,
                                  bool keep_alive) {
  if (answer.refusal) host_.refused(id_, *answer.refusal, head);
  const bool is_head = head.method == "HEAD";
  response_ = {};
  response_.version(11);
  response_.result(static_cast<unsigned>(answer.status));
  response_.set(http::field::content_type, answer.content_type);
  for (const auto& [name, value] : answer.headers) response_.set(name, value);
  response_.keep_alive(keep_alive);
  if (is_head) {
    response_.content_length(answer.body.size());
  } else {
    response_.body() = std::move(answer.body);
    response_.prepare_payload();
  }
  beast::get_lowest_layer(stream_).expires_after(timeouts_.head_timeout);
  http::async_write(stream_, response_,
                    [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                      self->guarded([&] { self->on_write(ec, keep_alive); });
                    });
}

template <class Stream>
void HttpSession<Stream>::on_write(const beast::error_code& ec, bool keep_alive) {
  if (closed_) return;
  if (ec || !keep_alive) return finish();
  first_request_ = false;
  read_request();
}

template <class Stream>
void HttpSession<Stream>::refuse_silently(HttpRefusal reason) {
  host_.refused(id_, reason, {});
  finish();
}

template <class Stream>
void HttpSession<Stream>::finish() {
  if (closed_) return;
  closed_ = true;
  try {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_send,
                                                       ignored);
    beast::get_lowest_layer(stream_).close();  // cancels the pending operation and the deadline
  } catch (...) {
    // Closing cannot fail in a way worth reporting; the descriptor goes with the session.
  }
  host_.closed(id_);
}

template class HttpSession<beast::tcp_stream>;
template class HttpSession<HttpsStream>;

}  // namespace esk8s::plugin
