// QuorumView over what the core sees, for every up/down combination of small clusters.
#include <doctest/doctest.h>

#include <vector>

#include "gossip/quorum.h"
#include "simulator.h"

using namespace esk8s::gossip;
using namespace esk8s::gossip::sim;
using std::chrono::seconds;

namespace {

void check_every_subset(uint32_t n) {
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    std::vector<size_t> up, down;
    for (uint32_t i = 0; i < n; ++i) ((mask >> i) & 1u ? up : down).push_back(i);
    if (up.empty()) continue;
    CAPTURE(n);
    CAPTURE(mask);
    SimOptions o;
    o.seed = n * 1000 + mask;
    o.config = Config::local();
    o.record_events = false;
    Simulator s(o);
    s.add_cluster(n);
    auto all = s.running_nodes();
    REQUIRE(s.run_until([&] { return s.all_see(all, all, MemberState::kAlive); }, seconds(5))
                .satisfied);
    for (size_t d : down) s.crash(d);
    REQUIRE(s.run_until([&] { return s.all_see(up, down, MemberState::kDead); }, seconds(30))
                .satisfied);
    const uint32_t alive = static_cast<uint32_t>(up.size());
    const uint32_t needed = n / 2 + 1;
    for (size_t u : up) {
      const QuorumView q{n, s.core(u).alive_count()};
      CHECK(q.alive == alive);
      CHECK(q.has_quorum() == (alive >= needed));
      CHECK(q.can_lose_self() == (alive >= 1 && alive - 1 >= needed));
    }
  }
}

}  // namespace

TEST_CASE("quorum: every up/down combination of a 3-member cluster gives the expected answers") {
  check_every_subset(3);
}

TEST_CASE("quorum: every up/down combination of a 5-member cluster gives the expected answers") {
  check_every_subset(5);
}

TEST_CASE("quorum: every up/down combination of a 7-member cluster gives the expected answers") {
  check_every_subset(7);
}
