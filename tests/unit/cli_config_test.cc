#include <doctest/doctest.h>

#include <sstream>

#include "cli/config_command.h"

using namespace esk8s;

TEST_CASE("cli: config check prints the effective configuration of a valid environment") {
  plugin::ConfigInput in{{{"ESK8S_SERVICE", "esdb"},
                          {"ESK8S_NAMESPACE", "prod"},
                          {"ESK8S_POD_NAME", "esdb-1"},
                          {"ESK8S_DISCOVERY", "static"},
                          {"ESK8S_STATIC_PEERS", "esdb-0.esdb.prod.svc.cluster.local=10.0.0.1"},
                          {"ESK8S_UNRELATED", "x"}},
                         plugin::ConfigOrigin::kEnvironment};
  plugin::HostFacts facts;
  facts.resolv_conf_path = "/nonexistent";
  std::ostringstream out, err;
  CHECK(cli::config_check(in, facts, out, err) == 0);
  CHECK(out.str().find("identity        esdb-1.esdb.prod.svc.cluster.local") != std::string::npos);
  CHECK(out.str().find("cluster size    2") != std::string::npos);
  CHECK(err.str().find("warning: environment variable ESK8S_UNRELATED") != std::string::npos);
}

TEST_CASE("cli: config check exits 1 listing the problems") {
  plugin::ConfigInput in{{{"ESK8S_HTTP_PORT", "x"}}, plugin::ConfigOrigin::kEnvironment};
  plugin::HostFacts facts;
  std::ostringstream out, err;
  CHECK(cli::config_check(in, facts, out, err) == 1);
  CHECK(err.str().find("ESK8S_SERVICE is not set") != std::string::npos);
  CHECK(err.str().find("ESK8S_HTTP_PORT=\"x\"") != std::string::npos);
  CHECK(out.str().empty());
}

TEST_CASE("cli: config keys lists every key") {
  std::ostringstream out;
  CHECK(cli::config_keys(out) == 0);
  for (const auto& k : plugin::config_keys())
    CHECK(out.str().find(std::string(k.key)) != std::string::npos);
}
