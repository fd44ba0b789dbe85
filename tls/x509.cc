#include "tls/x509.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "common/rfc3339.h"

namespace esk8s::tls {

namespace {

using Clock = std::chrono::system_clock;
using std::chrono::seconds;

// ---- RAII owners for OpenSSL objects ----

template <auto FreeFn>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using NamePtr = std::unique_ptr<X509_NAME, Free<X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;
using GenNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using GenNamePtr = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, Free<ASN1_STRING_free>>;
using BitStringPtr = std::unique_ptr<ASN1_BIT_STRING, Free<ASN1_BIT_STRING_free>>;
using OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, Free<ASN1_OCTET_STRING_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, Free<BASIC_CONSTRAINTS_free>>;
using AuthorityKeyIdPtr = std::unique_ptr<AUTHORITY_KEYID, Free<AUTHORITY_KEYID_free>>;
using EkuPtr = std::unique_ptr<EXTENDED_KEY_USAGE, Free<EXTENDED_KEY_USAGE_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;

struct ExtStackFree {
  void operator()(STACK_OF(X509_EXTENSION) * s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};
using ExtStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtStackFree>;

struct CertStackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using CertStackPtr = std::unique_ptr<STACK_OF(X509), CertStackFree>;

struct OpensslStringFree {
  void operator()(char* p) const { OPENSSL_free(p); }
};

// ---- Errors ----

// OpenSSL keeps a thread-local error queue. Each public function clears it on entry (so stale
// errors are not blamed on this call) and on exit (so no error is left behind for the caller).
class ErrorQueueGuard {
 public:
  ErrorQueueGuard() { ERR_clear_error(); }
  ~ErrorQueueGuard() { ERR_clear_error(); }
  ErrorQueueGuard(const ErrorQueueGuard&) = delete;
  ErrorQueueGuard& operator=(const ErrorQueueGuard&) = delete;
};

// The earliest queued OpenSSL error (the root cause) as text; drains the queue. OpenSSL's error
// strings never carry key material.
std::string openssl_error() {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "no OpenSSL error recorded";
  const char* lib = ERR_lib_error_string(first);
  const char* reason = ERR_reason_error_string(first);
  if (reason == nullptr) {
    char buf[256];
    ERR_error_string_n(first, buf, sizeof(buf));
    return buf;
  }
  return lib != nullptr ? std::string(lib) + ": " + reason : std::string(reason);
}

// `what` failed inside OpenSSL for reasons that are not the caller's input (memory, RNG, ...).
Status internal_error(const std::string& what) {
  return Status::internal(what + " failed (OpenSSL: " + openssl_error() + ")");
}

// The caller's input is bad; `sentence` says how, OpenSSL's reason is appended.
Status input_error(const std::string& sentence) {
  return Status::invalid_argument(sentence + " (OpenSSL: " + openssl_error() + ")");
}

// `s` in single quotes with control bytes escaped, for error messages about untrusted values.
std::string quote(std::string_view s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += "'";
  return out;
}

// ---- PEM in and out ----

// Password callback that refuses: an encrypted PEM is an error instead of a terminal prompt.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

// A read-only memory BIO over `s` (which must outlive it).
Result<BioPtr> read_bio(const std::string& s, const std::string& what) {
  if (s.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::invalid_argument(what + " is too large to parse");
  }
  BioPtr bio(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
  if (!bio) return internal_error("allocating a memory buffer for " + what);
  return bio;
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

Result<PkeyPtr> parse_private_key(const std::string& pem, const std::string& what) {
  auto bio = read_bio(pem, what);
  if (!bio) return bio.status();
  PkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, no_passphrase, nullptr));
  if (!key) return input_error(what + " is not an unencrypted PEM private key");
  return key;
}

// Unencrypted PKCS#8 PEM. Written through a secure-memory BIO, whose buffer is wiped when freed.
Result<std::string> private_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return internal_error("encoding the private key as PKCS#8 PEM");
  }
  return bio_contents(bio.get());
}

Result<std::string> cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return internal_error("encoding the certificate as PEM");
  }
  return bio_contents(bio.get());
}

// The certificates of `pem` in order (only the first when `first_only`); at least one.
Result<std::vector<X509Ptr>> parse_certs(const std::string& pem, const std::string& what,
                                         bool first_only) {
  auto bio = read_bio(pem, what);
  if (!bio) return bio.status();
  std::vector<X509Ptr> certs;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, no_passphrase, nullptr));
    if (cert) {
      certs.push_back(std::move(cert));
      if (first_only) break;
      continue;
    }
    // "No start line" is how PEM reading reports the end of input.
    unsigned long err = ERR_peek_last_error();
    bool at_end = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
    if (at_end && !certs.empty()) break;
    if (at_end) return input_error(what + " holds no PEM certificate block");
    return input_error("certificate #" + std::to_string(certs.size() + 1) + " of " + what +
                       " cannot be parsed");
  }
  ERR_clear_error();
  return certs;
}

// ---- Names ----

// RFC 5280 upper bound for a common name, in characters.
constexpr size_t kMaxCommonNameChars = 64;

Status check_common_name(const std::string& cn, const std::string& what) {
  size_t chars = 0;
  for (unsigned char c : cn) {
    if (c < 0x20 || c == 0x7f) {
      return Status::invalid_argument(what + " " + quote(cn) + " contains a control character");
    }
    if ((c & 0xC0) != 0x80) ++chars;  // count UTF-8 lead bytes, not continuation bytes
  }
  if (chars > kMaxCommonNameChars) {
    return Status::invalid_argument(what + " " + quote(cn) + " is longer than 64 characters");
  }
  return Status::ok();
}

