#include <doctest/doctest.h>

#include "common/identity.h"

using namespace esk8s;

TEST_CASE("identity: DNS-1123 labels follow Kubernetes' rules") {
  CHECK(is_dns1123_label("esdb-0"));
  CHECK(is_dns1123_label("a"));
  CHECK(is_dns1123_label("0abc"));
  CHECK(is_dns1123_label(std::string(63, 'a')));
  CHECK_FALSE(is_dns1123_label(std::string(64, 'a')));
  CHECK_FALSE(is_dns1123_label(""));
  CHECK_FALSE(is_dns1123_label("-a"));
  CHECK_FALSE(is_dns1123_label("a-"));
  CHECK_FALSE(is_dns1123_label("Esdb"));
  CHECK_FALSE(is_dns1123_label("es_db"));
  CHECK_FALSE(is_dns1123_label("es.db"));
}

TEST_CASE("identity: subdomains are dot-separated labels of at most 253 characters") {
  CHECK(is_dns1123_subdomain("cluster.local"));
  CHECK(is_dns1123_subdomain("esdb-0.esdb.prod.svc.cluster.local"));
  CHECK_FALSE(is_dns1123_subdomain("cluster..local"));
  CHECK_FALSE(is_dns1123_subdomain(".cluster.local"));
  CHECK_FALSE(is_dns1123_subdomain("cluster.local."));
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
  long_name.pop_back();  // 255 characters
  CHECK_FALSE(is_dns1123_subdomain(long_name));
}

TEST_CASE("identity: built as pod.service.namespace.svc.domain") {
  CHECK(make_identity("esdb-1", "esdb", "prod", "cluster.local") ==
        "esdb-1.esdb.prod.svc.cluster.local");
}
