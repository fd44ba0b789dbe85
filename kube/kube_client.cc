#include "kube/kube_client.h"

#include <sys/stat.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/escape.h"
#include "common/file.h"
#include "common/sigpipe.h"
#include "common/text.h"

namespace esk8s::kube {

namespace {

// What a change of the file at `path` changes (empty when it cannot be examined).
std::optional<FileStat> signature(Env& env, const std::string& path) {
  auto st = env.stat_file(path, "file");
  if (!st) return std::nullopt;
  return st.value();
}

// An X509_STORE with every certificate of a PEM bundle (a CA rotation may put several in it).
X509_STORE* store_from_pem(const std::string& pem, int& count) {
  count = 0;
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++count;
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();
  return store;
}

// The file's content, or empty when it cannot be read (the TLS setup then reports the missing
// credential).
std::string content_or_empty(Env& env, const std::string& path, std::string_view what) {
  auto text = env.read_file(path, kMaxSmallFileBytes, what);
  return text ? std::move(text).value() : std::string();
}

// Authorization only when there is a token (a client certificate alone authenticates too).
httplib::Headers request_headers(const std::string& token) {
  httplib::Headers h = {{"Accept", "application/json"}};
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  return h;
}

}  // namespace

std::string status_message(std::string_view body) {
  auto s = nlohmann::json::parse(body, nullptr, false);
  if (s.is_object() && s.contains("message") && s["message"].is_string())
    return s["message"].get<std::string>();
  return truncate_for_log(body);
}

std::string describe_failure(const ApiResponse& r) {
  if (r.status == 0) return r.error;
  return "HTTP " + std::to_string(r.status) + ": " + status_message(r.body);
}

Result<std::unique_ptr<KubeClient>> KubeClient::create(KubeConfig config, KubeClientOptions options,
                                                       Logger log) {
  auto addr = parse_server_url(config.server);
  if (!addr.is_ok()) return addr.status();
  if (config.insecure_skip_tls_verify) {
    return Status::config("the kubeconfig " + config.source +
                          " sets insecure-skip-tls-verify; esk8s always verifies the API server "
                          "certificate. Give it certificate-authority(-data) instead");
  }
  if (config.ca_pem.empty() && config.ca_file.empty()) {
    return Status::config("no CA for the API server " + config.server + " in " + config.source +
                          "; esk8s needs certificate-authority(-data) to verify it");
  }
  if (config.token.empty() && config.token_file.empty() && !config.exec &&
      (config.client_cert_pem.empty() && config.client_cert_file.empty())) {
    return Status::config("no credentials in " + config.source +
                          "; esk8s needs a token, a token file, a client certificate or an exec "
                          "plugin");
  }
  std::unique_ptr<KubeClient> c(
      new KubeClient(std::move(config), options, std::move(log), std::move(addr).value()));
  std::optional<ExecCredential> first;
  if (c->config_.exec) {
    ExecClusterInfo cluster{c->config_.server, c->config_.ca_pem};
    if (cluster.ca_pem.empty() && !c->config_.ca_file.empty()) {
      cluster.ca_pem = content_or_empty(*options.env, c->config_.ca_file, "API server CA file");
    }
    c->exec_ = std::make_unique<ExecCredentialProvider>(*c->config_.exec, std::move(cluster),
                                                        options.exec);
    auto cred = c->exec_->get();
    if (!cred.is_ok()) return cred.status();
    first = std::move(cred).value();
  }
  std::string error;
  if (!c->connect(error, first ? &*first : nullptr)) return Status::config(error);
  return c;
}

KubeClient::KubeClient(KubeConfig config, KubeClientOptions options, Logger log,
                       ServerAddress address)
    : config_(std::move(config)),
      options_(options),
      log_(std::move(log)),
      host_(std::move(address.host)),
      port_(address.port),
      base_path_(std::move(address.base_path)) {
  ca_pem_ = config_.ca_pem;
  token_ = config_.token;
}

KubeClient::~KubeClient() { cancel(); }

std::shared_ptr<httplib::SSLClient> KubeClient::connect(std::string& error,
                                                         const ExecCredential* exec) {
  if (cancelled_) {
    error = "cancelled";
    return nullptr;
  }
  std::string ca;
  {
    std::lock_guard lock(mu_);
    if (!config_.ca_file.empty()) {
      std::optional<FileStat> sig = signature(*options_.env, config_.ca_file);
      if (!ca_signature_ || sig != ca_signature_) {
        auto text =
            options_.env->read_file(config_.ca_file, kMaxSmallFileBytes, "API server CA file");
        if (!text) {
          error = text.status().message();
          return nullptr;
        }
        if (ca_signature_)
          log_.info("API server CA bundle changed; reloaded", {{"file", config_.ca_file}});
        ca_pem_ = std::move(text).value();
        ca_signature_ = sig;
      }
    }
    ca = ca_pem_;
  }
  std::shared_ptr<httplib::SSLClient> cli;
  std::string cert_pem = config_.client_cert_pem, key_pem = config_.client_key_pem;
  if (exec) {
    cert_pem = exec->client_cert_pem;
    key_pem = exec->client_key_pem;
  }
  if (cert_pem.empty() && !config_.client_cert_file.empty())
    cert_pem = content_or_empty(*options_.env, config_.client_cert_file, "client certificate");
  if (key_pem.empty() && !config_.client_key_file.empty())
    key_pem = content_or_empty(*options_.env, config_.client_key_file, "client key");
  if (!cert_pem.empty()) {
    BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO_free(kb);
    ERR_clear_error();
    if (!cert || !key) {
      X509_free(cert);
      EVP_PKEY_free(key);
      error = "cannot load the client certificate/key of " + config_.source +
              (exec ? " (from its exec plugin)" : "");
      return nullptr;
    }
    cli = std::make_shared<httplib::SSLClient>(host_, port_, cert, key);
    X509_free(cert);
    EVP_PKEY_free(key);
  } else {
    cli = std::make_shared<httplib::SSLClient>(host_, port_);
  }
  int count = 0;
  X509_STORE* store = store_from_pem(ca, count);
  if (count == 0) {
    X509_STORE_free(store);
    error = "the API server CA bundle of " + config_.source + " holds no certificate";
    return nullptr;
  }
  cli->set_ca_cert_store(store);  // owned by the client from here on
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(options_.connect_timeout.count(), 0);
  cli->set_read_timeout(options_.request_timeout.count(), 0);
  cli->set_write_timeout(options_.request_timeout.count(), 0);
  cli->set_keep_alive(false);
  std::lock_guard lock(mu_);
  if (cancelled_) {
    error = "cancelled";
    return nullptr;
  }
  active_.insert(cli);
  return cli;
}

void KubeClient::release(const std::shared_ptr<httplib::SSLClient>& c) {
  std::lock_guard lock(mu_);
  active_.erase(c);
}

std::string KubeClient::current_token(bool force_reload) {
  std::lock_guard lock(mu_);
  if (config_.token_file.empty()) return token_;
  const SteadyTime now = options_.env->steady_now();
  if (force_reload || token_.empty() || now - token_read_ >= options_.token_reload) {
    // Re-open by path every time: the kubelet swaps the file through a symlink.
    if (auto t = options_.env->read_file(config_.token_file, kMaxSmallFileBytes, "token file")) {
      std::string fresh(trim(t.value()));
      if (!token_.empty() && fresh != token_)
        log_.info("service-account token changed; using the new one",
                  {{"file", config_.token_file}});
      token_ = fresh;
    } else {
      log_.warn("cannot read the token file; keeping the previous token",
                {{"file", config_.token_file}, {"error", t.status().message()}});
    }
    token_read_ = now;
  }
  return token_;
}

bool KubeClient::credentials(bool force_reload, std::string& token,
                             std::optional<ExecCredential>& exec, std::string& error) {
  exec.reset();
  if (!exec_) {
    token = current_token(force_reload);
    return true;
  }
  auto cred = exec_->get();
  if (!cred.is_ok()) {
    error = cred.status().message();
    log_.warn("exec credential plugin failed", {{"error", error}});
    return false;
  }
  exec = std::move(cred).value();
  token = exec->token;
  return true;
}

ApiResponse KubeClient::finish(int status, std::string body,
                               const std::string& retry_after_header) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  if (!retry_after_header.empty()) {
    char* end = nullptr;
    long s = std::strtol(retry_after_header.c_str(), &end, 10);
    if (end && *end == '\0' && s >= 0 && s < 86400) r.retry_after = std::chrono::seconds(s);
  }
  return r;
}