// A name holding just CN=`cn` (no attribute when `cn` is empty).
Result<NamePtr> name_with_cn(const std::string& cn) {
  NamePtr name(X509_NAME_new());
  if (!name) return internal_error("allocating a distinguished name");
  if (!cn.empty() && X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                                reinterpret_cast<const unsigned char*>(cn.data()),
                                                static_cast<int>(cn.size()), -1, 0) != 1) {
    return input_error("the common name " + quote(cn) + " cannot be encoded (is it valid UTF-8?)");
  }
  return name;
}

// The first CN of `name` as UTF-8 (empty when there is none). When `unique`, more than one CN is
// an error: which one a consumer honours would be ambiguous.
Result<std::string> common_name_of(const X509_NAME* name, const std::string& what, bool unique) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return std::string();
  if (unique && X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
    return Status::invalid_argument(what + " has more than one common name");
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return input_error("the common name of " + what + " cannot be decoded");
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return cn;
}

// ---- Subject alternative names ----

bool is_ldh_or_underscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Dot-separated labels of 1-63 letters, digits, '-' or '_' (not starting or ending with '-'),
// 253 bytes at most; the first label may be the wildcard "*" when more labels follow.
bool is_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (first && label == "*") {
      if (dot == std::string_view::npos) return false;  // "*" alone names nothing
    } else {
      if (label.empty() || label.size() > 63) return false;
      if (label.front() == '-' || label.back() == '-') return false;
      if (!std::all_of(label.begin(), label.end(), is_ldh_or_underscore)) return false;
    }
    if (dot == std::string_view::npos) return true;
    first = false;
    start = dot + 1;
  }
}

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// An absolute URI in visible ASCII with a scheme ("spiffe://...", "https://...").
bool is_uri(std::string_view s) {
  size_t colon = s.find(':');
  return !s.empty() && s.size() <= 4096 && is_visible_ascii(s) && colon != s.npos && colon > 0;
}

bool is_email(std::string_view s) {
  size_t at = s.rfind('@');
  return !s.empty() && s.size() <= 320 && is_visible_ascii(s) && at != s.npos && at > 0 &&
         at + 1 < s.size();
}

// The 4 or 16 network-order bytes of an IPv4 or IPv6 literal; nullopt when it is not one.
// inet_pton is strict: no trailing text, no leading zeros in IPv4, no IPv6 zone suffix.
std::optional<std::string> ip_bytes(const std::string& text) {
  if (text.find('\0') != std::string::npos) return std::nullopt;
  unsigned char buf[16];
  if (text.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, text.c_str(), buf) != 1) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(buf), 4);
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) != 1) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(buf), 16);
}

// Canonical text of a 4- or 16-byte address; nullopt for any other length.
std::optional<std::string> ip_text(const unsigned char* bytes, int len) {
  char buf[INET6_ADDRSTRLEN];
  int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
  if (family == 0 || inet_ntop(family, bytes, buf, sizeof(buf)) == nullptr) return std::nullopt;
  return std::string(buf);
}

struct Sans {
  std::vector<std::string> dns, ips, uris, emails;  // ips as text
  bool empty() const { return dns.empty() && ips.empty() && uris.empty() && emails.empty(); }
};

Status push_general_name(GENERAL_NAMES* names, int type, const std::string& bytes) {
  Asn1StringPtr value(type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new());
  if (!value || ASN1_STRING_set(value.get(), bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return internal_error("encoding a subjectAltName entry");
  }
  GenNamePtr name(GENERAL_NAME_new());
  if (!name) return internal_error("allocating a subjectAltName entry");
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  if (sk_GENERAL_NAME_push(names, name.get()) <= 0) {
    return internal_error("adding a subjectAltName entry");
  }
  name.release();  // now owned by `names`
  return Status::ok();
}

// A subjectAltName extension holding `sans` after validating every name; nullptr when `sans` is
// empty. `what` names where the names came from, for errors.
Result<ExtPtr> san_extension(const Sans& sans, bool critical, const std::string& what) {
  if (sans.empty()) return ExtPtr();
  GenNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return internal_error("allocating a subjectAltName");
  for (const std::string& dns : sans.dns) {
    if (!is_dns_name(dns)) {
      return Status::invalid_argument(what + ": DNS name " + quote(dns) +
                                      " is not a valid DNS name");
    }
    if (Status s = push_general_name(names.get(), GEN_DNS, dns); !s) return s;
  }
  for (const std::string& ip : sans.ips) {
    std::optional<std::string> bytes = ip_bytes(ip);
    if (!bytes) {
      return Status::invalid_argument(what + ": IP address " + quote(ip) +
                                      " is not a valid IPv4 or IPv6 literal");
    }
    if (Status s = push_general_name(names.get(), GEN_IPADD, *bytes); !s) return s;
  }
  for (const std::string& uri : sans.uris) {
    if (!is_uri(uri)) {
      return Status::invalid_argument(what + ": URI " + quote(uri) + " is not an absolute URI");
    }
    if (Status s = push_general_name(names.get(), GEN_URI, uri); !s) return s;
  }
  for (const std::string& email : sans.emails) {
    if (!is_email(email)) {
      return Status::invalid_argument(what + ": email " + quote(email) + " is not a valid address");
    }
    if (Status s = push_general_name(names.get(), GEN_EMAIL, email); !s) return s;
  }
  ExtPtr ext(X509V3_EXT_i2d(NID_subject_alt_name, critical ? 1 : 0, names.get()));
  if (!ext) return internal_error("encoding the subjectAltName extension");
  return ext;
}

std::string asn1_bytes(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// Appends the names of `names` to `out`. When `strict` (CSRs, whose names are about to be
// signed), every name must be valid and of a type Sans can hold; otherwise (inspection of
// certificates) names of other types or malformed addresses are skipped.
Status read_sans(const GENERAL_NAMES* names, bool strict, const std::string& what, Sans* out) {
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    int type = -1;
    const auto* value = static_cast<const ASN1_STRING*>(
        GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, i), &type));
    switch (type) {
      case GEN_DNS:
      case GEN_URI:
      case GEN_EMAIL: {
        std::string text = asn1_bytes(value);
        bool valid = type == GEN_DNS   ? is_dns_name(text)
                     : type == GEN_URI ? is_uri(text)
                                       : is_email(text);
        const char* kind = type == GEN_DNS ? "DNS name" : type == GEN_URI ? "URI" : "email";
        if (strict && !valid) {
          return Status::invalid_argument(what + " has an invalid subjectAltName " + kind + " " +
                                          quote(text));
        }
        (type == GEN_DNS ? out->dns : type == GEN_URI ? out->uris : out->emails).push_back(text);
        break;
      }
      case GEN_IPADD: {
        std::optional<std::string> text =
            ip_text(ASN1_STRING_get0_data(value), ASN1_STRING_length(value));
        if (text) {
          out->ips.push_back(*text);
        } else if (strict) {
          return Status::invalid_argument(what + " has a subjectAltName IP address of " +
                                          std::to_string(ASN1_STRING_length(value)) +
                                          " bytes (4 or 16 are valid)");
        }
        break;
      }
      default:
        if (strict) {
          return Status::invalid_argument(
              what +
              " has a subjectAltName entry of a type esk8s does not sign (only DNS, IP, "
              "URI and email names are supported)");
        }
        break;
    }
  }
  return Status::ok();
}

