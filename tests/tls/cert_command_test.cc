#include "cli/cert_command.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/tls/tls_test_util.h"

using namespace esk8s;
using test::contains;
using test::file_mode;
using test::kDay;
using Args = std::vector<std::string>;

namespace {

struct Run {
  int code;
  std::string out, err;
};

Run cert(const Args& args, cli::CertContext ctx = {}) {
  if (ctx.resolv_conf_path == "/etc/resolv.conf") ctx.resolv_conf_path = "/nonexistent";
  std::ostringstream out, err;
  int code = cli::cert_command(args, ctx, out, err);
  return {code, out.str(), err.str()};
}

// A CA made by `esk8s cert create-ca` in `dir`/ca.
std::string create_ca(const test::TempDir& dir) {
  std::string ca = dir.path() + "/ca";
  Run r = cert({"create-ca", "--out", ca});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  return ca;
}

Args node_args(const std::string& ca, const std::string& out) {
  return {"create-node", "--ca",        ca,     "--pod", "esdb-0", "--service",
          "esdb",        "--namespace", "prod", "--out", out};
}

}  // namespace

TEST_CASE("cert cli: create-ca writes ca.crt 0644 and ca.key 0600 and refuses to overwrite") {
  test::TempDir dir;
  std::string ca = dir.path() + "/ca";
  Run r = cert({"create-ca", "--out", ca, "--name", "prod CA", "--validity-days", "365"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(file_mode(ca + "/ca.crt") == 0644);
  CHECK(file_mode(ca + "/ca.key") == 0600);
  CHECK(contains(r.out, "CA \"prod CA\""));
  CHECK_FALSE(contains(r.out, "PRIVATE KEY"));
  auto info = tls::inspect_cert(tls::read_pem_file(ca + "/ca.crt", "ca").value());
  REQUIRE(info.is_ok());
  CHECK(info->is_ca);
  CHECK(info->subject_cn == "prod CA");
  CHECK(info->key_type == "ECDSA P-256");

  std::string before = tls::read_pem_file(ca + "/ca.key", "key").value();
  Run again = cert({"create-ca", "--out", ca});
  CHECK(again.code == 1);
  CHECK(contains(again.err, "already exists; pass --force"));
  CHECK(tls::read_pem_file(ca + "/ca.key", "key").value() == before);

  Run forced = cert({"create-ca", "--out", ca, "--force", "--key-type", "ed25519"});
  CHECK(forced.code == 0);
  CHECK(tls::read_pem_file(ca + "/ca.key", "key").value() != before);
  CHECK(tls::inspect_cert(tls::read_pem_file(ca + "/ca.crt", "ca").value())->key_type == "Ed25519");
}

TEST_CASE("cert cli: create-ca prints the kubectl create secret hint with -n for each namespace") {
  test::TempDir dir;
  std::string ca = dir.path() + "/ca";
  const std::string files = " create secret generic esk8s-ca --from-file=ca.crt=" + ca +
                            "/ca.crt --from-file=ca.key=" + ca + "/ca.key\n";
  Run none = cert({"create-ca", "--out", ca});
  REQUIRE_MESSAGE(none.code == 0, none.err);
  CHECK(contains(none.out, "every namespace that runs members of the cluster"));
  CHECK(contains(none.out, "  kubectl -n NAMESPACE" + files));
  Run two =
      cert({"create-ca", "--out", ca, "--force", "--namespace", "esdb-a", "--namespace=esdb-b"});
  REQUIRE_MESSAGE(two.code == 0, two.err);
  CHECK(contains(two.out, "  kubectl -n esdb-a" + files + "  kubectl -n esdb-b" + files));
  CHECK_FALSE(contains(two.out, "NAMESPACE"));
  Run bad = cert({"create-ca", "--out", dir.path() + "/x", "--namespace", "Bad;ns"});
  CHECK(bad.code == 2);
  CHECK(contains(bad.err, "--namespace \"Bad;ns\" is not a namespace name"));
}

TEST_CASE("cert cli: usage errors exit 2") {
  test::TempDir dir;
  struct Row {
    Args args;
    const char* message;
  };
  std::vector<Row> rows{
      {{}, "a subcommand is needed"},
      {{"frobnicate"}, "unknown subcommand \"frobnicate\""},
      {{"create-ca"}, "--out is required"},
      {{"create-ca", "--out", dir.path(), "--bogus"}, "unknown option \"--bogus\""},
      {{"create-ca", "--out", dir.path(), "--key-type", "dsa"}, "unknown key type \"dsa\""},
      {{"create-ca", "--out", dir.path(), "--validity-days", "0"}, "--validity-days \"0\""},
      {{"create-node", "--ca", dir.path(), "--out", dir.path()}, "--pod is required"},
      {{"create-node", "--ca", dir.path(), "--pod", "Bad", "--service", "esdb", "--namespace", "p",
        "--out", dir.path()},
       "pod name \"Bad\""},
      {{"inspect"}, "FILE is required"},
      {{"inspect", "x.crt", "--pod", "esdb-0"}, "go together"},
      {{"inspect", dir.path() + "/missing.crt"}, "does not exist"},
      {{"inspect", "a.crt", "b.crt"}, "unexpected argument \"b.crt\""},
  };
  for (const Row& row : rows) {
    CAPTURE(row.message);
    Run r = cert(row.args);
    CHECK(r.code == 2);
    CHECK(contains(r.err, row.message));
    CHECK(contains(r.err, "usage:"));
  }
}

TEST_CASE("cert cli: create-node writes a TLS secret's files with the policy names") {
  test::TempDir dir;
  std::string ca = create_ca(dir);
  std::string out = dir.path() + "/esdb-0";
  Args args = node_args(ca, out);
  for (const char* extra : {"--client-service", "esdb-client", "--peer-namespace", "west"}) {
    args.push_back(extra);
  }
  args.push_back("--localhost");
  cli::CertContext ctx;
  test::TempDir etc;
  ctx.resolv_conf_path =
      etc.write("resolv.conf", "search prod.svc.corp.example svc.corp.example corp.example\n");
  Run r = cert(args, ctx);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(file_mode(out + "/tls.crt") == 0644);
  CHECK(file_mode(out + "/tls.key") == 0600);
  CHECK(file_mode(out + "/ca.crt") == 0644);
  CHECK(contains(r.out, "cluster domain corp.example (from " + ctx.resolv_conf_path + ")"));
  CHECK(contains(r.out, "DNS SAN  esdb-0.esdb.prod.svc.corp.example"));
  CHECK(contains(r.out, "DNS SAN  esdb-client.prod.svc.corp.example"));
  CHECK(contains(r.out, "IP SAN   ::1"));
  CHECK_FALSE(contains(r.out, "PRIVATE KEY"));

  std::string crt = tls::read_pem_file(out + "/tls.crt", "c").value();
  std::string bundle = tls::read_pem_file(out + "/ca.crt", "c").value();
  CHECK(bundle == tls::read_pem_file(ca + "/ca.crt", "c").value());
  CHECK(tls::verify_chain(crt, bundle, test::Clock::now()).is_ok());
  auto info = tls::inspect_cert(crt);
  REQUIRE(info.is_ok());
  CHECK(info->dns_names.size() == 9);
  CHECK(info->ip_addresses == std::vector<std::string>{"127.0.0.1", "::1"});

  Run again = cert(node_args(ca, out));
  CHECK(again.code == 1);
  CHECK(contains(again.err, "already exists"));
}

TEST_CASE("cert cli: create-node defaults to cluster.local and refuses a readable CA key") {
  test::TempDir dir;
  std::string ca = create_ca(dir);
  Run r = cert(node_args(ca, dir.path() + "/n"));
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, "cluster domain cluster.local (from default)"));
  ::chmod((ca + "/ca.key").c_str(), 0644);
  Run refused = cert(node_args(ca, dir.path() + "/m"));
  CHECK(refused.code == 1);
  CHECK(contains(refused.err, "CA key " + ca +
                                  "/ca.key is readable by other users (mode 0644); "
                                  "run chmod 600 " +
                                  ca + "/ca.key"));
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/m/tls.key"));
}

