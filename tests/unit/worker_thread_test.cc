// common/worker_thread.h: the body is woken by wake_with at once, stop() interrupts a long wait or
// sleep and joins, and nothing is handed over after stop.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <future>

#include "common/worker_thread.h"

using namespace std::chrono_literals;
using esk8s::WorkerThread;

TEST_CASE("worker thread: wake_with hands state to a body waiting an hour, at once") {
  WorkerThread w;
  std::deque<int> queue;  // guarded by w
  std::promise<int> got;
  w.start([&] {
    std::deque<int> batch;
    while (w.wait(1h, [&] { return !queue.empty(); }, [&] { batch.swap(queue); })) {
      if (!batch.empty()) return got.set_value(batch.front());
    }
  });
  CHECK(w.wake_with([&] { queue.push_back(7); }));
  auto f = got.get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);  // not the hour
  CHECK(f.get() == 7);
  w.stop();
}

TEST_CASE("worker thread: stop interrupts a long wait and a long sleep, runs the interrupt once, "
          "and is idempotent") {
  for (bool sleeping : {false, true}) {
    CAPTURE(sleeping);
    WorkerThread w;
    std::atomic<int> rounds{0}, interrupts{0};
    std::promise<void> waiting;
    w.start([&] {
      waiting.set_value();
      while (sleeping ? w.sleep(1h) : w.wait(1h, [] { return false; }, [] {})) ++rounds;
    });
    waiting.get_future().wait();
    const auto t0 = std::chrono::steady_clock::now();
    w.stop([&] { ++interrupts; });
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    w.stop([&] { ++interrupts; });  // already stopped: nothing runs
    CHECK(rounds == 0);
    CHECK(interrupts == 1);
    CHECK_FALSE(w.wake_with([] { FAIL("a change ran after stop"); }));
  }
}