// ---- Keys ----

// "ECDSA P-256", "RSA 2048", "Ed25519", ... (the vocabulary of CsrInfo/CertInfo::key_type).
std::string describe_key(const EVP_PKEY* key) {
  if (key == nullptr) return "unknown";
  if (EVP_PKEY_is_a(key, "RSA")) return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
  if (EVP_PKEY_is_a(key, "RSA-PSS")) return "RSA-PSS " + std::to_string(EVP_PKEY_get_bits(key));
  if (EVP_PKEY_is_a(key, "ED25519")) return "Ed25519";
  if (EVP_PKEY_is_a(key, "ED448")) return "Ed448";
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[80];
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
      return "ECDSA (explicit curve parameters)";
    }
    int nid = OBJ_txt2nid(group);
    if (nid == NID_undef) nid = EC_curve_nist2nid(group);
    const char* nist = nid == NID_undef ? nullptr : EC_curve_nid2nist(nid);
    return std::string("ECDSA ") + (nist != nullptr ? nist : group);
  }
  const char* name = EVP_PKEY_get0_type_name(key);
  return name != nullptr ? name : "unknown";
}

Status check_key_acceptable(const EVP_PKEY* key, const std::string& what) {
  return check_key_strength(describe_key(key), what);
}

// The digest to sign with `key`: none for EdDSA (it hashes internally), else SHA-2 matched to the
// curve size (SHA-256 for RSA and P-256).
const EVP_MD* digest_for(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) return nullptr;
  if (EVP_PKEY_is_a(key, "EC")) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits > 384) return EVP_sha512();
    if (bits > 256) return EVP_sha384();
  }
  return EVP_sha256();
}

std::optional<std::string> key_type_name(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return "ECDSA P-256";
    case KeyType::kRsa2048:
      return "RSA 2048";
    case KeyType::kRsa3072:
      return "RSA 3072";
    case KeyType::kEd25519:
      return "Ed25519";
  }
  return std::nullopt;
}

Result<PkeyPtr> new_key(KeyType type) {
  std::optional<std::string> name = key_type_name(type);
  if (!name) return Status::invalid_argument("unknown key type " + std::to_string(int(type)));
  const char* algorithm = type == KeyType::kEcdsaP256 ? "EC"
                          : type == KeyType::kEd25519 ? "ED25519"
                                                      : "RSA";
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) {
    return internal_error("setting up " + *name + " key generation");
  }
  if (type == KeyType::kEcdsaP256 && EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") <= 0) {
    return internal_error("selecting curve P-256");
  }
  if ((type == KeyType::kRsa2048 || type == KeyType::kRsa3072) &&
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), type == KeyType::kRsa2048 ? 2048 : 3072) <= 0) {
    return internal_error("setting the RSA key size");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) <= 0) {
    return internal_error("generating a " + *name + " key");
  }
  return PkeyPtr(raw);
}

// ---- Time ----

// Longest validity or backdate accepted: beyond it the arithmetic stops meaning anything useful.
constexpr seconds kMaxPeriod{100LL * 366 * 24 * 3600};

Status check_period(seconds validity, seconds backdate) {
  if (validity <= seconds(0) || validity > kMaxPeriod) {
    return Status::invalid_argument(
        "the validity period must be between 1 second and 100 years, "
        "not " +
        std::to_string(validity.count()) + " seconds");
  }
  if (backdate < seconds(0) || backdate > kMaxPeriod) {
    return Status::invalid_argument("the backdate must be between 0 seconds and 100 years, not " +
                                    std::to_string(backdate.count()) + " seconds");
  }
  return Status::ok();
}

time_t to_time_t(Clock::time_point tp) {
  return static_cast<time_t>(std::chrono::duration_cast<seconds>(tp.time_since_epoch()).count());
}

