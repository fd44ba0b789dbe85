#include "kube/backoff.h"

#include <doctest/doctest.h>

#include <random>

using esk8s::kube::Backoff;
using esk8s::kube::BackoffPolicy;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const Backoff::TimePoint t0{};

BackoffPolicy policy() { return BackoffPolicy{milliseconds(1000), 2.0, milliseconds(8000), seconds(60)}; }

}  // namespace

TEST_CASE("backoff: the bound doubles from initial to the cap and every delay is drawn inside it") {
  Backoff b(policy());
  std::mt19937_64 rng(7);
  const milliseconds expected[] = {milliseconds(1000), milliseconds(2000), milliseconds(4000),
                                   milliseconds(8000), milliseconds(8000), milliseconds(8000)};
  bool some_below_bound = false;
  for (milliseconds bound : expected) {
    CHECK(b.ceiling(t0) == bound);
    const milliseconds d = b.draw(t0, rng);
    CHECK(d >= milliseconds(0));
    CHECK(d <= bound);
    if (d < bound) some_below_bound = true;
  }
  CHECK(some_below_bound);  // jitter: not the bound every time
}

TEST_CASE("backoff: a 429 waits its Retry-After and does not grow the bound, other failures draw") {
  Backoff b(policy());
  std::mt19937_64 rng(1);
  CHECK(b.after_failure(429, seconds(3), t0, rng) == seconds(3));
  CHECK(b.after_failure(429, std::nullopt, t0, rng) == seconds(1));
  CHECK(b.after_failure(429, seconds(-5), t0, rng) == seconds(0));
  CHECK(b.ceiling(t0) == milliseconds(1000));
  CHECK(b.after_failure(503, std::nullopt, t0, rng) <= milliseconds(1000));
  CHECK(b.ceiling(t0) == milliseconds(2000));
  CHECK(b.after_failure(0, std::nullopt, t0, rng) <= milliseconds(2000));
  CHECK(b.ceiling(t0) == milliseconds(4000));
}

TEST_CASE("backoff: healthy for reset_after since the last error starts again from initial") {
  Backoff b(policy());
  std::mt19937_64 rng(3);
  b.draw(t0, rng);
  b.draw(t0, rng);
  CHECK(b.ceiling(t0) == milliseconds(4000));
  b.note_healthy(t0 + seconds(1));
  CHECK(b.ceiling(t0 + seconds(60)) == milliseconds(4000));  // 59 s healthy: not yet
  CHECK(b.ceiling(t0 + seconds(61)) == milliseconds(1000));
  b.draw(t0 + seconds(61), rng);
  CHECK(b.ceiling(t0 + seconds(61)) == milliseconds(2000));
}

TEST_CASE("backoff: the same seed draws the same delays") {
  Backoff a(policy()), b(policy());
  std::mt19937_64 ra(42), rb(42);
  for (int i = 0; i < 10; ++i) CHECK(a.draw(t0, ra) == b.draw(t0, rb));
}
