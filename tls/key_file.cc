#include "tls/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/file.h"
#include "common/unique_fd.h"

namespace esk8s::tls {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

using Fd = UniqueFd;

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A name in the same directory that no other writer (thread or process) picks at the same time.
std::string temporary_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

Status write_all(int fd, std::string_view content, const std::string& tmp) {
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::io("cannot write " + tmp + ": " + errno_text(errno));
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status write_and_rename(const std::string& path, std::string_view content, mode_t mode,
                        const std::string& tmp) {
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) return Status::io("cannot create " + tmp + ": " + errno_text(errno));
  // open() applied the umask; fchmod sets exactly `mode` (it only ever narrows for keys).
  if (::fchmod(fd.get(), mode) != 0) {
    return Status::io("cannot set mode " + format_mode(mode) + " on " + tmp + ": " +
                      errno_text(errno));
  }
  if (Status s = write_all(fd.get(), content, tmp); !s) return s;
  if (::fsync(fd.get()) != 0) return Status::io("cannot fsync " + tmp + ": " + errno_text(errno));
  if (int err = fd.close_now(); err != 0) {
    return Status::io("cannot close " + tmp + ": " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::io("cannot rename " + tmp + " to " + path + ": " + errno_text(errno));
  }
  return Status::ok();
}

}  // namespace

std::string format_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode) {
  if (path.empty()) return Status::invalid_argument("no file name given to write");
  std::string tmp = temporary_name(path);
  Status s = write_and_rename(path, content, mode, tmp);
  if (!s) {
    ::unlink(tmp.c_str());
    return s;
  }
  // Make the rename itself durable.
  std::string dir = directory_of(path);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
  return Status::ok();
}

Status write_private_key_file(const std::string& path, std::string_view key_pem) {
  return write_file_atomically(path, key_pem, kPrivateKeyFileMode);
}

Status write_certificate_file(const std::string& path, std::string_view cert_pem) {
  return write_file_atomically(path, cert_pem, kCertificateFileMode);
}

namespace {

Result<std::string> read_checked(const std::string& path, std::string_view what, bool private_key) {
  OpenedFileCheck mode_check = nullptr;
  if (private_key) {
    mode_check = [&](const struct stat& st) {
      mode_t mode = st.st_mode & 07777;
      // Group read is allowed: Kubernetes adds it to Secret volume files when the pod sets
      // fsGroup (defaultMode 0400 becomes 0440), and the group is the pod's own. Anything for
      // other users, and group write, is refused.
      const char* problem = (mode & S_IROTH)               ? "readable"
                            : (mode & (S_IWGRP | S_IWOTH)) ? "writable"
                                                           : nullptr;
      if (problem == nullptr) return Status::ok();
      return Status::config(std::string(what) + " " + path + " is " + problem +
                            " by other users (mode " + format_mode(mode) + "); run chmod 600 " +
                            path);
    };
  }
  return read_regular_file(path, kMaxPemFileBytes, what, mode_check);
}

}  // namespace

Result<std::string> read_pem_file(const std::string& path, std::string_view what) {
  return read_checked(path, what, /*private_key=*/false);
}

Result<std::string> read_private_key_file(const std::string& path, std::string_view what) {
  return read_checked(path, what, /*private_key=*/true);
}

}  // namespace esk8s::tls