// notBefore = now - backdate, notAfter = now + validity. REQUIRES: check_period passed.
Status set_validity(X509* cert, seconds validity, seconds backdate) {
  time_t now = to_time_t(Clock::now());
  if (ASN1_TIME_set(X509_getm_notBefore(cert), now - static_cast<time_t>(backdate.count())) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), now + static_cast<time_t>(validity.count())) ==
          nullptr) {
    return internal_error("setting the validity period");
  }
  return Status::ok();
}

// Times past what system_clock can hold (e.g. the 9999-12-31 "no expiry" date) clamp to its range.
Result<Clock::time_point> to_time_point(const ASN1_TIME* t, const std::string& what) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return input_error(what + " is not a valid time");
  }
  using namespace std::chrono;
  year_month_day ymd{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                     day{static_cast<unsigned>(tm.tm_mday)}};
  if (!ymd.ok()) return Status::invalid_argument(what + " is not a valid date");
  sys_seconds s = sys_days{ymd} + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec};
  const auto max = time_point_cast<seconds>(Clock::time_point::max());
  const auto min = time_point_cast<seconds>(Clock::time_point::min());
  if (s >= max) return Clock::time_point::max();
  if (s <= min) return Clock::time_point::min();
  return Clock::time_point(s);
}

// ---- Certificate building ----

// keyUsage bit positions (RFC 5280 section 4.2.1.3).
constexpr int kKuDigitalSignature = 0;
constexpr int kKuKeyEncipherment = 2;
constexpr int kKuKeyCertSign = 5;
constexpr int kKuCrlSign = 6;

Status add_extension(X509* cert, int nid, void* value, bool critical, const std::string& what) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
    return internal_error("adding the " + what + " extension");
  }
  return Status::ok();
}

// basicConstraints (critical). `path_length` (CA only): how many CA certificates may follow this
// one in a chain; 0 means it signs leaves only.
Status add_basic_constraints(X509* cert, bool ca, std::optional<long> path_length = std::nullopt) {
  BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  if (!bc) return internal_error("allocating basicConstraints");
  // DER encodes TRUE as 0xFF; OpenSSL writes the int as-is, and strict parsers (Go) reject 0x01.
  bc->ca = ca ? 0xFF : 0;
  if (ca && path_length) {
    bc->pathlen = ASN1_INTEGER_new();  // freed with `bc`
    if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, *path_length) != 1) {
      return internal_error("setting the pathLenConstraint");
    }
  }
  return add_extension(cert, NID_basic_constraints, bc.get(), true, "basicConstraints");
}

Status add_key_usage(X509* cert, std::initializer_list<int> bits) {
  BitStringPtr usage(ASN1_BIT_STRING_new());
  if (!usage) return internal_error("allocating keyUsage");
  for (int bit : bits) {
    if (ASN1_BIT_STRING_set_bit(usage.get(), bit, 1) != 1) {
      return internal_error("setting keyUsage");
    }
  }
  return add_extension(cert, NID_key_usage, usage.get(), true, "keyUsage");
}

Status add_extended_key_usage(X509* cert, bool server_auth, bool client_auth) {
  EkuPtr eku(sk_ASN1_OBJECT_new_null());
  if (!eku) return internal_error("allocating extendedKeyUsage");
  for (auto [wanted, nid] :
       {std::pair{server_auth, NID_server_auth}, std::pair{client_auth, NID_client_auth}}) {
    if (!wanted) continue;
    // Built-in objects are static; freeing the stack leaves them alone.
    if (sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid)) <= 0) {
      return internal_error("setting extendedKeyUsage");
    }
  }
  return add_extension(cert, NID_ext_key_usage, eku.get(), false, "extendedKeyUsage");
}

// RFC 5280 method 1: the SHA-1 of the subjectPublicKey bits. SHA-1 serves only as an identifier
// here; nothing relies on its collision resistance.
Result<OctetStringPtr> key_id(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  OctetStringPtr id(ASN1_OCTET_STRING_new());
  if (!id || X509_pubkey_digest(cert, EVP_sha1(), md, &len) != 1 ||
      ASN1_OCTET_STRING_set(id.get(), md, static_cast<int>(len)) != 1) {
    return internal_error("computing a key identifier");
  }
  return id;
}

Status add_subject_key_id(X509* cert) {
  auto id = key_id(cert);
  if (!id) return id.status();
  return add_extension(cert, NID_subject_key_identifier, id->get(), false, "subjectKeyIdentifier");
}

// The issuer's own subjectKeyIdentifier when it has one (chain building matches the two), else
// one computed from its key.
Status add_authority_key_id(X509* cert, X509* issuer) {
  AuthorityKeyIdPtr akid(AUTHORITY_KEYID_new());
  if (!akid) return internal_error("allocating authorityKeyIdentifier");
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer); ski != nullptr) {
    akid->keyid = ASN1_OCTET_STRING_dup(ski);
    if (akid->keyid == nullptr) return internal_error("copying the CA key identifier");
  } else {
    auto id = key_id(issuer);
    if (!id) return id.status();
    akid->keyid = id->release();
  }
  return add_extension(cert, NID_authority_key_identifier, akid.get(), false,
                       "authorityKeyIdentifier");
}

// 20 random bytes with the top bit cleared: positive, at most 159 bits, and at most the 20
// octets RFC 5280 allows once DER-encoded.
Status set_random_serial(X509* cert) {
  unsigned char bytes[20];
  do {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) return internal_error("drawing a random serial");
    bytes[0] &= 0x7f;
  } while (std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; }));
  BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return internal_error("setting the serial number");
  }
  return Status::ok();
}

