// Why the HTTP server refused or closed a connection, and the counters /metrics exposes as
// esk8s_http_refused_connections_total{reason}. Every reason is exported from the first scrape
// (at 0), so an alert sees the first refusal as a change.
//
// Thread-safety: HttpRefusalCounters may be counted and read from any thread (relaxed atomics);
// the rest are plain values and pure functions.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "plugin/metrics.h"

namespace esk8s::plugin {

// Append-only: the numbers index the counters, the names are metric labels.
enum class HttpRefusal {
  kHeaderTooLarge,    // the request head passed kHttpMaxHeaderBytes: 431, close
  kHeaderTimeout,     // part of a request head arrived, the rest not within http_io_timeout
  kIdleTimeout,       // no byte of a request within the deadline (new or keep-alive connection)
  kConnectionCap,     // evicted or refused to stay under kHttpMaxConnections (or out of fds)
  kBadRequest,        // the bytes are not an HTTP/1.x request: 400, close
  kMethodNotAllowed,  // anything but GET and HEAD: 405, close
  kBodyTooLarge,      // the request announces a body (none is accepted): 413, close
  kTlsHandshake,      // HTTPS: no certificate yet, or the handshake failed or missed its deadline
};
inline constexpr size_t kHttpRefusalReasons = 8;

// The metric label: "header_too_large", "header_timeout", ...
std::string_view to_string(HttpRefusal r);

using HttpRefusalCounts = std::array<uint64_t, kHttpRefusalReasons>;

class HttpRefusalCounters {
 public:
  void count(HttpRefusal r) {
    counts_[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  HttpRefusalCounts load() const;

 private:
  std::array<std::atomic<uint64_t>, kHttpRefusalReasons> counts_{};
};

// One esk8s_http_refused_connections_total sample per reason, zeros included.
std::vector<Metric> refusal_metrics(const HttpRefusalCounts& counts);

}  // namespace esk8s::plugin
