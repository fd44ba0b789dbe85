// Bearer-token authentication as kube-apiserver's static token file and bound service-account
// tokens behave:
// - a tokens file in the --token-auth-file CSV format: `token,user,uid[,"group1,group2"]`;
//   it is re-read when it changes, and a token removed from it keeps working for `grace` (so a
//   client that re-reads its token after a rotation sees no outage, one that never re-reads
//   fails after the grace period);
// - minted tokens (kubesim's kubelet gives each pod a service-account token) expire after their
//   TTL;
// - every authenticated user gets the group system:authenticated.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "tests/kubesim/rbac.h"

namespace kubesim {

class Authenticator {
 public:
  using Clock = std::chrono::steady_clock;

  // `tokens_file` may be empty (no file).
  Authenticator(std::string tokens_file, std::chrono::seconds grace);

  // A token that never expires (the admin of the kubeconfig).
  void add(const std::string& token, UserInfo user);
  // A random token for `user`, valid for `ttl`.
  std::string mint(UserInfo user, std::chrono::seconds ttl);
  // Makes a token invalid after `grace` from now (rotation).
  void retire(const std::string& token);

  // The user of a bearer token, or nullopt (401).
  std::optional<UserInfo> authenticate(const std::string& token);

  // Re-reads the tokens file if it changed. Errors name the line.
  esk8s::Status reload();

 private:
  struct Entry {
    UserInfo user;
    std::optional<Clock::time_point> expires;
    bool from_file = false;
  };
  // REQUIRES: mu_ held.
  esk8s::Status reload_locked();

  const std::string file_;
  const std::chrono::seconds grace_;
  std::mutex mu_;
  std::map<std::string, Entry> tokens_;  // guarded by mu_
  std::string file_signature_;           // guarded by mu_: mtime + size of the last read
  Clock::time_point last_check_{};       // guarded by mu_
};

// 32 random URL-safe characters.
std::string random_token();

}  // namespace kubesim
