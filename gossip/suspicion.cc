#include "gossip/suspicion.h"

#include <algorithm>
#include <cmath>

namespace esk8s::gossip {

Duration suspicion_min_timeout(const Config& config, size_t alive) {
  const double scale = std::max(1.0, std::log10(static_cast<double>(std::max<size_t>(alive, 1))));
  const double ns = static_cast<double>(config.suspicion_mult) * scale *
                    static_cast<double>(Duration(config.probe_interval).count());
  return Duration(static_cast<Duration::rep>(ns));
}

Duration suspicion_max_timeout(const Config& config, size_t alive) {
  return suspicion_min_timeout(config, alive) * config.suspicion_max_timeout_mult;
}

int suspicion_expected_confirmations(const Config& config, size_t alive) {
  return std::min(config.indirect_checks, static_cast<int>(alive) - 2);
}

Duration suspicion_timeout(Duration min, Duration max, int expected, int confirmations) {
  if (expected <= 0) return min;
  const double frac = std::log(static_cast<double>(confirmations) + 1.0) /
                      std::log(static_cast<double>(expected) + 1.0);
  const double t =
      static_cast<double>(max.count()) - static_cast<double>((max - min).count()) * frac;
  return std::max(min, Duration(static_cast<Duration::rep>(std::floor(t))));
}

Suspicion::Suspicion(Time start, Duration min, Duration max, int expected,
                     const std::string& accuser)
    : start_(start), min_(min), max_(max), expected_(expected) {
  accusers_.insert(accuser);
  deadline_ = start_ + suspicion_timeout(min_, max_, expected_, confirmations_);
}

bool Suspicion::confirm(const std::string& accuser) {
  if (confirmations_ >= expected_) return false;  // already at the floor (or K <= 0)
  if (!accusers_.insert(accuser).second) return false;
  ++confirmations_;
  deadline_ = start_ + suspicion_timeout(min_, max_, expected_, confirmations_);
  return true;
}

}  // namespace esk8s::gossip
