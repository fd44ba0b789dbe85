#include "common/env.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "fake_env.h"
#include "test_util.h"

using esk8s::Env;
using esk8s::real_env;
using esk8s::Status;
using esk8s::test::FakeEnv;
using esk8s::test::TempDir;
using namespace std::chrono_literals;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("env: a real waker returns true at its deadline") {
  auto w = real_env().make_waker();
  const auto start = std::chrono::steady_clock::now();
  CHECK(w->wait_until(real_env().steady_now() + 30ms));
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
}

TEST_CASE("env: a real wake ends a long wait at once and is not lost when it comes first") {
  auto w = real_env().make_waker();
  auto waiting = std::async(std::launch::async, [&] {
    return w->wait_until(real_env().steady_now() + 60s);
  });
  w->wake();
  REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(waiting.get());
  // Sticky: a wait after the wake returns false at once, until reset().
  CHECK_FALSE(w->wait_until(real_env().steady_now() + 60s));
  w->reset();
  CHECK(w->wait_until(real_env().steady_now() + 1ms));
}

TEST_CASE("env: the real env reads regular files, refuses a FIFO and sees a rewrite in stat") {
  TempDir dir;
  const std::string path = dir.write("token", "abc");
  auto text = real_env().read_file(path, 16, "token file");
  REQUIRE(text.is_ok());
  CHECK(text.value() == "abc");
  auto big = real_env().read_file(path, 2, "token file");
  REQUIRE_FALSE(big.is_ok());
  CHECK(contains(big.status().message(), "token file " + path));

  const std::string fifo = dir.path() + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto refused = real_env().read_file(fifo, 16, "token file");
  REQUIRE_FALSE(refused.is_ok());
  CHECK(contains(refused.status().message(), "is a FIFO"));

  auto first = real_env().stat_file(path, "token file");
  REQUIRE(first.is_ok());
  CHECK(first->size == 3);
  // A Kubernetes volume update: a new file renamed over the old path (new inode).
  dir.write("token.new", "abcdef");
  std::filesystem::rename(dir.path() + "/token.new", path);
  auto second = real_env().stat_file(path, "token file");
  REQUIRE(second.is_ok());
  CHECK(second->size == 6);
  CHECK(second->inode != first->inode);

  auto missing = real_env().stat_file(dir.path() + "/absent", "CA file");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(contains(missing.status().message(), "CA file " + dir.path() + "/absent"));
}

TEST_CASE("env: the real env's seeds differ") {
  const uint64_t a = real_env().random_seed(), b = real_env().random_seed();
  CHECK(a != b);  // 2^-64 chance of a false failure
}

TEST_CASE("fake env: a wait returns only when virtual time reaches its deadline") {
  FakeEnv env;
  const auto t0 = env.steady_now();
  const auto s0 = env.system_now();
  CHECK(s0 == esk8s::SystemTime(FakeEnv::kDefaultStart));
  auto w = env.make_waker();
  std::atomic<int> returned{0};
  std::thread waiter([&] {
    if (w->wait_until(t0 + 10s)) ++returned;
  });
  REQUIRE(env.settle(1));
  CHECK(env.next_deadline() == t0 + 10s);
  env.advance(9s);
  REQUIRE(env.settle(1));  // still asleep: its deadline is 1 s ahead
  CHECK(returned == 0);
  env.advance(1s);
  REQUIRE(env.settle(0));
  waiter.join();
  CHECK(returned == 1);
  CHECK(env.steady_now() - t0 == 10s);
  CHECK(env.system_now() - s0 == 10s);
  CHECK_FALSE(env.next_deadline().has_value());
}

TEST_CASE("fake env: settle reports a worker that does not go back to sleep") {
  FakeEnv env;
  auto w = env.make_waker();
  std::promise<void> release;
  std::thread worker([&, done = release.get_future()]() mutable {
    w->wait_until(env.steady_now() + 1s);
    done.wait();  // busy with something the test has not allowed to finish
  });
  REQUIRE(env.settle(1));
  env.advance(1s);
  CHECK_FALSE(env.settle(1, 50ms));
  release.set_value();
  worker.join();
}

TEST_CASE("fake env: wake ends a wait in virtual time and stays until reset") {
  FakeEnv env;
  auto w = env.make_waker();
  auto waiting = std::async(std::launch::async, [&] {
    return w->wait_until(env.steady_now() + 1h);
  });
  REQUIRE(env.settle(1));
  w->wake();
  REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(waiting.get());
  CHECK_FALSE(w->wait_until(env.steady_now() + 1h));
  CHECK(env.elapsed() == std::chrono::steady_clock::duration::zero());
  w->reset();
  CHECK(w->wait_until(env.steady_now()));  // a deadline already reached returns true at once
}

TEST_CASE("fake env: files live in memory with a size bound, new inodes and virtual mtimes") {
  FakeEnv env;
  auto missing = env.read_file("/var/run/token", 16, "token file");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(env.reads("/var/run/token") == 1);

  env.set_file("/var/run/token", "first");
  auto first = env.stat_file("/var/run/token", "token file");
  REQUIRE(first.is_ok());
  CHECK(env.read_file("/var/run/token", 16, "token file").value() == "first");
  auto bounded = env.read_file("/var/run/token", 4, "token file");
  REQUIRE_FALSE(bounded.is_ok());
  CHECK(contains(bounded.status().message(), "larger than the 4 bytes"));

  env.advance(1min);
  env.set_file("/var/run/token", "second");
  auto second = env.stat_file("/var/run/token", "token file");
  REQUIRE(second.is_ok());
  CHECK(second->inode != first->inode);
  CHECK(second->mtime - first->mtime == 1min);
  CHECK(second->size == 6);
  env.remove_file("/var/run/token");
  CHECK(env.stat_file("/var/run/token", "token file").status().code() ==
        Status::Code::kNotFound);
  CHECK(env.reads("/var/run/token") == 3);
}

TEST_CASE("fake env: seeds are a reproducible sequence") {
  const esk8s::SystemTime start(FakeEnv::kDefaultStart);
  FakeEnv a(start, 42), b(start, 42);
  CHECK(a.random_seed() == 42);
  CHECK(a.random_seed() == 43);
  CHECK(b.random_seed() == 42);
}
