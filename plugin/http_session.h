// One HTTP/1.1 connection of the endpoints' server: reads request heads with deadlines and
// limits, answers them through its host, writes the answers, keeps the connection alive or closes
// it. Every step is an asynchronous operation on the connection's own strand, so a slow or idle
// client holds no thread. No exception leaves a handler: a failure closes this connection only.
//
// Deadlines (on the stream, Beast-style):
//   - the first request's head must be complete within `head_timeout` of the accept;
//   - between requests, the first byte of the next one must arrive within `keep_alive`
//     (idle_timeout), then its whole head within `head_timeout` (header_timeout);
//   - each answer must be written within `head_timeout`.
//
// The session is a template over its stream: beast::tcp_stream for HTTP and
// beast::ssl_stream<beast::tcp_stream> (HttpsStream) for HTTPS. A TLS session first completes the
// server handshake within the first head's deadline (a failure is counted as tls_handshake); a
// closing session closes the socket without a TLS close_notify (every answer carries its length,
// so no client needs one). Deadlines and closing go through the lowest layer.
//
// Thread-safety: start() and close_from_outside() may be called from any thread; everything else
// runs on the session's strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "plugin/http_refusals.h"
#include "plugin/http_request_parser.h"
#include "plugin/http_router.h"

namespace esk8s::plugin {

// What a session needs from its server. Every method may be called from any session's strand
// concurrently and must not throw.
class HttpSessionHost {
 public:
  virtual ~HttpSessionHost() = default;
  // The answer to a parsed request head (route_request over the current state).
  virtual HttpAnswer answer(const HttpRequestHead& head) noexcept = 0;
  // Counts (and logs at debug level, truncated) a refusal of connection `id`.
  virtual void refused(uint64_t id, HttpRefusal reason, const HttpRequestHead& head) noexcept = 0;
  // Connection `id` starts waiting for a request head / has received one (the eviction policy).
  virtual void waiting(uint64_t id) noexcept = 0;
  virtual void busy(uint64_t id) noexcept = 0;
  // Connection `id` is closed; it calls nothing after this.
  virtual void closed(uint64_t id) noexcept = 0;
  // Something unexpected was thrown while serving connection `id` (which is then closed).
  virtual void failed(uint64_t id, std::string_view what) noexcept = 0;
};

struct HttpSessionTimeouts {
  std::chrono::milliseconds head_timeout{2000};  // Timings::http_io_timeout
  std::chrono::milliseconds keep_alive{1000};    // Timings::http_keep_alive
};

// The server's handle on a connection.
class HttpConnection {
 public:
  virtual ~HttpConnection() = default;
  // Starts serving. Call once.
  virtual void start() = 0;
  // Closes the connection on its strand; counts `reason` (through the host) unless nullopt.
  virtual void close_from_outside(std::optional<HttpRefusal> reason) = 0;
};

using HttpsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

template <class Stream>
class HttpSession final : public HttpConnection,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  // `host` must outlive every handler of this session (the server destroys its io_context first).
  // `keep` is held as long as the session: what the stream refers to (an HTTPS session's TLS
  // context, through its snapshot).
  HttpSession(Stream stream, uint64_t id, HttpSessionHost& host, HttpSessionTimeouts timeouts,
              std::shared_ptr<const void> keep = nullptr);

  void start() override;
  void close_from_outside(std::optional<HttpRefusal> reason) override;

 private:
  template <class F>
  void guarded(F&& step) noexcept;
  void on_handshake(const boost::beast::error_code& ec);
  void read_request();
  void on_first_bytes(const boost::beast::error_code& ec, size_t n);
  void read_head();
  void on_head(const boost::beast::error_code& ec, size_t head_bytes);
  void respond(HttpAnswer answer, const HttpRequestHead& head, bool keep_alive);
  void on_write(const boost::beast::error_code& ec, bool keep_alive);
  void refuse_silently(HttpRefusal reason);
  void finish();

  std::shared_ptr<const void> keep_;  // declared before stream_: outlives it
  Stream stream_;
  uint64_t id_;
  HttpSessionHost& host_;
  HttpSessionTimeouts timeouts_;
  boost::beast::flat_buffer buffer_{kHttpMaxBufferBytes};
  std::optional<HttpRequestParser> parser_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  bool first_request_ = true;
  bool closed_ = false;
};

extern template class HttpSession<boost::beast::tcp_stream>;
extern template class HttpSession<HttpsStream>;

}  // namespace esk8s::plugin
