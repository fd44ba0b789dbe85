// gossip::Suspicion — the Lifeguard suspicion timer of one suspected member.
//
//   min = suspicion_mult * max(1, log10(N)) * probe_interval
//   max = suspicion_max_timeout_mult * min
//   timeout(C) = max(min, max - (max - min) * log(C + 1) / log(K + 1))
//   K = min(indirect_checks, N - 2) expected independent confirmations (K <= 0: min at once)
//
// A fresh suspicion (one accuser) waits `max`; every suspect claim from a further distinct
// accuser is a confirmation (C) and pulls the deadline toward `min`, so a member that many
// members independently fail to reach is declared dead quickly while one member's bad link (or
// its own overload) does not kill anyone fast. The deadline is measured from the start of the
// suspicion.
//
// Thread-safety: none; owned by one Core.
#pragma once

#include <set>
#include <string>

#include "gossip/config.h"
#include "gossip/message.h"

namespace esk8s::gossip {

// The floor `min` for a cluster of `alive` members.
Duration suspicion_min_timeout(const Config& config, size_t alive);
// The ceiling `max` = suspicion_max_timeout_mult * min.
Duration suspicion_max_timeout(const Config& config, size_t alive);
// K for a cluster of `alive` members.
int suspicion_expected_confirmations(const Config& config, size_t alive);
// timeout(C) from the formula above.
Duration suspicion_timeout(Duration min, Duration max, int expected, int confirmations);

class Suspicion {
 public:
  // `accuser` raised the suspicion at `start`.
  Suspicion(Time start, Duration min, Duration max, int expected, const std::string& accuser);

  // Records a suspect claim by `accuser`. Returns true when it is a new independent confirmation
  // (then deadline() may have moved earlier).
  bool confirm(const std::string& accuser);

  Time deadline() const { return deadline_; }
  int confirmations() const { return confirmations_; }

 private:
  Time start_;
  Duration min_, max_;
  int expected_;
  int confirmations_ = 0;
  std::set<std::string> accusers_;
  Time deadline_;
};

}  // namespace esk8s::gossip
