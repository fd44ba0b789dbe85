// Env: what esk8s takes from outside the process -- the clocks, waiting, small files and
// randomness -- behind one small interface, in the spirit of leveldb's Env. Code that decides
// something by the time (is a certificate due for renewal, has a peer's certificate expired, is it
// time to re-read the token or re-resolve DNS) asks its Env instead of std::chrono's clocks, waits
// through an Env's Waker instead of a condition variable's timed wait, reads its small files
// through it, and seeds its generators from it. Production passes real_env() (the default
// everywhere); tests pass a fake (tests/unit/fake_env.h) whose time moves only when the test
// advances it and whose files live in memory, so "renews after 20 days", "the token is re-read
// after a minute" or "nothing else happened in the next interval" are checked exactly, in no wall
// time, and cannot pass by accident on a slow machine.
//
// Contract of every Env:
//   - steady_now() never goes backwards; system_now() is the calendar time certificates and
//     tokens are judged by. A fake moves both together.
//   - A Waker is one thread's timer: wait_until(deadline) returns true once the Env's steady
//     clock has reached `deadline`, false as soon as wake() has been called (stop requests win
//     over deadlines). wake() is sticky: every later wait returns false at once until reset(), so
//     a wake() that comes before the wait is never lost.
//   - read_file reads a small regular file with common/file.h's rules (no FIFOs or devices, a
//     size bound, errors naming the file); stat_file gives what rotation checks compare (mtime,
//     size, inode, device) of the file a path leads to (symlinks followed).
//   - random_seed() gives a seed for a generator the caller owns (a fake gives a reproducible
//     sequence); nothing else in esk8s draws from a global generator.
//
// Thread-safety: every Env method may be called from any thread. A Waker's wait_until is called
// by one thread at a time; wake() and reset() from any thread. real_env() lives for the whole
// process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace esk8s {

using SteadyTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;

// What a rotation check compares between two looks at a file: a changed value means the file was
// replaced or rewritten (a Kubernetes volume swaps a symlink, so the inode changes too).
struct FileStat {
  SystemTime mtime{};
  uint64_t size = 0;
  uint64_t inode = 0;
  uint64_t device = 0;
  bool operator==(const FileStat&) const = default;
};

// One thread's timer, made by Env::make_waker (see the contract above).
class Waker {
 public:
  virtual ~Waker() = default;
  // Blocks until the Env's steady clock reaches `deadline` (true) or wake() (false).
  virtual bool wait_until(SteadyTime deadline) = 0;
  // Ends the current wait and every later one (they return false) until reset().
  virtual void wake() = 0;
  virtual void reset() = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  virtual SteadyTime steady_now() = 0;
  virtual SystemTime system_now() = 0;

  // A new timer on this Env's clock. The Env must outlive it.
  virtual std::unique_ptr<Waker> make_waker() = 0;

  // The content of the regular file at `path`, at most `max_bytes` (read_regular_file's errors:
  // not_found, invalid_argument for a non-regular or too large file, io). `what` names the file
  // in errors ("token file").
  virtual Result<std::string> read_file(const std::string& path, size_t max_bytes,
                                        std::string_view what) = 0;
  // Errors: not_found when nothing is at `path`, io when it cannot be examined.
  virtual Result<FileStat> stat_file(const std::string& path, std::string_view what) = 0;

  // A seed for a generator the caller owns (query ids, jitter).
  virtual uint64_t random_seed() = 0;
};

// The process's clocks, files and std::random_device.
Env& real_env();

}  // namespace esk8s