// A v3 certificate with a random serial, `subject`, `issuer_name`, the validity window and
// `subject_key`; the caller adds extensions and signs.
Result<X509Ptr> new_cert(const X509_NAME* subject, const X509_NAME* issuer_name,
                         EVP_PKEY* subject_key, seconds validity, seconds backdate) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return internal_error("allocating a certificate");
  }
  if (Status s = set_random_serial(cert.get()); !s) return s;
  if (X509_set_subject_name(cert.get(), subject) != 1 ||
      X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return internal_error("setting the certificate names");
  }
  if (Status s = set_validity(cert.get(), validity, backdate); !s) return s;
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return internal_error("setting the public key");
  }
  return cert;
}

Status sign_cert(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, digest_for(key)) <= 0) return internal_error("signing the certificate");
  return Status::ok();
}

// ---- Reading CSRs and certificates ----

struct CheckedCsr {
  ReqPtr req;
  CsrInfo info;
};

// Parses a CSR, verifies its self-signature and extracts what it asks for, refusing anything
// that inspect_csr could not show faithfully.
Result<CheckedCsr> read_checked_csr(const std::string& pem) {
  const std::string what = "the CSR";
  auto bio = read_bio(pem, what);
  if (!bio) return bio.status();
  CheckedCsr csr;
  csr.req.reset(PEM_read_bio_X509_REQ(bio->get(), nullptr, no_passphrase, nullptr));
  if (!csr.req) return input_error("the CSR is not a PEM certificate request");
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr.req.get());
  if (key == nullptr) return input_error("the CSR's public key cannot be decoded");
  if (X509_REQ_verify(csr.req.get(), key) != 1) {
    return input_error(
        "the CSR's signature does not verify: it was altered or not signed by its own key");
  }
  csr.info.key_type = describe_key(key);

  auto cn = common_name_of(X509_REQ_get_subject_name(csr.req.get()), what, /*unique=*/true);
  if (!cn) return cn.status();
  if (Status s = check_common_name(cn.value(), "the CSR's common name"); !s) return s;
  csr.info.common_name = std::move(cn).value();

  ERR_clear_error();
  ExtStackPtr exts(X509_REQ_get_extensions(csr.req.get()));
  if (!exts && ERR_peek_error() != 0) {
    return input_error("the CSR's extension request cannot be decoded");
  }
  if (exts) {
    int crit = -1;
    GenNamesPtr names(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(exts.get(), NID_subject_alt_name, &crit, nullptr)));
    if (!names && crit != -1) {
      return input_error("the CSR's subjectAltName request is malformed or repeated");
    }
    if (names) {
      Sans sans;
      if (Status s = read_sans(names.get(), /*strict=*/true, what, &sans); !s) return s;
      csr.info.dns_names = std::move(sans.dns);
      csr.info.ip_addresses = std::move(sans.ips);
      csr.info.uris = std::move(sans.uris);
      csr.info.emails = std::move(sans.emails);
    }
  }
  const CsrInfo& i = csr.info;
  if (i.common_name.empty() && i.dns_names.empty() && i.ip_addresses.empty() && i.uris.empty() &&
      i.emails.empty()) {
    return Status::invalid_argument(
        "the CSR names nothing: it has no common name and no subjectAltName");
  }
  return csr;
}

Result<CertInfo> describe_cert(X509* cert) {
  CertInfo info;
  uint32_t flags = X509_get_extension_flags(cert);
  auto subject = common_name_of(X509_get_subject_name(cert), "the certificate subject", false);
  if (!subject) return subject.status();
  info.subject_cn = std::move(subject).value();
  if (flags & EXFLAG_INVALID) {
    return input_error("certificate " + quote(info.subject_cn) +
                       " has malformed or repeated extensions");
  }
  auto issuer = common_name_of(X509_get_issuer_name(cert), "the certificate issuer", false);
  if (!issuer) return issuer.status();
  info.issuer_cn = std::move(issuer).value();

  int crit = -1;
  GenNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  if (!names && crit != -1) {
    return input_error("the subjectAltName of certificate " + quote(info.subject_cn) +
                       " is malformed or repeated");
  }
  if (names) {
    Sans sans;
    if (Status s = read_sans(names.get(), /*strict=*/false, "the certificate", &sans); !s) return s;
    info.dns_names = std::move(sans.dns);
    info.ip_addresses = std::move(sans.ips);
  }

  auto not_before = to_time_point(X509_get0_notBefore(cert), "the certificate's notBefore");
  if (!not_before) return not_before.status();
  auto not_after = to_time_point(X509_get0_notAfter(cert), "the certificate's notAfter");
  if (!not_after) return not_after.status();
  info.not_before = not_before.value();
  info.not_after = not_after.value();

  info.is_ca = (flags & EXFLAG_CA) != 0;
  if (long pathlen = X509_get_pathlen(cert); info.is_ca && pathlen >= 0) info.path_length = pathlen;
  if (flags & EXFLAG_KUSAGE) {  // without the extension X509_get_key_usage reports "anything"
    uint32_t ku = X509_get_key_usage(cert);
    info.key_usage_digital_signature = (ku & KU_DIGITAL_SIGNATURE) != 0;
    info.key_usage_key_encipherment = (ku & KU_KEY_ENCIPHERMENT) != 0;
    info.key_usage_cert_sign = (ku & KU_KEY_CERT_SIGN) != 0;
  }
  if (flags & EXFLAG_XKUSAGE) {
    uint32_t xku = X509_get_extended_key_usage(cert);
    info.eku_server_auth = (xku & XKU_SSL_SERVER) != 0;
    info.eku_client_auth = (xku & XKU_SSL_CLIENT) != 0;
  }
  info.key_type = describe_key(X509_get0_pubkey(cert));

  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  std::unique_ptr<char, OpensslStringFree> hex(serial ? BN_bn2hex(serial.get()) : nullptr);
  if (!hex) return internal_error("reading the serial number");
  info.serial_hex = hex.get();
  return info;
}

