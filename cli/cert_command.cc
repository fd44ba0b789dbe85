#include "cli/cert_command.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "cli/time_text.h"
#include "common/identity.h"
#include "common/rfc3339.h"
#include "plugin/config.h"
#include "tls/files_source.h"
#include "tls/issuer.h"
#include "tls/key_file.h"
#include "tls/key_type.h"
#include "tls/local_ca_issuer.h"
#include "tls/peer_verify.h"
#include "tls/san_policy.h"
#include "tls/x509.h"

namespace esk8s::cli {

const char* const kCertUsage =
    "  cert create-ca --out DIR [--key-type T] [--validity-days N] [--name CN] [--force]\n"
    "                 [--namespace NS]...\n"
    "                 a cluster CA: DIR/ca.crt (0644) and DIR/ca.key (0600); default\n"
    "                 ecdsa-p256, 3650 days, CN \"esk8s cluster CA\"; prints the kubectl\n"
    "                 command creating its Secret in each --namespace (NAMESPACE if none)\n"
    "  cert create-node --ca DIR --pod P --service S --namespace N --out DIR2\n"
    "                 [--cluster-domain D] [--client-service C]... [--peer-namespace NS]...\n"
    "                 [--localhost] [--key-type T] [--validity-days N] [--force]\n"
    "                 a member certificate signed by DIR's CA: DIR2/tls.crt, DIR2/tls.key\n"
    "                 (0600), DIR2/ca.crt; names from the SAN policy, never pod IPs;\n"
    "                 default 30 days, cluster domain from /etc/resolv.conf or cluster.local\n"
    "  cert inspect FILE [--pod P --service S --namespace N [--cluster-domain D]]\n"
    "                 [--client-service C]... [--ca FILE] [--expiry-warning-days N] [--json]\n"
    "                 subject, issuer, SANs, key, validity, usages and every problem: IP or\n"
    "                 pod-address SANs, missing identity names, wrong usages, expired or\n"
    "                 expiring (7 days), not chaining to --ca; exit 1 when problems\n"
    "                 key types: ecdsa-p256 (default), rsa-2048, rsa-3072, ed25519\n";

namespace {

using Clock = std::chrono::system_clock;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr int kDefaultCaValidityDays = 3650;
constexpr int kDefaultNodeValidityDays = 30;
constexpr int kDefaultExpiryWarningDays = 7;
constexpr const char* kDefaultCaName = "esk8s cluster CA";

// ---- Options ----

struct OptionSpec {
  std::set<std::string> single;    // --name VALUE, at most once
  std::set<std::string> repeated;  // --name VALUE, any number of times
  std::set<std::string> boolean;   // --name
  size_t positional = 0;           // how many plain words are accepted
};

struct Options {
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> flags;
  std::vector<std::string> positional;

  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second.front();
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
  bool flag(const std::string& name) const { return flags.count(name) > 0; }
};

// Parses args[1..] ("--name value", "--name=value", "--flag", positional words).
Result<Options> parse_options(const std::vector<std::string>& args, const OptionSpec& spec) {
  Options o;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string a = args[i];
    if (!a.starts_with("--")) {
      if (o.positional.size() >= spec.positional) {
        return Status::invalid_argument("unexpected argument \"" + a + "\"");
      }
      o.positional.push_back(a);
      continue;
    }
    std::optional<std::string> inline_value;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    if (spec.boolean.count(a)) {
      if (inline_value) return Status::invalid_argument(a + " takes no value");
      o.flags.insert(a);
      continue;
    }
    if (!spec.single.count(a) && !spec.repeated.count(a)) {
      return Status::invalid_argument("unknown option \"" + a + "\"");
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::invalid_argument(a + " needs a value");
    }
    if (value.empty()) return Status::invalid_argument(a + " needs a non-empty value");
    if (spec.single.count(a) && o.has(a)) {
      return Status::invalid_argument(a + " may be given only once");
    }
    o.values[a].push_back(value);
  }
  return o;
}

Status require(const Options& o, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (!o.has(n)) return Status::invalid_argument(std::string(n) + " is required");
  }
  return Status::ok();
}

