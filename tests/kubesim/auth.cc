#include "tests/kubesim/auth.h"

#include <sys/stat.h>

#include <fstream>
#include <random>
#include <sstream>
#include <vector>

namespace kubesim {

namespace {

// Splits one CSV line; double quotes group commas (the groups column).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> cols;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      cols.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  cols.push_back(cur);
  return cols;
}

std::string file_signature(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_ino);
}

}  // namespace

std::string random_token() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 gen{std::random_device{}()};
  std::string t;
  for (int i = 0; i < 32; ++i) t.push_back(kChars[gen() % (sizeof kChars - 1)]);
  return t;
}

Authenticator::Authenticator(std::string tokens_file, std::chrono::seconds grace)
    : file_(std::move(tokens_file)), grace_(grace) {}

void Authenticator::add(const std::string& token, UserInfo user) {
  std::lock_guard lock(mu_);
  tokens_[token] = {std::move(user), std::nullopt, false};
}

std::string Authenticator::mint(UserInfo user, std::chrono::seconds ttl) {
  std::string token = random_token();
  std::lock_guard lock(mu_);
  tokens_[token] = {std::move(user), Clock::now() + ttl, false};
  return token;
}

void Authenticator::retire(const std::string& token) {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return;
  auto deadline = Clock::now() + grace_;
  if (!it->second.expires || *it->second.expires > deadline) it->second.expires = deadline;
}

esk8s::Status Authenticator::reload() {
  std::lock_guard lock(mu_);
  return reload_locked();
}

esk8s::Status Authenticator::reload_locked() {
  if (file_.empty()) return esk8s::Status::ok();
  std::string sig = file_signature(file_);
  if (sig == file_signature_) return esk8s::Status::ok();
  std::ifstream in(file_);
  if (!in) return esk8s::Status::io("cannot read tokens file " + file_);
  std::map<std::string, UserInfo> fresh;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    auto cols = split_csv(line);
    if (cols.size() < 3 || cols[0].empty() || cols[1].empty()) {
      return esk8s::Status::config("tokens file " + file_ + " line " + std::to_string(n) +
                                   ": expected token,user,uid[,\"group1,group2\"]");
    }
    UserInfo u{cols[1], {}};
    if (cols.size() > 3) {
      std::stringstream groups(cols[3]);
      std::string g;
      while (std::getline(groups, g, ',')) {
        if (!g.empty()) u.groups.push_back(g);
      }
    }
    fresh[cols[0]] = std::move(u);
  }
  file_signature_ = sig;
  auto deadline = Clock::now() + grace_;
  // Tokens gone from the file expire after the grace period; new ones start now.
  for (auto& [token, e] : tokens_) {
    if (e.from_file && !fresh.count(token) && (!e.expires || *e.expires > deadline))
      e.expires = deadline;
  }
  for (auto& [token, user] : fresh) tokens_[token] = {std::move(user), std::nullopt, true};
  return esk8s::Status::ok();
}

std::optional<UserInfo> Authenticator::authenticate(const std::string& token) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  if (now - last_check_ > std::chrono::milliseconds(200)) {
    last_check_ = now;
    (void)reload_locked();  // a broken file keeps the previous tokens
  }
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  if (it->second.expires && now >= *it->second.expires) return std::nullopt;
  UserInfo u = it->second.user;
  bool has = false;
  for (const auto& g : u.groups) has = has || g == "system:authenticated";
  if (!has) u.groups.push_back("system:authenticated");
  return u;
}

}  // namespace kubesim
