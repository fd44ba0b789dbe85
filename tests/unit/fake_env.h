// FakeEnv: an Env (common/env.h) for tests. Its clocks stand still until the test calls
// advance(); its files live in memory (set_file, remove_file); its seeds are 1, 2, 3, ... from the
// seed given. A thread that waits on one of its Wakers sleeps until virtual time reaches the
// deadline or it is woken -- never on the wall clock.
//
// To check "exactly what happened" after moving time, a test advances and then settles:
//   env.advance(10s);          // the worker's deadline passes: it runs one round
//   REQUIRE(env.settle(1));    // ... and is asleep again with a deadline still ahead
//   CHECK(calls == 2);         // nothing else can happen until the next advance()
// settle(n) waits (on the wall clock, bounded) until exactly n waits are blocked with deadlines
// still ahead and none is due: the observable condition that every worker has finished the work
// the last advance() allowed. It is the only wall-clock wait a virtual-time test needs, and it
// returns as soon as the condition holds.
//
// Thread-safety: every method from any thread. The FakeEnv must outlive its Wakers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/env.h"

namespace esk8s::test {

class FakeEnv final : public Env {
 public:
  // 2026-01-01T00:00:00Z: a fixed calendar start, so certificate dates do not depend on the day
  // the test runs.
  static constexpr std::chrono::seconds kDefaultStart{1767225600};

  explicit FakeEnv(SystemTime system_start = SystemTime(kDefaultStart), uint64_t seed = 1)
      : system_start_(system_start), next_seed_(seed) {}
  ~FakeEnv() override = default;
  FakeEnv(const FakeEnv&) = delete;
  FakeEnv& operator=(const FakeEnv&) = delete;

  SteadyTime steady_now() override {
    std::lock_guard lock(mu_);
    return SteadyTime(elapsed_);
  }
  SystemTime system_now() override {
    std::lock_guard lock(mu_);
    return system_start_ + std::chrono::duration_cast<SystemTime::duration>(elapsed_);
  }
  std::chrono::steady_clock::duration elapsed() {
    std::lock_guard lock(mu_);
    return elapsed_;
  }

  // Moves both clocks forward by `d` and lets every wait whose deadline has come return.
  void advance(std::chrono::steady_clock::duration d) {
    {
      std::lock_guard lock(mu_);
      elapsed_ += d;
    }
    cv_.notify_all();
  }

  // True once exactly `n` waits are blocked with deadlines still ahead (and no wait is due or
  // woken); false when that did not happen within `limit` of wall time.
  bool settle(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return idle_waits() == n && due_waits() == 0; });
  }

  // The earliest deadline of a blocked wait, if any (what a test may advance to).
  std::optional<SteadyTime> next_deadline() {
    std::lock_guard lock(mu_);
    std::optional<SteadyTime> out;
    for (const FakeWaker* w : wakers_) {
      if (w->waiting_ && (!out || w->deadline_ < *out)) out = w->deadline_;
    }
    return out;
  }

  // Files. set_file gives the file a new inode and the current virtual time as mtime.
  void set_file(const std::string& path, std::string content) {
    std::lock_guard lock(mu_);
    File& f = files_[path];
    f.content = std::move(content);
    f.stat.size = f.content.size();
    f.stat.inode = ++next_inode_;
    f.stat.device = 1;
    f.stat.mtime = system_start_ + std::chrono::duration_cast<SystemTime::duration>(elapsed_);
  }
  void remove_file(const std::string& path) {
    std::lock_guard lock(mu_);
    files_.erase(path);
  }
  // How many times read_file was asked for `path` (present or not).
  size_t reads(const std::string& path) {
    std::lock_guard lock(mu_);
    auto it = reads_.find(path);
    return it == reads_.end() ? 0 : it->second;
  }

  std::unique_ptr<Waker> make_waker() override { return std::make_unique<FakeWaker>(*this); }

  Result<std::string> read_file(const std::string& path, size_t max_bytes,
                                std::string_view what) override {
    std::lock_guard lock(mu_);
    ++reads_[path];
    auto it = files_.find(path);
    if (it == files_.end()) {
      return Status::not_found(std::string(what) + " " + path + " does not exist");
    }
    if (it->second.content.size() > max_bytes) {
      return Status::invalid_argument(std::string(what) + " " + path + " is larger than the " +
                                      std::to_string(max_bytes) + " bytes esk8s reads");
    }
    return it->second.content;
  }

  Result<FileStat> stat_file(const std::string& path, std::string_view what) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) {
      return Status::not_found(std::string(what) + " " + path + " does not exist");
    }
    return it->second.stat;
  }

  uint64_t random_seed() override {
    std::lock_guard lock(mu_);
    return next_seed_++;
  }

 private:
  class FakeWaker final : public Waker {
   public:
    explicit FakeWaker(FakeEnv& env) : env_(env) {
      std::lock_guard lock(env_.mu_);
      env_.wakers_.insert(this);
    }
    ~FakeWaker() override {
      std::lock_guard lock(env_.mu_);
      env_.wakers_.erase(this);
    }
    bool wait_until(SteadyTime deadline) override {
      std::unique_lock lock(env_.mu_);
      waiting_ = true;
      deadline_ = deadline;
      env_.cv_.notify_all();  // settle() may be waiting for this
      env_.cv_.wait(lock, [&] { return woken_ || SteadyTime(env_.elapsed_) >= deadline; });
      waiting_ = false;
      env_.cv_.notify_all();
      return !woken_;
    }
    void wake() override {
      {
        std::lock_guard lock(env_.mu_);
        woken_ = true;
      }
      env_.cv_.notify_all();
    }
    void reset() override {
      std::lock_guard lock(env_.mu_);
      woken_ = false;
    }

   private:
    friend class FakeEnv;
    FakeEnv& env_;
    // Guarded by env_.mu_.
    bool waiting_ = false;
    bool woken_ = false;
    SteadyTime deadline_{};
  };

  struct File {
    std::string content;
    FileStat stat;
  };

  // REQUIRES: mu_ held.
  size_t idle_waits() const {
    size_t n = 0;
    for (const FakeWaker* w : wakers_) {
      if (w->waiting_ && !w->woken_ && w->deadline_ > SteadyTime(elapsed_)) ++n;
    }
    return n;
  }
  size_t due_waits() const {
    size_t n = 0;
    for (const FakeWaker* w : wakers_) {
      if (w->waiting_ && (w->woken_ || w->deadline_ <= SteadyTime(elapsed_))) ++n;
    }
    return n;
  }

  std::mutex mu_;
  std::condition_variable cv_;  // any change of time, waits or wakes
  // Guarded by mu_.
  const SystemTime system_start_;
  std::chrono::steady_clock::duration elapsed_{};
  uint64_t next_seed_;
  uint64_t next_inode_ = 0;
  std::set<FakeWaker*> wakers_;
  std::map<std::string, File> files_;
  std::map<std::string, size_t> reads_;
};

}  // namespace esk8s::test
