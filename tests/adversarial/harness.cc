#include "tests/adversarial/harness.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

namespace esk8s::adversarial {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::wait_fd;

// ---- what an attack must leave intact ---------------------------------------------------------

Identities identities_at(const ProcessCluster& c, int i) {
  Identities out;
  for (const auto& [id, row] : c.view(i)) {
    out[id] = {row.value("instanceId", ""), row.value("address", "")};
  }
  return out;
}

void check_cluster_unharmed(ProcessCluster& c, const Identities& before, long rss_ceiling_kib) {
  INFO(c.logs());
  for (int i = 0; i < c.size(); ++i) {
    CAPTURE(i);
    REQUIRE_MESSAGE(c.running(i), c.exit_description(i));
    CHECK(http_status(c.ip(i), kHttpPort, "/health/live", 2s) == 200);
    CHECK(http_status(c.ip(i), kHttpPort, "/health/ready", 2s) == 200);
    CHECK(c.rss_kib(i) < rss_ceiling_kib);
#if !defined(__SANITIZE_ADDRESS__)
    // A sanitizer build verifies the attack's signatures an order of magnitude slower, and a
    // node busy with them under load can miss a 200 ms probe and be declared dead, then refute
    // it (same instance, next incarnation: the membership check below still holds).
    CHECK(c.metric(i, "esk8s_gossip_deaths_declared_total").value_or(-1) == 0);
#endif
    auto view = c.view(i);
    CHECK(view.size() == before.size());
    for (const auto& [id, at] : before) {
      CAPTURE(id);
      REQUIRE(view.count(id) == 1);
      CHECK(view[id].value("state", "") == "alive");
      CHECK(view[id].value("instanceId", "") == at.first);
      CHECK(view[id].value("address", "") == at.second);
    }
  }
}

bool wait_gossip_rounds(const ProcessCluster& c, int rounds, std::chrono::milliseconds limit) {
  std::vector<double> start;
  for (int i = 0; i < c.size(); ++i) {
    start.push_back(c.metric(i, "esk8s_gossip_probes_total").value_or(0));
  }
  const double want = static_cast<double>(rounds) * c.size();
  return eventually(
      [&] {
        for (int i = 0; i < c.size(); ++i) {
          double now = c.metric(i, "esk8s_gossip_probes_total").value_or(-1);
          if (now < start[static_cast<size_t>(i)] + want) return false;
        }
        return true;
      },
      limit, kPoll);
}

// ---- TlsConnection ----------------------------------------------------------------------------

TlsConnection::~TlsConnection() { reset(); }

TlsConnection::TlsConnection(TlsConnection&& o) noexcept { *this = std::move(o); }

TlsConnection& TlsConnection::operator=(TlsConnection&& o) noexcept {
  if (this != &o) {
    reset();
    std::swap(ssl_, o.ssl_);
    std::swap(ctx_, o.ctx_);
    std::swap(fd_, o.fd_);
    error_ = std::move(o.error_);
  }
  return *this;
}

void TlsConnection::reset() {
  if (ssl_) SSL_free(static_cast<SSL*>(ssl_));
  if (ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  if (fd_ >= 0) ::close(fd_);
  ssl_ = ctx_ = nullptr;
  fd_ = -1;
}

namespace {
std::string ssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return std::strerror(errno);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

bool use_pem(SSL_CTX* ctx, const Credential& c) {
  BIO* cb = BIO_new_mem_buf(c.cert_pem.data(), static_cast<int>(c.cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(c.key_pem.data(), static_cast<int>(c.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  bool ok = cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok;
}
}  // namespace

bool TlsConnection::connect(const std::string& ip, uint16_t port,
                            const std::optional<Credential>& client,
                            std::chrono::milliseconds timeout) {
  reset();
  // A node may close the connection while we write (that is often the point): an error, not a
  // SIGPIPE that kills the test.
  ::signal(SIGPIPE, SIG_IGN);
  fd_ = tcp_connect(ip, port, timeout);
  if (fd_ < 0) {
    error_ = "tcp connect to " + ip + ":" + std::to_string(port) + " failed";
    return false;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ctx_ = ctx;
  // A hostile member presents whatever key it likes: OpenSSL's default level would refuse to
  // even load an RSA-1024 key on this side.
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (client && !use_pem(ctx, *client)) {
    error_ = "cannot load the client credential: " + ssl_error();
    return false;
  }
  SSL* ssl = SSL_new(ctx);
  ssl_ = ssl;
  SSL_set_fd(ssl, fd_);
  if (SSL_connect(ssl) != 1) {
    error_ = "handshake failed: " + ssl_error();
    return false;
  }
  return true;
}

bool TlsConnection::write(std::string_view bytes) {
  if (!ssl_) return false;
  size_t off = 0;
  while (off < bytes.size()) {
    size_t n = 0;
    if (SSL_write_ex(static_cast<SSL*>(ssl_), bytes.data() + off, bytes.size() - off, &n) != 1) {
      error_ = "write failed: " + ssl_error();
      return false;
    }
    off += n;
  }
  return true;
}

bool TlsConnection::write_frame(std::string_view payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  char header[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
  return write(std::string_view(header, 4)) && write(payload);
}

namespace {
// Non-blocking reads for the lifetime of this object: a readable socket may carry only a TLS
// record that is not application data (a session ticket), and a blocking SSL_read would then
// wait for the socket's receive timeout instead of the caller's deadline.
class NonBlockingReads {
 public:
  explicit NonBlockingReads(int fd) : fd_(fd), flags_(::fcntl(fd, F_GETFL)) {
    ::fcntl(fd_, F_SETFL, flags_ | O_NONBLOCK);
  }
  ~NonBlockingReads() { ::fcntl(fd_, F_SETFL, flags_); }

 private:
  int fd_, flags_;
};

// Reads exactly `want` bytes before `deadline`; false on close, error or timeout.
bool read_exact(SSL* ssl, int fd, char* out, size_t want, Clock::time_point deadline) {
  NonBlockingReads nb(fd);
  size_t got = 0;
  while (got < want) {
    size_t n = 0;
    if (SSL_read_ex(ssl, out + got, want - got, &n) != 1) {
      int err = SSL_get_error(ssl, 0);
      if (err == SSL_ERROR_WANT_READ && wait_fd(fd, POLLIN, deadline)) continue;
      return false;
    }
    got += n;
  }
  return true;
}
}  // namespace

std::optional<std::string> TlsConnection::read_frame(std::chrono::milliseconds timeout) {
  if (!ssl_) return std::nullopt;
  auto deadline = Clock::now() + timeout;
  SSL* ssl = static_cast<SSL*>(ssl_);
  unsigned char h[4];
  if (!read_exact(ssl, fd_, reinterpret_cast<char*>(h), 4, deadline)) return std::nullopt;
  uint32_t n = (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
  if (n > (16u << 20)) return std::nullopt;
  std::string body(n, '\0');
  if (!read_exact(ssl, fd_, body.data(), n, deadline)) return std::nullopt;
  return body;
}

bool TlsConnection::closed_by_peer(std::chrono::milliseconds timeout) {
  if (!ssl_) return true;
  auto deadline = Clock::now() + timeout;
  SSL* ssl = static_cast<SSL*>(ssl_);
  NonBlockingReads nb(fd_);
  char buf[4096];
  while (Clock::now() < deadline) {
    size_t n = 0;
    if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1) {
      int err = SSL_get_error(ssl, 0);
      if (err != SSL_ERROR_WANT_READ) return true;  // EOF, close_notify or reset
      if (!wait_fd(fd_, POLLIN, deadline)) return false;
    }
    // Data (e.g. a frame from the node): keep reading until it closes or time is up.
  }
  return false;
}


}  // namespace esk8s::adversarial
