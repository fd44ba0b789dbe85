#include "plugin/tls_manager.h"

#include <algorithm>
#include <filesystem>

#include "plugin/csr_request.h"
#include "tls/fingerprint.h"
#include "tls/issuer.h"
#include "tls/key_file.h"
#include "tls/key_type.h"
#include "tls/local_ca_issuer.h"
#include "tls/peer_verify.h"
#include "tls/rotation.h"

namespace esk8s::plugin {

namespace {

// Retry delays after a failed issuance: doubling up to a minute.
constexpr std::chrono::seconds kRetryMin{2}, kRetryMax{60};

tls::SanInput san_input(const Config& c) {
  tls::SanInput in;
  in.pod = c.pod_name;
  in.service = c.service;
  in.namespace_name = c.namespace_name;
  in.cluster_domain = c.cluster_domain;
  in.client_services = c.client_services;
  in.peer_namespaces = c.peer_namespaces;
  in.include_localhost = c.tls_localhost;
  return in;
}

std::string join(const std::string& dir, const char* name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

struct TlsManager::Obtained {
  tls::Issued issued;
  tls::CertInfo leaf;
  std::vector<std::string> warnings;
};

TlsManager::TlsManager(Config config, Logger log, std::unique_ptr<kube::KubeClient> kube,
                       std::chrono::milliseconds check_interval, Env& env)
    : config_(std::move(config)),
      log_(std::move(log)),
      kube_(std::move(kube)),
      check_interval_(check_interval),
      env_(env),
      waker_(env.make_waker()) {
  allow_list_ = config_.allowed_peers;
  cluster_patterns_ = tls::cluster_allow_list(config_.service, config_.namespace_name,
                                              config_.peer_namespaces, config_.cluster_domain);
  state_.mode = std::string(to_string(config_.tls_mode));
  files_ = std::make_unique<tls::FilesSource>(config_.tls_dir);
  state_.waiting_for = "the first certificate";
}

TlsManager::~TlsManager() { stop(); }

Result<TlsManager::Obtained> TlsManager::obtain() {
  tls::IssueRequest req;
  req.names = san_input(config_);
  auto key_type = tls::parse_key_type(config_.tls_key_type);
  if (!key_type) return key_type.status();
  req.key_type = key_type.value();
  req.validity = std::chrono::hours(config_.tls_validity_hours);

  Obtained o;
  switch (config_.tls_mode) {
    case TlsMode::kLocalCa: {
      tls::LocalCaIssuer issuer(config_.tls_ca_dir);
      auto issued = issuer.issue(req);
      if (!issued) return issued.status();
      o.issued = std::move(issued.value());
      break;
    }
    case TlsMode::kFiles: {
      auto loaded = files_->load(req.names, env_.system_now());
      if (!loaded) return loaded.status();
      o.issued = std::move(loaded->material);
      for (const auto& w : loaded->warnings) o.warnings.push_back(w.sentence);
      break;
    }
    case TlsMode::kKubernetesCsr: {
      auto bundle = tls::read_pem_file(join(config_.tls_ca_dir, tls::kCaCertFileName),
                                       "trust bundle of the CSR signer");
      if (!bundle) return bundle.status();
      auto prepared = tls::prepare_csr(req);
      if (!prepared) return prepared.status();
      CsrRequestOptions opts;
      opts.signer_name = config_.tls_csr_signer;
      opts.name_prefix = "esk8s-" + config_.namespace_name + "-" + config_.pod_name;
      opts.expiration = std::chrono::hours(config_.tls_validity_hours);
      opts.timeout = std::chrono::seconds(config_.tls_csr_timeout_seconds);
      opts.key_encipherment =
          req.key_type == tls::KeyType::kRsa2048 || req.key_type == tls::KeyType::kRsa3072;
      {
        std::lock_guard lock(mu_);
        state_.waiting_for = "CertificateSigningRequest approval (signer " + opts.signer_name + ")";
      }
      auto cert = request_certificate(*kube_, prepared->csr_pem, opts, log_);
      if (!cert) return cert.status();
      o.issued = {cert.value(), prepared->key_pem, bundle.value()};
      break;
    }
  }
  auto leaf = tls::inspect_cert(o.issued.cert_pem);
  if (!leaf) return leaf.status();
  o.leaf = leaf.value();
  return o;
}

void TlsManager::install(Obtained o) {
  auto snapshot =
      gossip::TlsSnapshot::make({o.issued.cert_pem, o.issued.key_pem, o.issued.trust_bundle_pem});
  if (!snapshot) {
    std::lock_guard lock(mu_);
    state_.last_error = snapshot.status().message();
    ++state_.renewal_failures;
    log_.error("certificate cannot be used for TLS", {{"error", snapshot.status().message()}});
    return;
  }
  if (!config_.tls_out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config_.tls_out_dir, ec);
    Status s = ec ? Status::io("cannot create " + config_.tls_out_dir + ": " + ec.message())
                  : Status::ok();
    if (s) s = tls::write_certificate_file(join(config_.tls_out_dir, "tls.crt"), o.issued.cert_pem);
    if (s) s = tls::write_private_key_file(join(config_.tls_out_dir, "tls.key"), o.issued.key_pem);
    if (s) {
      s = tls::write_certificate_file(join(config_.tls_out_dir, "ca.crt"),
                                      o.issued.trust_bundle_pem);
    }
    if (!s)
      log_.warn("cannot write the issued certificate to ESK8S_TLS_OUT_DIR",
                {{"dir", config_.tls_out_dir}, {"error", s.message()}});
  }
  for (const auto& w : o.warnings) log_.warn("TLS certificate problem", {{"problem", w}});
  bool first;
  {
    std::lock_guard lock(mu_);
    first = !state_.have_certificate;
    if (!first) ++state_.renewals;
    state_.have_certificate = true;
    state_.waiting_for.clear();
    state_.last_error.clear();
    state_.not_after = o.leaf.not_after;
    state_.renew_at = tls::renew_at(o.leaf.not_before, o.leaf.not_after);
    state_.warnings = o.warnings;
    bundle_pem_ = o.issued.trust_bundle_pem;
    cert_pem_ = o.issued.cert_pem;
  }
  log_.info(first ? "certificate installed" : "certificate renewed",
            {{"mode", state_.mode},
             {"identity", config_.identity()},
             {"serial", o.leaf.serial_hex},
             {"not_after_unix", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   o.leaf.not_after.time_since_epoch())
                                                   .count())}});
  if (on_material_) on_material_(std::move(snapshot.value()));
}