// Why X509_verify_cert refused, in the words the header promises.
std::string verify_reason(int err, X509* cert) {
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED: {
      auto t = to_time_point(X509_get0_notAfter(cert), "notAfter");
      return "has expired" +
             (t ? " (notAfter " + format_rfc3339(t.value(), 0) + ")" : std::string());
    }
    case X509_V_ERR_CERT_NOT_YET_VALID: {
      auto t = to_time_point(X509_get0_notBefore(cert), "notBefore");
      return "is not yet valid" +
             (t ? " (notBefore " + format_rfc3339(t.value(), 0) + ")" : std::string());
    }
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return "has an unknown issuer: no CA of the trust bundle issued it";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
      return "has a bad signature: it was altered or not signed by its issuer's key";
    default:
      return "was refused";
  }
}

}  // namespace

Result<KeyPem> generate_key(KeyType type) {
  ErrorQueueGuard guard;
  auto key = new_key(type);
  if (!key) return key.status();
  auto pem = private_key_pem(key->get());
  if (!pem) return pem.status();
  return KeyPem{std::move(pem).value()};
}

Result<CertAndKey> make_self_signed_ca(const std::string& common_name, KeyType type,
                                       seconds validity) {
  ErrorQueueGuard guard;
  const seconds backdate(300);
  if (common_name.empty()) return Status::invalid_argument("a CA needs a non-empty common name");
  if (Status s = check_common_name(common_name, "the CA common name"); !s) return s;
  if (Status s = check_period(validity, backdate); !s) return s;
  auto key = new_key(type);
  if (!key) return key.status();
  auto name = name_with_cn(common_name);
  if (!name) return name.status();
  auto cert = new_cert(name->get(), name->get(), key->get(), validity, backdate);
  if (!cert) return cert.status();
  X509* x = cert->get();
  // pathLenConstraint 0: whatever the CA signs cannot sign in turn, not even a certificate that
  // was marked CA:TRUE by mistake.
  if (Status s = add_basic_constraints(x, /*ca=*/true, /*path_length=*/0); !s) return s;
  if (Status s = add_key_usage(x, {kKuKeyCertSign, kKuCrlSign}); !s) return s;
  if (Status s = add_subject_key_id(x); !s) return s;
  if (Status s = sign_cert(x, key->get()); !s) return s;
  auto cert_text = cert_pem(x);
  if (!cert_text) return cert_text.status();
  auto key_text = private_key_pem(key->get());
  if (!key_text) return key_text.status();
  return CertAndKey{std::move(cert_text).value(), std::move(key_text).value()};
}

namespace {

// make_csr; `check_key` false only for issue_flawed_for_tests.
Result<std::string> build_csr(const CertSpec& spec, const std::string& key_pem, bool check_key) {
  if (Status s = check_common_name(spec.common_name, "the common name"); !s) return s;
  if (spec.common_name.empty() && spec.dns_names.empty() && spec.ip_addresses.empty()) {
    return Status::invalid_argument("a CSR needs a common name or at least one DNS or IP name");
  }
  Sans sans;
  sans.dns = spec.dns_names;
  sans.ips = spec.ip_addresses;
  auto san = san_extension(sans, /*critical=*/false, "the certificate spec");
  if (!san) return san.status();

  auto key = parse_private_key(key_pem, "the CSR key");
  if (!key) return key.status();
  if (check_key) {
    if (Status s = check_key_acceptable(key->get(), "the CSR key"); !s) return s;
  }

  ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return internal_error("allocating a CSR");
  }
  auto name = name_with_cn(spec.common_name);
  if (!name) return name.status();
  if (X509_REQ_set_subject_name(req.get(), name->get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key->get()) != 1) {
    return internal_error("filling in the CSR");
  }
  if (san.value()) {
    ExtStackPtr exts(sk_X509_EXTENSION_new_null());
    if (!exts || sk_X509_EXTENSION_push(exts.get(), san->get()) <= 0) {
      return internal_error("collecting the CSR extensions");
    }
    san->release();  // now owned by `exts`
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
      return internal_error("adding the extension request to the CSR");
    }
  }
  if (X509_REQ_sign(req.get(), key->get(), digest_for(key->get())) <= 0) {
    return internal_error("signing the CSR");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509_REQ(out.get(), req.get()) != 1) {
    return internal_error("encoding the CSR as PEM");
  }
  return bio_contents(out.get());
}

}  // namespace

Result<std::string> make_csr(const CertSpec& spec, const std::string& key_pem) {
  ErrorQueueGuard guard;
  return build_csr(spec, key_pem, /*check_key=*/true);
}

Result<CsrInfo> inspect_csr(const std::string& csr_pem) {
  ErrorQueueGuard guard;
  auto csr = read_checked_csr(csr_pem);
  if (!csr) return csr.status();
  return std::move(csr->info);
}

