// The quorum gauges of /metrics: the alerting rules (monitoring/prometheus/esk8s-rules.yaml) read
// them, so they must mean what /health/ready and /health/disruptable mean.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "plugin/metrics.h"
#include "plugin/snapshot.h"

namespace esk8s::plugin {
namespace {

std::map<std::string, double> quorum_gauges(uint32_t cluster_size, uint32_t alive,
                                            uint32_t confirmed_alive) {
  ReadinessState r;
  r.cluster_size = cluster_size;
  r.alive = alive;
  r.confirmed_alive = confirmed_alive;
  std::vector<Metric> out;
  append_quorum_metrics(out, r);
  std::map<std::string, double> by_name;
  for (const auto& m : out) {
    CHECK(m.type == "gauge");
    CHECK(m.labels.empty());
    by_name[m.name] = m.value;
  }
  REQUIRE(by_name.size() == out.size());
  return by_name;
}

TEST_CASE("metrics: quorum and safe-disruption gauges follow the probes' rules") {
  struct Case {
    const char* why;
    uint32_t size, alive, confirmed;
    double quorum, safe;
  };
  const Case cases[] = {
      {"healthy three: quorum, and any one member may be stopped", 3, 3, 3, 1, 1},
      {"one of three down: quorum kept, but no member may be stopped", 3, 2, 2, 1, 0},
      // Suspects count for quorum (as /health/ready) but not for a disruption.
      {"five, one suspected: stopping one leaves 3 of 5 confirmed", 5, 5, 4, 1, 1},
      {"five, two suspected: stopping one would leave 2 of 5 confirmed", 5, 5, 3, 1, 0},
      {"two of three down: quorum lost", 3, 1, 1, 0, 0},
      {"unknown size: never a quorum of one", 0, 1, 1, 0, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.why);
    auto g = quorum_gauges(c.size, c.alive, c.confirmed);
    CHECK(g.at("esk8s_quorum") == c.quorum);
    CHECK(g.at("esk8s_cluster_size") == c.size);
    CHECK(g.at("esk8s_disruption_quorum_safe") == c.safe);
  }
}

}  // namespace
}  // namespace esk8s::plugin