TEST_CASE("cert cli: inspect of a good member certificate exits 0") {
  test::TempDir dir;
  std::string ca = create_ca(dir);
  std::string out = dir.path() + "/n";
  REQUIRE(cert(node_args(ca, out)).code == 0);
  Run r = cert({"inspect", out + "/tls.crt", "--pod", "esdb-0", "--service", "esdb", "--namespace",
                "prod", "--cluster-domain", "cluster.local", "--ca", ca + "/ca.crt"});
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(contains(r.out, "subject      CN=esdb-0.esdb.prod.svc.cluster.local"));
  CHECK(contains(r.out, "issuer       CN=esk8s cluster CA"));
  CHECK(contains(r.out, "key type     ECDSA P-256"));
  CHECK(contains(r.out, "key usage    digitalSignature"));
  CHECK(contains(r.out, "ext key use  serverAuth, clientAuth"));
  CHECK(contains(r.out, "no problems found"));

  Run json = cert({"inspect", out + "/tls.crt", "--json"});
  CHECK(json.code == 0);
  auto j = nlohmann::json::parse(json.out);
  CHECK(j["problems"].empty());
  CHECK(j["dns_names"].size() == 4);
  CHECK(j["extended_key_usage"] == nlohmann::json::array({"serverAuth", "clientAuth"}));
}

