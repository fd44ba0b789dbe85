// Backoff: how long a client of the API server waits after a failed request, with no I/O and
// time as an argument. Exponential with full jitter (client-go's reflector shape): the n-th
// consecutive counted error waits a delay drawn uniformly from [0, min(cap, initial * factor^n)];
// healthy for `reset_after` since the last counted error, n starts again at 0. A 429 waits its
// Retry-After instead (1 s when absent, a negative one taken as 0) and does not grow n.
//
// The generator is the caller's, so a machine that draws other jitter from the same generator
// (the list/watch machine's watch timeouts) keeps one deterministic sequence per seed.
//
// Used by the list/watch machine (kube/watch_state.h) and by the one-shot reads that retry until
// they succeed (the plugin's StatefulSet read).
//
// Thread-safety: none; a plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace esk8s::kube {

struct BackoffPolicy {
  std::chrono::milliseconds initial{800};
  double factor = 2.0;  // >= 1
  std::chrono::milliseconds cap{30000};
  std::chrono::milliseconds reset_after{120000};
};

// Uniform in [0, bound], the same on every standard library (rejection sampling, not a std
// distribution).
uint64_t uniform_upto(std::mt19937_64& rng, uint64_t bound);

class Backoff {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit Backoff(BackoffPolicy policy) : policy_(policy) {}

  // The bound the next counted error at `now` draws from.
  std::chrono::milliseconds ceiling(TimePoint now) const;
  // A counted error at `now`: the delay to wait, drawn from `rng`; the bound grows.
  std::chrono::milliseconds draw(TimePoint now, std::mt19937_64& rng);
  // A request succeeded at `now` (the health that resets n starts at the first one).
  void note_healthy(TimePoint now);
  // The wait after a failed request: Retry-After for a 429, else draw().
  std::chrono::milliseconds after_failure(int http_status,
                                          std::optional<std::chrono::seconds> retry_after,
                                          TimePoint now, std::mt19937_64& rng);

  static std::chrono::seconds retry_after_wait(std::optional<std::chrono::seconds> retry_after);

 private:
  uint32_t exponent(TimePoint now) const;

  BackoffPolicy policy_;
  uint32_t n_ = 0;                          // consecutive counted errors
  std::optional<TimePoint> healthy_since_;  // first success after the last counted error
};

}  // namespace esk8s::kube