Result<int> parse_days(const Options& o, const std::string& name, int fallback) {
  if (!o.has(name)) return fallback;
  std::string text = o.get(name);
  int days = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), days);
  if (ec != std::errc() || end != text.data() + text.size() || days < 1 || days > 36500) {
    return Status::invalid_argument(name + " \"" + text +
                                    "\" is not a whole number of days between 1 and 36500");
  }
  return days;
}

Result<tls::KeyType> key_type_option(const Options& o) {
  if (!o.has("--key-type")) return tls::kDefaultKeyType;
  return tls::parse_key_type(o.get("--key-type"));
}

std::chrono::seconds days(int n) { return std::chrono::seconds(int64_t{n} * 24 * 3600); }

std::string join_path(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

// The cluster domain and where it came from: the option, resolv.conf, or the default.
std::pair<std::string, std::string> cluster_domain(const Options& o, const CertContext& ctx) {
  if (o.has("--cluster-domain")) return {o.get("--cluster-domain"), "--cluster-domain"};
  auto text = tls::read_pem_file(ctx.resolv_conf_path, "resolver configuration");
  if (text) {
    std::string d = plugin::detect_cluster_domain(text.value());
    if (!d.empty()) return {d, ctx.resolv_conf_path};
  }
  return {"cluster.local", "default"};
}

Status ensure_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io("cannot create directory " + dir + ": " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::io(dir + " exists and is not a directory");
  }
  return Status::ok();
}

// Refuses to replace existing files unless --force.
Status check_overwrite(const std::vector<std::string>& paths, bool force) {
  if (force) return Status::ok();
  for (const std::string& p : paths) {
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) {
      return Status::state(p + " already exists; pass --force to replace it");
    }
  }
  return Status::ok();
}

int usage_error(std::ostream& err, const std::string& command, const std::string& message) {
  err << "esk8s cert " << command << ": " << message << "\n\nusage:\n" << kCertUsage;
  return kExitUsage;
}

int failure(std::ostream& err, const std::string& command, const Status& s) {
  err << "esk8s cert " << command << ": " << s.message() << "\n";
  return kExitFailed;
}

// ---- create-ca ----

int create_ca(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::string cmd = "create-ca";
  OptionSpec spec{
      {"--out", "--key-type", "--validity-days", "--name"}, {"--namespace"}, {"--force"}, 0};
  auto o = parse_options(args, spec);
  if (!o) return usage_error(err, cmd, o.status().message());
  if (Status s = require(o.value(), {"--out"}); !s) return usage_error(err, cmd, s.message());
  std::vector<std::string> namespaces = o->all("--namespace");
  for (const std::string& ns : namespaces) {
    if (!is_dns1123_label(ns)) {
      return usage_error(err, cmd, "--namespace \"" + ns + "\" is not a namespace name");
    }
  }
  auto type = key_type_option(o.value());
  if (!type) return usage_error(err, cmd, type.status().message());
  auto validity = parse_days(o.value(), "--validity-days", kDefaultCaValidityDays);
  if (!validity) return usage_error(err, cmd, validity.status().message());
  const std::string name = o->get("--name", kDefaultCaName);
  const std::string dir = o->get("--out");
  const std::string cert_path = join_path(dir, tls::kCaCertFileName);
  const std::string key_path = join_path(dir, tls::kCaKeyFileName);

  if (Status s = check_overwrite({cert_path, key_path}, o->flag("--force")); !s) {
    return failure(
        err, cmd,
        Status::state(s.message() + " (members signed by the old CA stop verifying unless it stays "
                                    "in their trust bundle)"));
  }
  auto ca = tls::make_self_signed_ca(name, type.value(), days(validity.value()));
  if (!ca) {
    if (ca.status().code() == Status::Code::kInvalidArgument) {
      return usage_error(err, cmd, ca.status().message());
    }
    return failure(err, cmd, ca.status());
  }
  if (Status s = ensure_directory(dir); !s) return failure(err, cmd, s);
  // The key first: a ca.crt without its key next to it would be a CA nobody can use.
  if (Status s = tls::write_private_key_file(key_path, ca->key_pem); !s) {
    return failure(err, cmd, s);
  }
  if (Status s = tls::write_certificate_file(cert_path, ca->cert_pem); !s) {
    return failure(err, cmd, s);
  }
  auto info = tls::inspect_cert(ca->cert_pem);
  out << "wrote " << cert_path << " (mode 0644): CA \"" << name << "\", "
      << (info ? info->key_type : std::string(tls::key_type_name(type.value())));
  if (info) out << ", valid until " << format_rfc3339(info->not_after, 0);
  out << "\nwrote " << key_path << " (mode 0600): keep it secret; anyone holding it can join "
      << "the cluster\n"
      << "next: create the Secret esk8s-ca in "
      << (namespaces.empty() ? "every namespace that runs members of the cluster (the same CA "
                               "in each):\n"
                             : std::string(namespaces.size() == 1 ? "its namespace:\n"
                                                                  : "each namespace:\n"));
  if (namespaces.empty()) namespaces.push_back("NAMESPACE");
  for (const std::string& ns : namespaces) {
    out << "  kubectl -n " << ns << " create secret generic esk8s-ca --from-file=ca.crt="
        << cert_path << " --from-file=ca.key=" << key_path << "\n";
  }
  return kExitOk;
}