ApiResponse KubeClient::request(const std::string& method, const std::string& path,
                                const std::string& json_body) {
  ScopedSigpipeGuard no_sigpipe;  // OpenSSL writes to sockets the server may have reset
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string error, token;
    std::optional<ExecCredential> exec;
    if (!credentials(attempt > 0, token, exec, error)) return {0, "", std::nullopt, error};
    auto cli = connect(error, exec ? &*exec : nullptr);
    if (!cli) return {0, "", std::nullopt, error};
    ++requests_;
    httplib::Headers h = request_headers(token);
    const std::string target = base_path_ + path;
    auto res = method == "POST"  ? cli->Post(target, h, json_body, "application/json")
               : method == "PUT" ? cli->Put(target, h, json_body, "application/json")
               : method == "PATCH"
                   ? cli->Patch(target, h, json_body, "application/merge-patch+json")
                   : cli->Get(target, h);
    release(cli);
    if (!res) return {0, "", std::nullopt, httplib::to_string(res.error())};
    // A 401 may mean the token rotated under us or the plugin's credential was revoked early:
    // re-read the token file (or run the plugin again) once and retry.
    if (res->status == 401 && attempt == 0 && exec) {
      exec_->invalidate(*exec);
      continue;
    }
    if (res->status == 401 && attempt == 0 && !config_.token_file.empty()) continue;
    return finish(res->status, res->body, res->get_header_value("Retry-After"));
  }
  return {0, "", std::nullopt, "unreachable"};
}

