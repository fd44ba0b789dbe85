#include "gossip/tls_claims.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace esk8s::gossip {

namespace {

constexpr size_t kMaxCachedCertificates = 1024;
constexpr std::chrono::seconds kRecheckAfter{60};

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

// SHA-256 except for the EdDSA keys, which sign the message itself.
const EVP_MD* digest_for(const EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? nullptr : EVP_sha256();
}

std::string to_pem(X509* cert) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : "";
}

}  // namespace

struct TlsClaimAuthority::Verified {
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  std::chrono::steady_clock::time_point checked;
};

TlsClaimAuthority::TlsClaimAuthority(std::shared_ptr<const TlsSnapshot> tls, PeerVerifier verifier,
                                     Clock clock)
    : tls_(std::move(tls)), verifier_(std::move(verifier)), clock_(std::move(clock)) {}

TlsClaimAuthority::~TlsClaimAuthority() = default;

void TlsClaimAuthority::set_tls(std::shared_ptr<const TlsSnapshot> tls) { tls_ = std::move(tls); }

ClaimAuthority::Proof TlsClaimAuthority::sign(std::string_view bytes) {
  Proof p;
  if (!tls_) return p;
  SSL_CTX* ctx = tls_->server().native_handle();
  X509* cert = SSL_CTX_get0_certificate(ctx);
  EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx);
  if (cert == nullptr || key == nullptr) return p;
  int der_len = i2d_X509(cert, nullptr);
  if (der_len <= 0) return p;
  p.credential.resize(static_cast<size_t>(der_len));
  auto* out = reinterpret_cast<unsigned char*>(p.credential.data());
  i2d_X509(cert, &out);

  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  size_t sig_len = 0;
  const auto* msg = reinterpret_cast<const unsigned char*>(bytes.data());
  if (!md || EVP_DigestSignInit(md.get(), nullptr, digest_for(key), nullptr, key) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &sig_len, msg, bytes.size()) != 1) {
    ERR_clear_error();
    return Proof{};
  }
  p.signature.resize(sig_len);
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(p.signature.data()), &sig_len, msg,
                     bytes.size()) != 1) {
    return Proof{};
  }
  p.signature.resize(sig_len);
  return p;
}

ClaimAuthority::Verdict TlsClaimAuthority::verify(std::string_view identity,
                                                  std::string_view bytes,
                                                  std::string_view credential,
                                                  std::string_view signature) {
  Verdict v;
  if (credential.empty() || signature.empty()) {
    v.reason = ClaimRejection::kBadSignature;
    v.detail = "the record carries no signature";
    return v;
  }
  const auto now = clock_();
  std::string cache_key;
  cache_key.reserve(identity.size() + 1 + credential.size());
  cache_key.append(identity).push_back('\0');
  cache_key.append(credential);
  std::shared_ptr<Verified> entry;
  if (auto it = cache_.find(cache_key); it != cache_.end() && now - it->second->checked < kRecheckAfter) {
    entry = it->second;
    cache_hits_++;
  } else {
    certificate_checks_++;
    const auto* der = reinterpret_cast<const unsigned char*>(credential.data());
    std::unique_ptr<X509, X509Free> cert(d2i_X509(nullptr, &der, static_cast<long>(credential.size())));
    if (!cert || der != reinterpret_cast<const unsigned char*>(credential.data()) + credential.size()) {
      ERR_clear_error();
      v.detail = "the credential is not one DER certificate";
      return v;
    }
    // Connecting-side check: the certificate must be trusted and name exactly this identity.
    PeerCheck check = verifier_(to_pem(cert.get()), std::string(identity), false);
    if (!check.ok) {
      v.detail = "certificate refused for this identity (" + check.reason + "): " + check.detail;
      cache_.erase(cache_key);
      return v;
    }
    entry = std::make_shared<Verified>();
    entry->key.reset(X509_get_pubkey(cert.get()));
    entry->checked = now;
    if (!entry->key) {
      v.detail = "the certificate's public key cannot be read";
      return v;
    }
    if (cache_.size() >= kMaxCachedCertificates) cache_.clear();
    cache_[cache_key] = entry;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  if (!md ||
      EVP_DigestVerifyInit(md.get(), nullptr, digest_for(entry->key.get()), nullptr,
                           entry->key.get()) != 1 ||
      EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                       bytes.size()) != 1) {
    ERR_clear_error();  // leave nothing on this thread's queue for the transport to misreport
    v.reason = ClaimRejection::kBadSignature;
    v.detail = "the signature does not verify with the member's certificate";
    return v;
  }
  v.ok = true;
  return v;
}

}  // namespace esk8s::gossip
