#include "common/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace esk8s {

namespace {

std::string named(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path;
}

Status not_regular(std::string_view what, const std::string& path, mode_t mode) {
  return Status::invalid_argument(named(what, path) + " is " +
                                  std::string(describe_file_type(mode)) +
                                  ", not a regular file; esk8s reads only regular files (or "
                                  "symlinks to them)");
}

Status too_large(std::string_view what, const std::string& path, size_t max_bytes,
                 const std::string& size) {
  return Status::invalid_argument(named(what, path) + " is larger than the " +
                                  std::to_string(max_bytes) + " bytes esk8s reads (" + size +
                                  "); is it the right file?");
}

}  // namespace

std::string_view describe_file_type(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symlink";
  return "an unknown kind of file";
}

Result<std::string> read_regular_file(const std::string& path, size_t max_bytes,
                                      std::string_view what, const OpenedFileCheck& check) {
  // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer. O_NOCTTY: a
  // terminal device never becomes our controlling terminal.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) return Status::not_found(named(what, path) + " does not exist");
    struct stat st {};
    // A socket cannot be opened at all (ENXIO); say what it is rather than "no such device".
    if (err == ENXIO && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      return not_regular(what, path, st.st_mode);
    }
    return Status::io("cannot open " + named(what, path) + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Status::io("cannot stat " + named(what, path) + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return not_regular(what, path, st.st_mode);
  if (check) {
    if (Status s = check(st); !s) return s;
  }
  if (static_cast<unsigned long long>(st.st_size) > max_bytes) {
    return too_large(what, path, max_bytes, std::to_string(st.st_size) + " bytes");
  }
  // The size can change between fstat and read (and /proc files report 0): the bound holds for
  // what is actually read.
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::io("cannot read " + named(what, path) + ": " + std::strerror(errno));
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return too_large(what, path, max_bytes, "it grew while being read");
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace esk8s
