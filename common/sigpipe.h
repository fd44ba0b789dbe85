// A write to a socket whose peer is gone raises SIGPIPE, which ends the process unless it is
// ignored. OpenSSL's socket BIO writes with write(2), without MSG_NOSIGNAL: the alert it sends
// when a read meets a connection the server reset, a close_notify on a dead connection. A plugin
// may not depend on its host ignoring SIGPIPE (many do not), so code that drives OpenSSL over a
// socket runs under a ScopedSigpipeGuard: SIGPIPE is blocked for the calling thread while the
// guard lives (the write fails with EPIPE instead), and on destruction a SIGPIPE the guarded code
// raised is discarded (one that was pending before stays) and the thread's mask is restored.
// SIGPIPE from a write is directed at the writing thread, so other threads are not affected.
//
// Thread-safety: per thread; nest freely.
#pragma once

#include <signal.h>

namespace esk8s {

class ScopedSigpipeGuard {
 public:
  ScopedSigpipeGuard();
  ~ScopedSigpipeGuard();
  ScopedSigpipeGuard(const ScopedSigpipeGuard&) = delete;
  ScopedSigpipeGuard& operator=(const ScopedSigpipeGuard&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;
};

}  // namespace esk8s
