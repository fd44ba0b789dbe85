// UniqueFd: owns a POSIX file descriptor and closes it on scope exit.
//
// Thread-safety: a plain value; not shared between threads.
#pragma once

#include <unistd.h>

#include <cerrno>

namespace esk8s {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  // Closes now, returning the errno close() reported (0 when fine).
  int close_now() {
    int rc = fd_ >= 0 ? ::close(fd_) : 0;
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

}  // namespace esk8s
