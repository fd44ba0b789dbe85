// ScopedSigpipeGuard (common/sigpipe.h): a write to a closed socket under the guard fails with
// EPIPE instead of ending the process, whatever the host's SIGPIPE disposition; the thread's mask
// is restored and no signal is left pending. Each case runs in a child process with SIGPIPE at
// its default disposition (deadly), as in a host that does not ignore it.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "common/sigpipe.h"

namespace {

// Exit status of a child that writes to a socket whose peer closed, with or without the guard:
// 0 when the write failed with EPIPE and the mask and pending set are as before; 100+ for a wrong
// result; -SIGNAL when a signal ended it.
int child_writes_to_closed_socket(bool guarded, bool in_thread) {
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    auto body = [&]() -> int {
      int fds[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 101;
      close(fds[1]);
      ssize_t n;
      int err;
      if (guarded) {
        esk8s::ScopedSigpipeGuard guard;
        n = write(fds[0], "x", 1);
        err = errno;
      } else {
        n = write(fds[0], "x", 1);
        err = errno;
      }
      if (n != -1 || err != EPIPE) return 102;
      sigset_t mask, pending;
      pthread_sigmask(SIG_SETMASK, nullptr, &mask);
      if (sigismember(&mask, SIGPIPE)) return 103;  // the mask was not restored
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE)) return 104;  // a signal was left behind
      return 0;
    };
    int rc = 0;
    if (in_thread) {
      std::thread t([&] { rc = body(); });
      t.join();
    } else {
      rc = body();
    }
    _exit(rc);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("sigpipe: a write to a closed socket under the guard fails with EPIPE, the process lives") {
  CHECK(child_writes_to_closed_socket(/*guarded=*/true, /*in_thread=*/false) == 0);
  CHECK(child_writes_to_closed_socket(/*guarded=*/true, /*in_thread=*/true) == 0);
}

TEST_CASE("sigpipe: without the guard the same write ends a host that does not ignore SIGPIPE") {
  CHECK(child_writes_to_closed_socket(/*guarded=*/false, /*in_thread=*/false) == -SIGPIPE);
  CHECK(child_writes_to_closed_socket(/*guarded=*/false, /*in_thread=*/true) == -SIGPIPE);
}

TEST_CASE("sigpipe: a SIGPIPE pending before the guard stays pending and a blocked mask stays blocked") {
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    pthread_kill(pthread_self(), SIGPIPE);
    { esk8s::ScopedSigpipeGuard guard; }
    sigset_t mask, pending;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    sigpending(&pending);
    _exit(sigismember(&mask, SIGPIPE) && sigismember(&pending, SIGPIPE) ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
