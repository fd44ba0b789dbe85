#include <doctest/doctest.h>

#include <initializer_list>

#include "gossip/quorum.h"

using esk8s::gossip::QuorumView;

TEST_CASE("quorum: a majority of the configured size is needed, in every up/down combination") {
  // size -> (alive -> has quorum, can lose self)
  struct Row {
    uint32_t size, alive;
    bool quorum, can_lose_self;
  };
  for (Row r : {Row{1, 0, false, false}, Row{1, 1, true, false}, Row{3, 1, false, false},
                Row{3, 2, true, false}, Row{3, 3, true, true}, Row{4, 2, false, false},
                Row{4, 3, true, false}, Row{4, 4, true, true}, Row{5, 2, false, false},
                Row{5, 3, true, false}, Row{5, 4, true, true}, Row{5, 5, true, true},
                Row{7, 3, false, false}, Row{7, 4, true, false}, Row{7, 5, true, true},
                // An unknown size (0) never has a quorum, however many are alive.
                Row{0, 0, false, false}, Row{0, 1, false, false}, Row{0, 5, false, false}}) {
    CAPTURE(r.size);
    CAPTURE(r.alive);
    QuorumView q{r.size, r.alive};
    CHECK(q.has_quorum() == r.quorum);
    CHECK(q.can_lose_self() == r.can_lose_self);
  }
  CHECK(QuorumView{3, 0}.needed() == 2);
  CHECK(QuorumView{4, 0}.needed() == 3);
}