ApiResponse KubeClient::get(const std::string& path_and_query) {
  return request("GET", path_and_query, "");
}

ApiResponse KubeClient::post(const std::string& path, const std::string& json_body) {
  return request("POST", path, json_body);
}

ApiResponse KubeClient::put(const std::string& path, const std::string& json_body) {
  return request("PUT", path, json_body);
}

ApiResponse KubeClient::patch(const std::string& path, const std::string& merge_patch) {
  return request("PATCH", path, merge_patch);
}

ApiResponse KubeClient::stream(const std::string& path_and_query,
                               const std::function<bool(std::string_view)>& on_data,
                               std::chrono::seconds read_timeout) {
  ScopedSigpipeGuard no_sigpipe;  // OpenSSL writes to sockets the server may have reset
  std::string error, token;
  std::optional<ExecCredential> exec;
  if (!credentials(false, token, exec, error)) return {0, "", std::nullopt, error};
  auto cli = connect(error, exec ? &*exec : nullptr);
  if (!cli) return {0, "", std::nullopt, error};
  cli->set_read_timeout(read_timeout.count(), 0);
  ++requests_;
  int status = 0;
  std::string error_body, retry_after;
  httplib::Headers h = request_headers(token);
  auto res = cli->Get(
      base_path_ + path_and_query, h,
      [&](const httplib::Response& r) {
        status = r.status;
        retry_after = r.get_header_value("Retry-After");
        return true;
      },
      [&](const char* data, size_t len) {
        if (status < 200 || status >= 300) {
          if (error_body.size() < 65536)
            error_body.append(data, std::min<size_t>(len, 65536 - error_body.size()));
          return true;
        }
        return on_data(std::string_view(data, len));
      });
  release(cli);
  // The next request uses a re-read token or a fresh credential from the plugin.
  if (status == 401 && exec) exec_->invalidate(*exec);
  if (status == 401 && !exec) current_token(true);
  if (!res && status == 0) return {0, "", std::nullopt, httplib::to_string(res.error())};
  return finish(status, std::move(error_body), retry_after);
}

void KubeClient::cancel() {
  ScopedSigpipeGuard no_sigpipe;  // stopping a connection may write a TLS alert to a dead socket
  cancelled_ = true;
  if (exec_) exec_->cancel();
  std::set<std::shared_ptr<httplib::SSLClient>> active;
  {
    std::lock_guard lock(mu_);
    active = active_;
  }
  for (auto& c : active) c->stop();
}

void KubeClient::reset_cancel() {
  cancelled_ = false;
  if (exec_) exec_->reset_cancel();
}

}  // namespace esk8s::kube
