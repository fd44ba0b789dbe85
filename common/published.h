// A value many threads read and one thread replaces (the endpoints' Snapshot, the HTTPS server's
// TLS context): a reader takes a reference-counted copy of the current version and keeps it as long
// as it needs, the writer swaps a new version in. A mutex is held only to copy or swap the pointer,
// never while a version is built or used, so a reader never waits for the writer's work.
//
// Not std::atomic<std::shared_ptr>: libstdc++ 12 guards it with a lock bit that load() releases
// with a relaxed store, so a reader's access is not ordered before the next store by the memory
// model, and ThreadSanitizer reports every publication as a data race.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace esk8s {

template <typename T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> initial = nullptr) : current_(std::move(initial)) {}

  std::shared_ptr<const T> load() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }

  void store(std::shared_ptr<const T> next) {
    std::shared_ptr<const T> old;  // released after the lock, outside the readers' way
    std::lock_guard<std::mutex> lock(mu_);
    old = std::exchange(current_, std::move(next));
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const T> current_;
};

}  // namespace esk8s
