// A thread that works in rounds until it is stopped: the shape every background worker of the
// plugin shares (Kubernetes Events, the disruption guard, the StatefulSet reader).
//
// The owner starts it with a body; the body loops on wait()/sleep(), which return false once
// stop() was called. State the owner's other threads hand to the body is guarded by this
// object's mutex: writers use wake_with() (which also wakes the body), the body reads it in
// wait()'s `take` or in locked(). stop() sets the flag, wakes the body, runs an interrupt (cancel
// the blocking request in flight) and joins.
//
// Thread-safety: start() and stop() from the owner; wake_with() from any thread; wait(), sleep()
// and locked() from the body only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace esk8s {

class WorkerThread {
 public:
  WorkerThread() = default;
  // Stops and joins. Declare it after the state its body uses, so it goes first.
  ~WorkerThread() { stop(); }
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // REQUIRES: not started yet.
  void start(std::function<void()> body) { thread_ = std::thread(std::move(body)); }

  // Runs `change` under the mutex and wakes the body; does nothing after stop() (returns false).
  template <typename F>
  bool wake_with(F&& change) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      std::forward<F>(change)();
    }
    cv_.notify_one();
    return true;
  }

  // Body: waits until `ready()` (checked under the mutex), `timeout` passes or stop(); then runs
  // `take()` under the mutex unless stopping. False once stopping.
  template <typename Rep, typename Period, typename Ready, typename Take>
  bool wait(std::chrono::duration<Rep, Period> timeout, Ready ready, Take take) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return stopping_ || ready(); });
    if (stopping_) return false;
    take();
    return true;
  }

  // Body: sleeps `d` or until stop(). False once stopping.
  template <typename Rep, typename Period>
  bool sleep(std::chrono::duration<Rep, Period> d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stopping_; });
  }

  // Body: runs `fn` under the mutex (reads state that wake_with() writes).
  template <typename F>
  decltype(auto) locked(F&& fn) {
    std::lock_guard lock(mu_);
    return std::forward<F>(fn)();
  }

  // Stops the body: sets the flag, wakes it, runs `interrupt` (may be empty) so a blocking call
  // in the body returns, and joins. Idempotent.
  void stop(const std::function<void()>& interrupt = {}) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ && !thread_.joinable()) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (interrupt) interrupt();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace esk8s