// ---- create-node ----

Result<tls::SanInput> san_input(const Options& o, const CertContext& ctx, std::string* source) {
  tls::SanInput in;
  in.pod = o.get("--pod");
  in.service = o.get("--service");
  in.namespace_name = o.get("--namespace");
  auto [domain, from] = cluster_domain(o, ctx);
  in.cluster_domain = domain;
  if (source != nullptr) *source = from;
  in.client_services = o.all("--client-service");
  in.peer_namespaces = o.all("--peer-namespace");
  in.include_localhost = o.flag("--localhost");
  auto plan = tls::plan_sans(in);
  if (!plan) return plan.status();
  return in;
}

int create_node(const std::vector<std::string>& args, const CertContext& ctx, std::ostream& out,
                std::ostream& err) {
  const std::string cmd = "create-node";
  OptionSpec spec{{"--ca", "--pod", "--service", "--namespace", "--cluster-domain", "--key-type",
                   "--validity-days", "--out"},
                  {"--client-service", "--peer-namespace"},
                  {"--localhost", "--force"},
                  0};
  auto o = parse_options(args, spec);
  if (!o) return usage_error(err, cmd, o.status().message());
  if (Status s = require(o.value(), {"--ca", "--pod", "--service", "--namespace", "--out"}); !s) {
    return usage_error(err, cmd, s.message());
  }
  auto type = key_type_option(o.value());
  if (!type) return usage_error(err, cmd, type.status().message());
  auto validity = parse_days(o.value(), "--validity-days", kDefaultNodeValidityDays);
  if (!validity) return usage_error(err, cmd, validity.status().message());
  std::string domain_source;
  auto names = san_input(o.value(), ctx, &domain_source);
  if (!names) return usage_error(err, cmd, names.status().message());

  const std::string dir = o->get("--out");
  const std::string cert_path = join_path(dir, tls::kTlsCertFileName);
  const std::string key_path = join_path(dir, tls::kTlsKeyFileName);
  const std::string ca_path = join_path(dir, tls::kTrustBundleFileName);
  if (Status s = check_overwrite({cert_path, key_path, ca_path}, o->flag("--force")); !s) {
    return failure(err, cmd, s);
  }

  tls::LocalCaIssuer issuer(o->get("--ca"));
  tls::IssueRequest request{names.value(), type.value(), days(validity.value())};
  auto issued = issuer.issue(request);
  if (!issued) return failure(err, cmd, issued.status());
  if (Status s = ensure_directory(dir); !s) return failure(err, cmd, s);
  if (Status s = tls::write_private_key_file(key_path, issued->key_pem); !s) {
    return failure(err, cmd, s);
  }
  if (Status s = tls::write_certificate_file(cert_path, issued->cert_pem); !s) {
    return failure(err, cmd, s);
  }
  if (Status s = tls::write_certificate_file(ca_path, issued->trust_bundle_pem); !s) {
    return failure(err, cmd, s);
  }

  auto info = tls::inspect_cert(issued->cert_pem);
  if (!info) return failure(err, cmd, info.status());
  out << "cluster domain " << names->cluster_domain << " (from " << domain_source << ")\n"
      << "wrote " << cert_path << " (mode 0644): " << info->key_type << ", valid until "
      << format_rfc3339(info->not_after, 0) << "\n"
      << "  CN       " << (info->subject_cn.empty() ? "(none)" : info->subject_cn) << "\n";
  for (const std::string& d : info->dns_names) out << "  DNS SAN  " << d << "\n";
  for (const std::string& ip : info->ip_addresses) out << "  IP SAN   " << ip << "\n";
  out << "wrote " << key_path << " (mode 0600)\n"
      << "wrote " << ca_path << " (mode 0644): the trust bundle\n"
      << "next: kubectl -n " << names->namespace_name << " create secret generic " << names->pod
      << "-tls --type=kubernetes.io/tls --from-file=" << cert_path << " --from-file=" << key_path
      << " --from-file=" << ca_path << "\n";
  return kExitOk;
}

