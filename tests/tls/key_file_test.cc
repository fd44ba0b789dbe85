#include "tls/key_file.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/tls/tls_test_util.h"
#include "tls/key_type.h"

using namespace esk8s;
using test::contains;
using test::file_mode;

namespace {

// Sets the process umask for the scope.
class Umask {
 public:
  explicit Umask(mode_t m) : old_(::umask(m)) {}
  ~Umask() { ::umask(old_); }

 private:
  mode_t old_;
};

}  // namespace

TEST_CASE("key types: names parse both ways and unknown names are refused") {
  for (auto type : {tls::KeyType::kEcdsaP256, tls::KeyType::kRsa2048, tls::KeyType::kRsa3072,
                    tls::KeyType::kEd25519}) {
    auto parsed = tls::parse_key_type(tls::key_type_name(type));
    REQUIRE(parsed.is_ok());
    CHECK(parsed.value() == type);
  }
  CHECK(tls::kDefaultKeyType == tls::KeyType::kEcdsaP256);
  auto bad = tls::parse_key_type("dsa-1024");
  REQUIRE_FALSE(bad.is_ok());
  CHECK(contains(bad.status().message(), "\"dsa-1024\""));
  CHECK(contains(bad.status().message(), "ecdsa-p256"));
}

TEST_CASE("key types: every type generates a key that signs a member certificate") {
  auto ca = test::make_ca();
  struct Row {
    const char* name;
    const char* described;
    bool key_encipherment;
  };
  for (Row row : {Row{"ecdsa-p256", "ECDSA P-256", false}, Row{"rsa-2048", "RSA 2048", true},
                  Row{"rsa-3072", "RSA 3072", true}, Row{"ed25519", "Ed25519", false}}) {
    CAPTURE(row.name);
    auto type = tls::parse_key_type(row.name);
    REQUIRE(type.is_ok());
    auto spec = tls::to_cert_spec(test::member(), std::chrono::hours(24));
    REQUIRE(spec.is_ok());
    auto issued = tls::issue(spec.value(), ca, type.value());
    REQUIRE(issued.is_ok());
    auto info = tls::inspect_cert(issued->cert_pem);
    REQUIRE(info.is_ok());
    CHECK(info->key_type == row.described);
    CHECK(info->key_usage_digital_signature);
    CHECK(info->key_usage_key_encipherment == row.key_encipherment);
    CHECK(tls::verify_chain(issued->cert_pem, ca.cert_pem, test::Clock::now()).is_ok());
  }
}

TEST_CASE("key file: a private key is written with mode 0600 whatever the umask") {
  test::TempDir dir;
  Umask open_umask(0);
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  std::string path = dir.path() + "/tls.key";
  REQUIRE(tls::write_private_key_file(path, key->private_key_pem));
  CHECK(file_mode(path) == 0600);
  auto back = tls::read_private_key_file(path, "key");
  REQUIRE(back.is_ok());
  CHECK(back.value() == key->private_key_pem);
}

TEST_CASE("key file: certificates are 0644 even under umask 077 and no temporary file remains") {
  test::TempDir dir;
  Umask strict_umask(077);
  std::string path = dir.path() + "/tls.crt";
  REQUIRE(tls::write_certificate_file(path, "first"));
  REQUIRE(tls::write_certificate_file(path, "second"));
  CHECK(file_mode(path) == 0644);
  auto back = tls::read_pem_file(path, "certificate");
  REQUIRE(back.is_ok());
  CHECK(back.value() == "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("key file: replacing a 0644 file with a key leaves it 0600") {
  test::TempDir dir;
  std::string path = dir.write("tls.key", "old");
  ::chmod(path.c_str(), 0644);
  REQUIRE(tls::write_private_key_file(path, "new key"));
  CHECK(file_mode(path) == 0600);
}

TEST_CASE(
    "key file: a CA key readable by other users or writable by the group is refused naming path "
    "mode and fix") {
  test::TempDir dir;
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  REQUIRE(key.is_ok());
  std::string path = dir.path() + "/ca.key";
  REQUIRE(tls::write_private_key_file(path, key->private_key_pem));

  struct Row {
    mode_t mode;
    const char* message;
  };
  for (Row row : {Row{0644, "is readable by other users (mode 0644); run chmod 600 "},
                  Row{0604, "is readable by other users (mode 0604); run chmod 600 "},
                  Row{0620, "is writable by other users (mode 0620); run chmod 600 "}}) {
    CAPTURE(row.mode);
    REQUIRE(::chmod(path.c_str(), row.mode) == 0);
    auto read = tls::read_private_key_file(path, "CA key");
    REQUIRE_FALSE(read.is_ok());
    const std::string m = read.status().message();
    CHECK(m == "CA key " + path + " " + row.message + path);
    CHECK_FALSE(contains(m, "PRIVATE KEY"));
  }
  // Group read is what fsGroup adds to Secret volume files (0400 -> 0440).
  for (mode_t ok : {0600, 0400, 0440, 0640}) {
    REQUIRE(::chmod(path.c_str(), ok) == 0);
    CHECK(tls::read_private_key_file(path, "CA key").is_ok());
  }
}

TEST_CASE("key file: a missing file is not_found and names the path") {
  test::TempDir dir;
  auto read = tls::read_private_key_file(dir.path() + "/nope.key", "CA key");
  REQUIRE_FALSE(read.is_ok());
  CHECK(read.status().code() == Status::Code::kNotFound);
  CHECK(contains(read.status().message(), dir.path() + "/nope.key"));
}

TEST_CASE("key file: an oversized file is refused") {
  test::TempDir dir;
  std::string path = dir.write("big.crt", std::string(tls::kMaxPemFileBytes + 1, 'x'));
  auto read = tls::read_pem_file(path, "certificate");
  REQUIRE_FALSE(read.is_ok());
  CHECK(contains(read.status().message(), "larger than"));
}
