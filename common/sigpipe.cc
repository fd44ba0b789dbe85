#include "common/sigpipe.h"

#include <pthread.h>
#include <time.h>

#include <cerrno>

namespace esk8s {

namespace {

sigset_t only_sigpipe() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  return s;
}

bool sigpipe_pending() {
  sigset_t pending;
  sigemptyset(&pending);
  return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

}  // namespace

ScopedSigpipeGuard::ScopedSigpipeGuard() {
  const sigset_t pipe = only_sigpipe();
  pthread_sigmask(SIG_BLOCK, &pipe, &old_mask_);
  was_pending_ = sigpipe_pending();
}

ScopedSigpipeGuard::~ScopedSigpipeGuard() {
  if (!was_pending_ && sigpipe_pending()) {
    const sigset_t pipe = only_sigpipe();
    const timespec zero{0, 0};
    int rc;
    do {
      rc = sigtimedwait(&pipe, nullptr, &zero);
    } while (rc < 0 && errno == EINTR);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

}  // namespace esk8s