namespace {

// sign_csr; `flaws` other than the default only for issue_flawed_for_tests.
Result<std::string> sign_csr_with(const std::string& csr_pem, const CertAndKey& ca,
                                  seconds validity, bool server_auth, bool client_auth,
                                  seconds backdate, const LeafFlaws& flaws) {
  if (Status s = check_period(validity, backdate); !s) return s;
  if (!server_auth && !client_auth) {
    return Status::invalid_argument(
        "a leaf certificate needs serverAuth, clientAuth or both (without extendedKeyUsage it "
        "would be good for every purpose)");
  }
  auto csr = read_checked_csr(csr_pem);
  if (!csr) return csr.status();
  EVP_PKEY* subject_key = X509_REQ_get0_pubkey(csr->req.get());
  if (flaws.rsa_bits == 0) {
    if (Status s = check_key_acceptable(subject_key, "the CSR key"); !s) return s;
  }

  auto ca_certs = parse_certs(ca.cert_pem, "the CA certificate", /*first_only=*/true);
  if (!ca_certs) return ca_certs.status();
  X509* ca_cert = ca_certs->front().get();
  auto ca_key = parse_private_key(ca.key_pem, "the CA key");
  if (!ca_key) return ca_key.status();
  if (X509_check_private_key(ca_cert, ca_key->get()) != 1) {
    return input_error("the CA key does not belong to the CA certificate");
  }
  if (X509_check_ca(ca_cert) != 1) {
    auto cn = common_name_of(X509_get_subject_name(ca_cert), "the CA certificate", false);
    return Status::invalid_argument("the CA certificate " + quote(cn ? cn.value() : std::string()) +
                                    " is not a CA (it needs basicConstraints CA:TRUE and, if it "
                                    "has keyUsage, keyCertSign)");
  }

  // Only the CN goes into the subject: other requested attributes (O=system:masters, ...) could
  // grant authority the signer never looked at.
  const CsrInfo& info = csr->info;
  auto subject = name_with_cn(info.common_name);
  if (!subject) return subject.status();
  auto cert =
      new_cert(subject->get(), X509_get_subject_name(ca_cert), subject_key, validity, backdate);
  if (!cert) return cert.status();
  X509* x = cert->get();

  Sans sans{info.dns_names, info.ip_addresses, info.uris, info.emails};
  // RFC 5280: with an empty subject the subjectAltName must be critical.
  auto san = san_extension(sans, /*critical=*/info.common_name.empty(), "the CSR");
  if (!san) return san.status();
  // keyEncipherment only for RSA: only RSA key transport encrypts to the certified key.
  Status added = add_basic_constraints(x, /*ca=*/flaws.is_ca);
  if (added) {
    const bool rsa = EVP_PKEY_is_a(subject_key, "RSA");
    added = flaws.is_ca ? add_key_usage(x, {kKuDigitalSignature, kKuKeyCertSign})
            : rsa       ? add_key_usage(x, {kKuDigitalSignature, kKuKeyEncipherment})
                        : add_key_usage(x, {kKuDigitalSignature});
  }
  if (added) added = add_extended_key_usage(x, server_auth, client_auth);
  if (added) added = add_subject_key_id(x);
  if (added) added = add_authority_key_id(x, ca_cert);
  if (!added) return added;
  if (san.value() && X509_add_ext(x, san->get(), -1) != 1) {
    return internal_error("adding the subjectAltName extension");
  }
  if (Status s = sign_cert(x, ca_key->get()); !s) return s;
  return cert_pem(x);
}

Result<PkeyPtr> new_rsa_key(int bits) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) <= 0) {
    return internal_error("setting up RSA " + std::to_string(bits) + " key generation");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) <= 0) {
    return internal_error("generating an RSA " + std::to_string(bits) + " key");
  }
  return PkeyPtr(raw);
}

}  // namespace

Result<std::string> sign_csr(const std::string& csr_pem, const CertAndKey& ca, seconds validity,
                             bool server_auth, bool client_auth, seconds backdate) {
  ErrorQueueGuard guard;
  return sign_csr_with(csr_pem, ca, validity, server_auth, client_auth, backdate, LeafFlaws{});
}

Result<CertAndKey> issue_flawed_for_tests(const CertSpec& spec, const CertAndKey& ca,
                                          KeyType type, const LeafFlaws& flaws) {
  ErrorQueueGuard guard;
  if (Status s = check_period(spec.validity, spec.backdate); !s) return s;
  Result<PkeyPtr> key = flaws.rsa_bits > 0 ? new_rsa_key(flaws.rsa_bits) : new_key(type);
  if (!key) return key.status();
  auto key_text = private_key_pem(key->get());
  if (!key_text) return key_text.status();
  auto csr = build_csr(spec, key_text.value(), /*check_key=*/flaws.rsa_bits == 0);
  if (!csr) return csr.status();
  auto cert = sign_csr_with(csr.value(), ca, spec.validity, spec.server_auth, spec.client_auth,
                            spec.backdate, flaws);
  if (!cert) return cert.status();
  return CertAndKey{std::move(cert).value(), std::move(key_text).value()};
}

Result<CertAndKey> issue(const CertSpec& spec, const CertAndKey& ca, KeyType type) {
  // Fail on bad arguments before paying for key generation.
  if (Status s = check_period(spec.validity, spec.backdate); !s) return s;
  auto key = generate_key(type);
  if (!key) return key.status();
  auto csr = make_csr(spec, key->private_key_pem);
  if (!csr) return csr.status();
  auto cert =
      sign_csr(csr.value(), ca, spec.validity, spec.server_auth, spec.client_auth, spec.backdate);
  if (!cert) return cert.status();
  return CertAndKey{std::move(cert).value(), std::move(key->private_key_pem)};
}

Result<CertInfo> inspect_cert(const std::string& cert_pem) {
  ErrorQueueGuard guard;
  auto certs = parse_certs(cert_pem, "the given text", /*first_only=*/true);
  if (!certs) return certs.status();
  return describe_cert(certs->front().get());
}