Status TlsManager::start(OnMaterial on_material) {
  on_material_ = std::move(on_material);
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  waker_->reset();
  if (config_.tls_mode == TlsMode::kKubernetesCsr && !kube_) {
    return Status::config(
        "ESK8S_TLS_MODE=kubernetes-csr needs the Kubernetes API (ESK8S_DISCOVERY=kubernetes, or "
        "ESK8S_KUBE_API / ESK8S_KUBECONFIG)");
  }
  if (config_.tls_mode != TlsMode::kKubernetesCsr) {
    auto first = obtain();
    if (!first) {
      return Status::config("TLS (" + state_.mode + "): " + first.status().message());
    }
    issued_from_ = source_fingerprint();
    install(std::move(first.value()));
  }
  worker_ = std::thread([this] { run(); });
  return Status::ok();
}

void TlsManager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  waker_->wake();
  if (kube_) kube_->cancel();
  if (worker_.joinable()) worker_.join();
  if (kube_) kube_->reset_cancel();
}

bool TlsManager::wait(std::chrono::steady_clock::duration d) {
  return waker_->wait_until(env_.steady_now() + d);
}

void TlsManager::run() {
  std::chrono::seconds retry = kRetryMin;

  auto plan = tls::plan_sans(san_input(config_));
  while (true) {
    bool have;
    std::string cert;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      have = state_.have_certificate;
      cert = cert_pem_;
    }
    std::string why;
    if (!have) {
      why = "first certificate";
    } else if (config_.tls_mode == TlsMode::kFiles) {
      if (files_->changed()) why = "files changed";
    } else if (auto info = tls::inspect_cert(cert); info && plan) {
      auto d = tls::needs_renewal(info.value(), plan.value(), issued_from_, source_fingerprint(),
                                  env_.system_now());
      if (d.renew()) why = std::string(tls::renewal_label(d.reason));
    }
    if (!why.empty()) {
      log_.info("obtaining a certificate", {{"mode", state_.mode}, {"reason", why}});
      auto o = obtain();
      if (o) {
        issued_from_ = source_fingerprint();
        install(std::move(o.value()));
        retry = kRetryMin;
      } else {
        {
          std::lock_guard lock(mu_);
          state_.last_error = o.status().message();
          if (state_.have_certificate) ++state_.renewal_failures;
        }
        log_.error("cannot obtain a certificate; retrying",
                   {{"mode", state_.mode},
                    {"error", o.status().message()},
                    {"retry_in_seconds", std::to_string(retry.count())}});
        if (!wait(retry)) return;
        retry = std::min(retry * 2, kRetryMax);
        continue;
      }
    }
    if (!wait(check_interval_)) return;
  }
}

// What the certificate was issued from: local-ca, the CA files (a new bundle or a new signing key
// both call for re-issuing: the first two steps of a CA rotation); kubernetes-csr, the signer's
// bundle. Empty for files mode (FilesSource watches its own files).
std::string TlsManager::source_fingerprint() const {
  if (config_.tls_mode == TlsMode::kFiles) return "";
  auto crt = tls::read_pem_file(join(config_.tls_ca_dir, tls::kCaCertFileName), "CA");
  std::string text = crt ? crt.value() : "";
  if (config_.tls_mode == TlsMode::kLocalCa) {
    auto key = tls::read_private_key_file(join(config_.tls_ca_dir, tls::kCaKeyFileName), "CA key");
    if (key) text += key.value();
  }
  return tls::sha256_hex(text);
}

TlsState TlsManager::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

gossip::PeerVerifier TlsManager::verifier() const {
  return [this](const std::string& chain_pem, const std::string& expected, bool peer_is_client) {
    tls::PeerVerifyInput in;
    in.chain_pem = chain_pem;
    {
      std::lock_guard lock(mu_);
      in.trust_bundle_pem = bundle_pem_;
    }
    in.claimed_identity = expected;
    in.allow_list = allow_list_;
    in.cluster_patterns = cluster_patterns_;
    in.our_role = peer_is_client ? tls::PeerRole::kServer : tls::PeerRole::kClient;
    in.now = env_.system_now();
    tls::PeerVerdict v = tls::verify_peer(in);
    gossip::PeerCheck check;
    check.ok = v.ok();
    check.reason = std::string(tls::metric_label(v.reason));
    check.detail = v.detail;
    check.identities = std::move(v.identities);
    return check;
  };
}

}  // namespace esk8s::plugin
