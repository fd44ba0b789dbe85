#include "kube/backoff.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace esk8s::kube {

using std::chrono::milliseconds;

uint64_t uniform_upto(std::mt19937_64& rng, uint64_t bound) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (bound == kMax) return rng();
  const uint64_t range = bound + 1;
  const uint64_t accept_below = kMax - kMax % range;  // a multiple of range
  uint64_t r = rng();
  while (r >= accept_below) r = rng();
  return r % range;
}

uint32_t Backoff::exponent(TimePoint now) const {
  if (healthy_since_ && now - *healthy_since_ >= policy_.reset_after) return 0;
  return n_;
}

milliseconds Backoff::ceiling(TimePoint now) const {
  const double cap = static_cast<double>(policy_.cap.count());
  double bound = static_cast<double>(policy_.initial.count()) *
                 std::pow(policy_.factor, static_cast<double>(exponent(now)));
  if (!(bound < cap)) bound = cap;  // also catches overflow to infinity
  return milliseconds(static_cast<int64_t>(bound));
}

milliseconds Backoff::draw(TimePoint now, std::mt19937_64& rng) {
  n_ = exponent(now);
  const milliseconds bound = ceiling(now);
  const milliseconds delay(static_cast<int64_t>(
      uniform_upto(rng, static_cast<uint64_t>(std::max<int64_t>(bound.count(), 0)))));
  if (bound < policy_.cap && n_ < std::numeric_limits<uint32_t>::max()) ++n_;
  healthy_since_.reset();
  return delay;
}

void Backoff::note_healthy(TimePoint now) {
  if (!healthy_since_) healthy_since_ = now;
}

std::chrono::seconds Backoff::retry_after_wait(std::optional<std::chrono::seconds> retry_after) {
  return std::max(retry_after.value_or(std::chrono::seconds(1)), std::chrono::seconds(0));
}

milliseconds Backoff::after_failure(int http_status,
                                    std::optional<std::chrono::seconds> retry_after,
                                    TimePoint now, std::mt19937_64& rng) {
  if (http_status == 429) return retry_after_wait(retry_after);
  return draw(now, rng);
}

}  // namespace esk8s::kube