TEST_CASE("cert cli: inspect reports IP SANs, pod addresses, wildcards and usages and exits 1") {
  test::TempDir dir;
  auto ca = test::make_ca();
  tls::CertSpec spec;
  spec.common_name = "esdb-0";
  spec.dns_names = {"10-244-1-7.prod.pod.cluster.local", "*.esdb.prod.svc.cluster.local"};
  spec.ip_addresses = {"10.244.1.7", "127.0.0.1"};
  spec.client_auth = false;
  std::string file = dir.write("bad.crt", test::leaf(spec, ca).cert_pem);
  Run r = cert({"inspect", file, "--json"});
  CHECK(r.code == 1);
  auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> codes;
  for (const auto& p : j["problems"]) codes.push_back(p["code"]);
  CHECK(codes == std::vector<std::string>{"no_dns_identity", "wildcard_san", "pod_address_san",
                                          "ip_san", "missing_client_auth"});
  Run text = cert({"inspect", file});
  CHECK(text.code == 1);
  CHECK(contains(text.out, "IP SAN(s) 10.244.1.7:"));
  CHECK_FALSE(contains(text.out, "IP SAN(s) 10.244.1.7, 127.0.0.1"));
  CHECK(contains(text.out, "5 problem(s):"));
}

TEST_CASE("cert cli: inspect reports missing identity names, expiry and a foreign CA") {
  test::TempDir dir;
  std::string ca = create_ca(dir);
  std::string out = dir.path() + "/n";
  REQUIRE(cert(node_args(ca, out)).code == 0);
  std::string crt = out + "/tls.crt";

  Run other = cert({"inspect", crt, "--pod", "esdb-1", "--service", "esdb", "--namespace", "prod"});
  CHECK(other.code == 1);
  CHECK(contains(other.out,
                 "DNS SAN esdb-1.esdb.prod.svc.cluster.local is missing (the pod "
                 "identity"));

  cli::CertContext later;
  later.now = test::Clock::now() + 40 * kDay;
  Run expired = cert({"inspect", crt}, later);
  CHECK(expired.code == 1);
  CHECK(contains(expired.out, "expired at"));

  cli::CertContext soon;
  soon.now = test::Clock::now() + 25 * kDay;
  Run expiring = cert({"inspect", crt}, soon);
  CHECK(expiring.code == 1);
  CHECK(contains(expiring.out, "within 7 days"));
  CHECK(cert({"inspect", crt, "--expiry-warning-days", "3"}, soon).code == 0);

  std::string other_ca = dir.path() + "/other";
  REQUIRE(cert({"create-ca", "--out", other_ca}).code == 0);
  Run foreign = cert({"inspect", crt, "--ca", other_ca + "/ca.crt"});
  CHECK(foreign.code == 1);
  CHECK(contains(foreign.out, "does not chain to " + other_ca + "/ca.crt"));
  CHECK(contains(foreign.out, "unknown issuer"));
}

TEST_CASE("cert cli: inspect of a CA certificate checks it as a CA") {
  test::TempDir dir;
  std::string ca = create_ca(dir);
  Run r = cert({"inspect", ca + "/ca.crt"});
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(contains(r.out, "kind         CA certificate"));
  CHECK(contains(r.out, "path length  0 (signs member certificates only)"));
}

TEST_CASE("cert cli: create-ca sets path length 0 and inspect --json shows it") {
  test::TempDir dir;
  std::string ca = create_ca(dir);
  auto pem = tls::read_pem_file(ca + "/ca.crt", "CA certificate");
  REQUIRE(pem.is_ok());
  auto info = tls::inspect_cert(pem.value());
  REQUIRE(info.is_ok());
  REQUIRE(info->path_length.has_value());
  CHECK(*info->path_length == 0);
  Run r = cert({"inspect", ca + "/ca.crt", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.out << r.err);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["path_length"] == 0);
  // A member certificate has none.
  Run node = cert(node_args(ca, dir.path() + "/node"));
  REQUIRE_MESSAGE(node.code == 0, node.err);
  Run leaf = cert({"inspect", dir.path() + "/node/tls.crt", "--json"});
  CHECK(nlohmann::json::parse(leaf.out)["path_length"].is_null());
}

TEST_CASE("cert cli: inspect reports a weak key as a problem") {
  test::TempDir dir;
  auto ca = test::make_ca();
  auto weak = tls::issue_flawed_for_tests(test::named("weak", {"weak.example"}),
                                          ca, tls::KeyType::kEcdsaP256,
                                          test::flaws(1024, false));
  REQUIRE(weak.is_ok());
  REQUIRE(tls::write_certificate_file(dir.path() + "/weak.crt", weak->cert_pem));
  Run r = cert({"inspect", dir.path() + "/weak.crt"});
  CHECK(r.code == 1);
  CHECK(contains(r.out, "its key is RSA 1024: RSA keys need at least 2048 bits"));
  CHECK(contains(r.out, "[weak_key]"));
}

TEST_CASE("cert cli: inspect of a file that is no certificate is a usage error") {
  test::TempDir dir;
  Run r = cert({"inspect", dir.write("x.crt", "hello")});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "is not a PEM certificate"));
}