Result<std::vector<CertInfo>> inspect_bundle(const std::string& pem) {
  ErrorQueueGuard guard;
  auto certs = parse_certs(pem, "the certificate bundle", /*first_only=*/false);
  if (!certs) return certs.status();
  std::vector<CertInfo> infos;
  for (X509Ptr& cert : certs.value()) {
    auto info = describe_cert(cert.get());
    if (!info) return info.status();
    infos.push_back(std::move(info).value());
  }
  return infos;
}

Status verify_chain(const std::string& cert_pem, const std::string& trust_bundle_pem,
                    Clock::time_point at) {
  return verify_chain_classified(cert_pem, trust_bundle_pem, at).status;
}

Result<MatchedCert> find_cert_for_key(const std::string& bundle_pem, const std::string& key_pem) {
  ErrorQueueGuard guard;
  auto certs = parse_certs(bundle_pem, "the certificate bundle", /*first_only=*/false);
  if (!certs) return certs.status();
  auto key = parse_private_key(key_pem, "the private key");
  if (!key) return key.status();
  for (size_t i = 0; i < certs->size(); ++i) {
    X509* cert = certs.value()[i].get();
    // X509_check_private_key compares the public halves; a mismatch only queues an error.
    if (X509_check_private_key(cert, key->get()) == 1) {
      auto pem = cert_pem(cert);
      if (!pem) return pem.status();
      return MatchedCert{i, std::move(pem).value()};
    }
    ERR_clear_error();
  }
  return Status::not_found("none of the " + std::to_string(certs->size()) +
                           " certificate(s) belongs to the private key");
}

namespace {

ChainFailure classify_verify_error(int err) {
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return ChainFailure::kExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return ChainFailure::kNotYetValid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return ChainFailure::kUnknownIssuer;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
      return ChainFailure::kBadSignature;
    default:
      return ChainFailure::kOther;
  }
}

}  // namespace

ChainCheck verify_chain_classified(const std::string& cert_pem, const std::string& trust_bundle_pem,
                                   Clock::time_point at) {
  ErrorQueueGuard guard;
  auto certs = parse_certs(cert_pem, "the certificate to verify", /*first_only=*/false);
  if (!certs) return {ChainFailure::kUnparsable, certs.status()};
  auto anchors = parse_certs(trust_bundle_pem, "the trust bundle", /*first_only=*/false);
  if (!anchors) return {ChainFailure::kUnparsable, anchors.status()};

  StorePtr store(X509_STORE_new());
  if (!store) return {ChainFailure::kOther, internal_error("allocating a certificate store")};
  for (X509Ptr& anchor : anchors.value()) {
    if (X509_STORE_add_cert(store.get(), anchor.get()) != 1) {  // takes its own reference
      return {ChainFailure::kOther, internal_error("adding a trust bundle certificate")};
    }
  }
  CertStackPtr untrusted(sk_X509_new_null());
  if (!untrusted) return {ChainFailure::kOther, internal_error("allocating the intermediates")};
  for (size_t i = 1; i < certs->size(); ++i) {
    if (sk_X509_push(untrusted.get(), certs.value()[i].get()) <= 0) {
      return {ChainFailure::kOther, internal_error("collecting the intermediates")};
    }
    certs.value()[i].release();  // now owned by `untrusted`
  }
  X509* leaf = certs->front().get();
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    return {ChainFailure::kOther, internal_error("setting up certificate verification")};
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, to_time_t(at));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_USE_CHECK_TIME);
  int rc = X509_verify_cert(ctx.get());
  if (rc == 1) return {ChainFailure::kNone, Status::ok()};
  int err = X509_STORE_CTX_get_error(ctx.get());
  if (rc < 0 || err == X509_V_OK) {
    return {ChainFailure::kOther, internal_error("certificate verification")};
  }
  X509* failed = X509_STORE_CTX_get_current_cert(ctx.get());
  if (failed == nullptr) failed = leaf;
  auto leaf_cn = common_name_of(X509_get_subject_name(leaf), "the certificate", false);
  auto failed_cn = common_name_of(X509_get_subject_name(failed), "the certificate", false);
  std::string message = "certificate " + quote(leaf_cn ? leaf_cn.value() : std::string()) +
                        " does not verify against the trust bundle at " +
                        format_rfc3339(at, 0) + ": ";
  if (failed != leaf) {
    message += "its chain member " + quote(failed_cn ? failed_cn.value() : std::string()) +
               " (depth " + std::to_string(X509_STORE_CTX_get_error_depth(ctx.get())) + ") ";
  } else {
    message += "it ";
  }
  message += verify_reason(err, failed);
  message += " (OpenSSL: " + std::string(X509_verify_cert_error_string(err)) + ")";
  return {classify_verify_error(err), Status::invalid_argument(message)};
}


Status check_key_strength(std::string_view key_type, const std::string& what) {
  const std::string type(key_type);
  if (type.starts_with("RSA ") && type.find_first_not_of("0123456789", 4) == std::string::npos) {
    int bits = 0;
    auto [end, ec] = std::from_chars(type.data() + 4, type.data() + type.size(), bits);
    if (ec == std::errc() && end == type.data() + type.size() && bits >= 2048) {
      return Status::ok();
    }
    return Status::invalid_argument(what + " is " + type + ": RSA keys need at least 2048 bits");
  }
  if (type == "ECDSA P-256" || type == "ECDSA P-384" || type == "ECDSA P-521" ||
      type == "Ed25519" || type == "Ed448") {
    return Status::ok();
  }
  return Status::invalid_argument(what + " is of type " + quote(type) +
                                  ", which esk8s does not accept (use ECDSA P-256/P-384/P-521, "
                                  "RSA of 2048 bits or more, Ed25519 or Ed448)");
}

}  // namespace esk8s::tls
