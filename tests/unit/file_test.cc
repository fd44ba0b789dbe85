#include "common/file.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/unique_fd.h"
#include "test_util.h"

using esk8s::read_regular_file;
using esk8s::Status;
using esk8s::test::TempDir;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("file: a regular file and a symlink to one are read whole") {
  TempDir dir;
  std::string path = dir.write("token", "abc\n");
  auto text = read_regular_file(path, 16);
  REQUIRE(text.is_ok());
  CHECK(text.value() == "abc\n");
  // Kubernetes Secret volumes: ..data/token behind a symlink.
  std::filesystem::create_symlink(path, dir.path() + "/link");
  auto linked = read_regular_file(dir.path() + "/link", 16);
  REQUIRE(linked.is_ok());
  CHECK(linked.value() == "abc\n");
}

TEST_CASE("file: a FIFO is refused at once, naming the path and what it is") {
  TempDir dir;
  std::string fifo = dir.path() + "/ca.crt";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto started = std::chrono::steady_clock::now();
  auto r = read_regular_file(fifo, esk8s::kMaxSmallFileBytes, "CA certificate");
  // No writer ever opens the FIFO: a blocking open would never return.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  CHECK(contains(r.status().message(), "CA certificate " + fifo + " is a FIFO, not a regular file"));
}

TEST_CASE("file: devices, directories and sockets are refused, a missing file is not_found") {
  auto zero = read_regular_file("/dev/zero", 1024, "fault file");
  REQUIRE_FALSE(zero.is_ok());
  CHECK(contains(zero.status().message(), "fault file /dev/zero is a character device"));

  TempDir dir;
  auto d = read_regular_file(dir.path(), 1024);
  REQUIRE_FALSE(d.is_ok());
  CHECK(contains(d.status().message(), dir.path() + " is a directory, not a regular file"));

  std::string sock_path = dir.path() + "/s";
  esk8s::UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  auto s = read_regular_file(sock_path, 1024);
  REQUIRE_FALSE(s.is_ok());
  CHECK(contains(s.status().message(), sock_path + " is a socket, not a regular file"));

  auto missing = read_regular_file(dir.path() + "/nope", 1024, "token file");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(contains(missing.status().message(), "token file " + dir.path() + "/nope does not exist"));
}

TEST_CASE("file: a file over the bound is refused before it is read") {
  TempDir dir;
  std::string path = dir.write("big", std::string(101, 'x'));
  auto r = read_regular_file(path, 100, "kubeconfig");
  REQUIRE_FALSE(r.is_ok());
  CHECK(contains(r.status().message(), "kubeconfig " + path + " is larger than the 100 bytes"));
  CHECK(read_regular_file(path, 101).is_ok());
}

TEST_CASE("file: the check sees the opened file's mode and can stop the read") {
  TempDir dir;
  std::string path = dir.write("key", "secret");
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto r = read_regular_file(path, 100, "key", [](const struct stat& st) {
    return (st.st_mode & S_IROTH) ? Status::config("readable by others") : Status::ok();
  });
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message() == "readable by others");
}
