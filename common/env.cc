#include "common/env.h"

#include <sys/stat.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>

#include "common/file.h"

namespace esk8s {

namespace {

class RealWaker final : public Waker {
 public:
  bool wait_until(SteadyTime deadline) override {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [this] { return woken_; });
    return !woken_;
  }
  void wake() override {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }
  void reset() override {
    std::lock_guard lock(mu_);
    woken_ = false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;  // guarded by mu_
};

class RealEnv final : public Env {
 public:
  SteadyTime steady_now() override { return std::chrono::steady_clock::now(); }
  SystemTime system_now() override { return std::chrono::system_clock::now(); }
  std::unique_ptr<Waker> make_waker() override { return std::make_unique<RealWaker>(); }

  Result<std::string> read_file(const std::string& path, size_t max_bytes,
                                std::string_view what) override {
    return read_regular_file(path, max_bytes, what);
  }

  Result<FileStat> stat_file(const std::string& path, std::string_view what) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      const int err = errno;
      std::string named = std::string(what) + " " + path;
      if (err == ENOENT) return Status::not_found(named + " does not exist");
      return Status::io("cannot stat " + named + ": " + std::strerror(err));
    }
    FileStat out;
    out.mtime = SystemTime(std::chrono::duration_cast<SystemTime::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    out.size = static_cast<uint64_t>(st.st_size);
    out.inode = static_cast<uint64_t>(st.st_ino);
    out.device = static_cast<uint64_t>(st.st_dev);
    return out;
  }

  uint64_t random_seed() override {
    std::lock_guard lock(mu_);  // std::random_device is not guaranteed to be thread-safe
    return (static_cast<uint64_t>(device_()) << 32) | device_();
  }

 private:
  std::mutex mu_;
  std::random_device device_;  // guarded by mu_
};

}  // namespace

Env& real_env() {
  // A function-local static, destroyed at exit or when the library holding it is unloaded: a
  // heap object that is never freed is reported as a leak once dlclose() unmaps its pointer (the
  // ABI test and esk8s-node unload libesk8s.so). Nothing runs on it after the runtime's threads
  // are joined.
  static RealEnv env;
  return env;
}

}  // namespace esk8s