// ---- inspect ----

struct Problem {
  std::string code;
  std::string message;
};

// "10-1-2-3.ns.pod.cluster.local": the DNS form of a pod's IP address (first label a dashed
// IPv4 address).
bool looks_like_pod_address(const std::string& dns) {
  std::string first = dns.substr(0, dns.find('.'));
  std::replace(first.begin(), first.end(), '-', '.');
  unsigned char buf[4];
  return dns.find('.') != std::string::npos && inet_pton(AF_INET, first.c_str(), buf) == 1;
}

// A DNS SAN that is really an address literal ("10.0.0.7" written as a DNS name).
bool is_ip_literal_text(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::vector<std::string> key_usages(const tls::CertInfo& c) {
  std::vector<std::string> v;
  if (c.key_usage_digital_signature) v.push_back("digitalSignature");
  if (c.key_usage_key_encipherment) v.push_back("keyEncipherment");
  if (c.key_usage_cert_sign) v.push_back("keyCertSign");
  return v;
}

std::vector<std::string> ext_key_usages(const tls::CertInfo& c) {
  std::vector<std::string> v;
  if (c.eku_server_auth) v.push_back("serverAuth");
  if (c.eku_client_auth) v.push_back("clientAuth");
  return v;
}

void check_leaf(const tls::CertInfo& c, std::vector<Problem>* problems) {
  std::vector<std::string> wildcards, pod_addresses, ip_like;
  bool any_identity = false;
  for (const std::string& d : c.dns_names) {
    if (d.find('*') != std::string::npos) {
      wildcards.push_back(d);
    } else if (is_ip_literal_text(d)) {
      ip_like.push_back(d);
    } else if (looks_like_pod_address(d)) {
      pod_addresses.push_back(d);
    } else {
      any_identity = true;
    }
  }
  if (!any_identity) {
    problems->push_back({"no_dns_identity",
                         "no DNS SAN names a member: peers identify members only by DNS SANs "
                         "(the common name is ignored)"});
  }
  if (!wildcards.empty()) {
    problems->push_back({"wildcard_san", "wildcard DNS SAN(s) " + joined(wildcards) +
                                             ": a wildcard is no identity and peers refuse it; "
                                             "every member needs its own certificate"});
  }
  if (!pod_addresses.empty() || !ip_like.empty()) {
    std::vector<std::string> all = pod_addresses;
    all.insert(all.end(), ip_like.begin(), ip_like.end());
    problems->push_back(
        {"pod_address_san", "DNS SAN(s) " + joined(all) +
                                " encode a pod address, which changes when the pod is "
                                "rescheduled; name the pod by its service instead"});
  }
  std::vector<std::string> ips;
  for (const std::string& ip : c.ip_addresses) {
    if (ip != "127.0.0.1" && ip != "::1") ips.push_back(ip);
  }
  if (!ips.empty()) {
    problems->push_back({"ip_san", "IP SAN(s) " + joined(ips) +
                                       ": pod IPs change when a pod is rescheduled and esk8s "
                                       "never matches them; certificates name services"});
  }
  if (!c.key_usage_digital_signature) {
    problems->push_back({"missing_digital_signature",
                         "keyUsage lacks digitalSignature, which every TLS handshake needs"});
  }
  if (c.key_usage_cert_sign) {
    problems->push_back({"leaf_can_sign_certificates",
                         "keyUsage includes keyCertSign: a member certificate must not sign "
                         "others"});
  }
  if (!c.eku_server_auth) {
    problems->push_back({"missing_server_auth",
                         "extendedKeyUsage lacks serverAuth: peers dialling this member refuse "
                         "it (missing_server_auth)"});
  }
  if (!c.eku_client_auth) {
    problems->push_back({"missing_client_auth",
                         "extendedKeyUsage lacks clientAuth: members this one dials refuse it "
                         "(missing_client_auth)"});
  }
}

// How deep a chain below this CA may go, in an operator's words.
std::string describe_path_length(std::optional<long> path_length) {
  if (!path_length) return "unlimited (certificates it signs could sign further ones)";
  if (*path_length == 0) return "0 (signs member certificates only)";
  return std::to_string(*path_length) + " (intermediate CAs below it allowed)";
}

int inspect(const std::vector<std::string>& args, const CertContext& ctx, std::ostream& out,
            std::ostream& err) {
  const std::string cmd = "inspect";
  OptionSpec spec{
      {"--pod", "--service", "--namespace", "--cluster-domain", "--ca", "--expiry-warning-days"},
      {"--client-service"},
      {"--json"},
      1};
  auto o = parse_options(args, spec);
  if (!o) return usage_error(err, cmd, o.status().message());
  if (o->positional.empty()) return usage_error(err, cmd, "FILE is required");
  const std::string file = o->positional.front();
  int named = o->has("--pod") + o->has("--service") + o->has("--namespace");
  if (named != 0 && named != 3) {
    return usage_error(err, cmd, "--pod, --service and --namespace go together");
  }
  if (named == 0 && (o->has("--cluster-domain") || o->has("--client-service"))) {
    return usage_error(err, cmd,
                       "--cluster-domain and --client-service need --pod, --service and "
                       "--namespace");
  }
  auto warn_days = parse_days(o.value(), "--expiry-warning-days", kDefaultExpiryWarningDays);
  if (!warn_days) return usage_error(err, cmd, warn_days.status().message());

  std::optional<tls::SanPlan> expected;
  if (named == 3) {
    auto in = san_input(o.value(), ctx, nullptr);
    if (!in) return usage_error(err, cmd, in.status().message());
    expected = tls::plan_sans(in.value()).value();
  }
  auto text = tls::read_pem_file(file, "certificate");
  if (!text) return usage_error(err, cmd, text.status().message());
  auto parsed = tls::inspect_cert(text.value());
  if (!parsed) {
    return usage_error(err, cmd, file + " is not a PEM certificate: " + parsed.status().message());
  }
  std::optional<std::string> ca_text;
  if (o->has("--ca")) {
    auto ca = tls::read_pem_file(o->get("--ca"), "CA certificate");
    if (!ca) return usage_error(err, cmd, ca.status().message());
    ca_text = std::move(ca).value();
  }
  const tls::CertInfo& c = parsed.value();
  const Clock::time_point now = ctx.now.value_or(Clock::now());

  std::vector<Problem> problems;
  if (c.is_ca) {
    if (!c.key_usage_cert_sign) {
      problems.push_back({"ca_cannot_sign", "this CA certificate's keyUsage lacks keyCertSign"});
    }
  } else {
    check_leaf(c, &problems);
  }
  if (Status strong = tls::check_key_strength(c.key_type, "its key"); !strong) {
    problems.push_back({"weak_key", strong.message() + " (peers refuse such certificates)"});
  }
  if (expected) {
    std::vector<std::string> missing;
    for (const std::string& name : expected->dns_names) {
      bool found = std::any_of(c.dns_names.begin(), c.dns_names.end(),
                               [&](const std::string& d) { return tls::dns_name_equal(d, name); });
      if (!found) missing.push_back(name);
    }
    for (const std::string& name : missing) {
      problems.push_back({"missing_name",
                          "DNS SAN " + name + " is missing" +
                              (name == expected->identity
                                   ? " (the pod identity: peers refuse this certificate without it)"
                                   : "")});
    }
  }
  if (now < c.not_before) {
    problems.push_back({"not_yet_valid", "not valid before " + format_rfc3339(c.not_before, 0) +
                                             " (" + describe_time_left(c.not_before - now) + ")"});
  } else if (now >= c.not_after) {
    problems.push_back({"expired", "expired at " + format_rfc3339(c.not_after, 0) + " (" +
                                       describe_time_left(c.not_after - now) + ")"});
  } else if (c.not_after - now < days(warn_days.value())) {
    problems.push_back({"expiring_soon", "expires at " + format_rfc3339(c.not_after, 0) + " (" +
                                             describe_time_left(c.not_after - now) + "), within " +
                                             std::to_string(warn_days.value()) + " days"});
  }
  if (ca_text) {
    tls::ChainCheck chain = tls::verify_chain_classified(text.value(), *ca_text, now);
    // Time failures are reported above in plainer words.
    if (chain.failure != tls::ChainFailure::kNone && chain.failure != tls::ChainFailure::kExpired &&
        chain.failure != tls::ChainFailure::kNotYetValid) {
      problems.push_back(
          {"untrusted", "does not chain to " + o->get("--ca") + ": " + chain.status.message()});
    }
  }

  if (o->flag("--json")) {
    json j;
    j["file"] = file;
    j["subject_cn"] = c.subject_cn;
    j["issuer_cn"] = c.issuer_cn;
    j["serial"] = c.serial_hex;
    j["is_ca"] = c.is_ca;
    j["path_length"] = c.path_length ? json(*c.path_length) : json(nullptr);
    j["key_type"] = c.key_type;
    j["not_before"] = format_rfc3339(c.not_before, 0);
    j["not_after"] = format_rfc3339(c.not_after, 0);
    j["dns_names"] = c.dns_names;
    j["ip_addresses"] = c.ip_addresses;
    j["key_usage"] = key_usages(c);
    j["extended_key_usage"] = ext_key_usages(c);
    j["problems"] = json::array();
    for (const Problem& p : problems) {
      j["problems"].push_back({{"code", p.code}, {"message", p.message}});
    }
    out << j.dump(2) << "\n";
  } else {
    out << "file         " << file << "\n"
        << "kind         " << (c.is_ca ? "CA certificate" : "member (leaf) certificate") << "\n"
        << "subject      CN=" << c.subject_cn << "\n"
        << "issuer       CN=" << c.issuer_cn << "\n"
        << "serial       " << c.serial_hex << "\n"
        << "key type     " << c.key_type << "\n"
        << "valid        " << format_rfc3339(c.not_before, 0) << " to "
        << format_rfc3339(c.not_after, 0) << " (expires " << describe_time_left(c.not_after - now)
        << ")\n"
        << "key usage    " << joined(key_usages(c)) << "\n";
    if (c.is_ca) out << "path length  " << describe_path_length(c.path_length) << "\n";
    out
        << "ext key use  " << joined(ext_key_usages(c)) << "\n";
    if (c.dns_names.empty()) out << "DNS SAN      (none)\n";
    for (const std::string& d : c.dns_names) out << "DNS SAN      " << d << "\n";
    for (const std::string& ip : c.ip_addresses) out << "IP SAN       " << ip << "\n";
    if (problems.empty()) {
      out << "no problems found\n";
    } else {
      out << problems.size() << " problem(s):\n";
      for (const Problem& p : problems) out << "  - " << p.message << " [" << p.code << "]\n";
    }
  }
  return problems.empty() ? kExitOk : kExitFailed;
}

}  // namespace

int cert_command(const std::vector<std::string>& args, const CertContext& ctx, std::ostream& out,
                 std::ostream& err) {
  const std::string sub = args.empty() ? "" : args.front();
  if (sub == "create-ca") return create_ca(args, out, err);
  if (sub == "create-node") return create_node(args, ctx, out, err);
  if (sub == "inspect") return inspect(args, ctx, out, err);
  if (sub == "help" || sub == "--help" || sub == "-h") {
    out << "usage:\n" << kCertUsage;
    return kExitOk;
  }
  err << "esk8s cert: "
      << (sub.empty() ? std::string("a subcommand is needed")
                      : "unknown subcommand \"" + sub + "\"")
      << "\n\nusage:\n"
      << kCertUsage;
  return kExitUsage;
}

}  // namespace esk8s::cli
