#include "tls/san_policy.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/tls/tls_test_util.h"

using namespace esk8s;
using esk8s::test::member;
using Names = std::vector<std::string>;

TEST_CASE("san policy: single namespace gives the pod's four forms, identity as CN, no IP SAN") {
  auto plan = tls::plan_sans(member());
  REQUIRE(plan.is_ok());
  CHECK(plan->identity == "esdb-0.esdb.prod.svc.cluster.local");
  CHECK(plan->common_name == plan->identity);
  CHECK(plan->dns_names == Names{"esdb-0.esdb.prod.svc.cluster.local", "esdb-0.esdb.prod.svc",
                                 "esdb-0.esdb.prod", "esdb-0.esdb"});
  CHECK(plan->ip_addresses.empty());
}

TEST_CASE("san policy: table of inputs and the names they give") {
  struct Row {
    const char* what;
    tls::SanInput in;
    Names dns;
    Names ips;
  };
  tls::SanInput multi_ns = member("esdb-2", "east");
  multi_ns.peer_namespaces = {"west", "north", "west"};
  tls::SanInput custom = member();
  custom.cluster_domain = "k8s.example.org";
  tls::SanInput clients = member();
  clients.client_services = {"esdb-client", "esdb-admin", "esdb-client"};
  tls::SanInput local = member();
  local.include_localhost = true;
  tls::SanInput trailing_dot = member();
  trailing_dot.cluster_domain = "cluster.local.";

  std::vector<Row> rows{
      {"peer namespaces add no names",
       multi_ns,
       {"esdb-2.esdb.east.svc.cluster.local", "esdb-2.esdb.east.svc", "esdb-2.esdb.east",
        "esdb-2.esdb"},
       {}},
      {"custom cluster domain",
       custom,
       {"esdb-0.esdb.prod.svc.k8s.example.org", "esdb-0.esdb.prod.svc", "esdb-0.esdb.prod",
        "esdb-0.esdb"},
       {}},
      {"client services, duplicates dropped",
       clients,
       {"esdb-0.esdb.prod.svc.cluster.local", "esdb-0.esdb.prod.svc", "esdb-0.esdb.prod",
        "esdb-0.esdb", "esdb-client.prod.svc.cluster.local", "esdb-client.prod.svc",
        "esdb-client.prod", "esdb-client", "esdb-admin.prod.svc.cluster.local",
        "esdb-admin.prod.svc", "esdb-admin.prod", "esdb-admin"},
       {}},
      {"localhost with IPv4 and IPv6 loopback",
       local,
       {"esdb-0.esdb.prod.svc.cluster.local", "esdb-0.esdb.prod.svc", "esdb-0.esdb.prod",
        "esdb-0.esdb", "localhost"},
       {"127.0.0.1", "::1"}},
      {"a trailing dot on the domain is ignored",
       trailing_dot,
       {"esdb-0.esdb.prod.svc.cluster.local", "esdb-0.esdb.prod.svc", "esdb-0.esdb.prod",
        "esdb-0.esdb"},
       {}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    auto plan = tls::plan_sans(row.in);
    REQUIRE(plan.is_ok());
    CHECK(plan->dns_names == row.dns);
    CHECK(plan->ip_addresses == row.ips);
    CHECK(plan->common_name == row.dns.front());
  }
}

TEST_CASE("san policy: output is deterministic across calls") {
  tls::SanInput in = member();
  in.client_services = {"b", "a"};
  in.include_localhost = true;
  auto first = tls::plan_sans(in);
  auto second = tls::plan_sans(in);
  REQUIRE(first.is_ok());
  REQUIRE(second.is_ok());
  CHECK(first->dns_names == second->dns_names);
  CHECK(first->ip_addresses == second->ip_addresses);
}

TEST_CASE("san policy: invalid inputs are refused naming the bad value") {
  struct Row {
    const char* what;
    tls::SanInput in;
    const char* message;
  };
  auto with = [](auto change) {
    tls::SanInput in = member();
    change(in);
    return in;
  };
  std::vector<Row> rows{
      {"upper-case pod", with([](auto& in) { in.pod = "Esdb-0"; }), "pod name \"Esdb-0\""},
      {"empty service", with([](auto& in) { in.service = ""; }), "service name \"\""},
      {"underscore namespace", with([](auto& in) { in.namespace_name = "my_ns"; }),
       "namespace \"my_ns\""},
      {"bad domain", with([](auto& in) { in.cluster_domain = "cluster..local"; }),
       "cluster domain \"cluster..local\""},
      {"empty domain", with([](auto& in) { in.cluster_domain = ""; }), "cluster domain \"\""},
      {"dotted client service", with([](auto& in) { in.client_services = {"a.b"}; }),
       "client service name \"a.b\""},
      {"bad peer namespace", with([](auto& in) { in.peer_namespaces = {"-west"}; }),
       "peer namespace \"-west\""},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    auto plan = tls::plan_sans(row.in);
    REQUIRE_FALSE(plan.is_ok());
    CHECK(plan.status().code() == Status::Code::kInvalidArgument);
    CHECK(test::contains(plan.status().message(), row.message));
  }
}

TEST_CASE("san policy: an identity longer than 64 characters has no CN but keeps its DNS SAN") {
  tls::SanInput in = member();
  in.pod = std::string(40, 'a');
  auto plan = tls::plan_sans(in);
  REQUIRE(plan.is_ok());
  CHECK(plan->common_name.empty());
  CHECK(plan->dns_names.front() == plan->identity);
  auto spec = tls::to_cert_spec(in, std::chrono::hours(1));
  REQUIRE(spec.is_ok());
  auto ca = test::make_ca();
  auto cert = test::leaf(spec.value(), ca);
  auto info = tls::inspect_cert(cert.cert_pem);
  REQUIRE(info.is_ok());
  CHECK(info->subject_cn.empty());
  CHECK(info->dns_names.front() == plan->identity);
}

TEST_CASE("san policy: to_cert_spec asks for serverAuth and clientAuth and the given validity") {
  tls::SanInput in = member();
  in.include_localhost = true;
  auto spec = tls::to_cert_spec(in, std::chrono::hours(5));
  REQUIRE(spec.is_ok());
  CHECK(spec->common_name == "esdb-0.esdb.prod.svc.cluster.local");
  CHECK(spec->server_auth);
  CHECK(spec->client_auth);
  CHECK(spec->validity == std::chrono::hours(5));
  CHECK(spec->ip_addresses == Names{"127.0.0.1", "::1"});
}

TEST_CASE("san policy: required names for peers add the cross-namespace forms only with peers") {
  auto alone = tls::required_names_for_peers(member());
  REQUIRE(alone.is_ok());
  CHECK(alone.value() == Names{"esdb-0.esdb.prod.svc.cluster.local"});
  tls::SanInput in = member();
  in.peer_namespaces = {"west"};
  auto spread = tls::required_names_for_peers(in);
  REQUIRE(spread.is_ok());
  CHECK(spread.value() ==
        Names{"esdb-0.esdb.prod.svc.cluster.local", "esdb-0.esdb.prod.svc", "esdb-0.esdb.prod"});
}

TEST_CASE("san policy: signed certificates carry the policy names and the usages sign_csr sets") {
  auto ca = test::make_ca();
  for (auto type : {tls::KeyType::kEcdsaP256, tls::KeyType::kEd25519, tls::KeyType::kRsa2048}) {
    CAPTURE(static_cast<int>(type));
    tls::SanInput in = member();
    in.include_localhost = true;
    auto spec = tls::to_cert_spec(in, std::chrono::hours(24));
    REQUIRE(spec.is_ok());
    auto issued = tls::issue(spec.value(), ca, type);
    REQUIRE(issued.is_ok());
    auto info = tls::inspect_cert(issued->cert_pem);
    REQUIRE(info.is_ok());
    CHECK(info->dns_names == spec->dns_names);
    CHECK(info->ip_addresses == Names{"127.0.0.1", "::1"});
    CHECK(info->key_usage_digital_signature);
    CHECK(info->key_usage_key_encipherment == (type == tls::KeyType::kRsa2048));
    CHECK(info->eku_server_auth);
    CHECK(info->eku_client_auth);
    CHECK_FALSE(info->is_ca);
  }
}
