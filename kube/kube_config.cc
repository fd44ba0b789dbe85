#include "kube/kube_config.h"


#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/file.h"
#include "common/text.h"
#include "kube/kube_config_yaml.h"

namespace esk8s::kube {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSupportedCredentials =
    "esk8s supports token, tokenFile, client certificates and exec plugins";
constexpr const char* kExecV1 = "client.authentication.k8s.io/v1";
constexpr const char* kExecV1beta1 = "client.authentication.k8s.io/v1beta1";

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string describe_type(const json& v) {
  if (v.is_object()) return "a mapping";
  if (v.is_array()) return "a list";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "nothing";
  return "a " + std::string(v.type_name());
}

// Makes `p` absolute: relative to base_dir, then (if still relative) to the working directory.
std::string resolve_path(const std::string& base_dir, const std::string& p) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_relative()) path = fs::path(base_dir) / path;
  if (path.is_relative()) {
    std::error_code ec;
    fs::path abs = fs::absolute(path, ec);
    if (!ec) path = abs;
  }
  return path.lexically_normal().string();
}

bool parse_port(std::string_view s, uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) {
    return false;
  }
  out = static_cast<uint16_t>(v);
  return true;
}

// Host names and IPv4 literals: letters, digits, '-', '.', '_'.
bool is_host_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Interprets one kubeconfig document; every message is prefixed with "kubeconfig <path>: ".
class KubeconfigReader {
 public:
  KubeconfigReader(const std::string& base_dir, const std::string& source_path)
      : base_dir_(base_dir), source_(source_path.empty() ? "<inline>" : source_path) {}

  Result<KubeConfig> read(std::string_view text, const std::string& context_override) {
    auto doc = parse_kubeconfig_yaml(text);
    if (!doc) return error(doc.status().message());
    const json& root = doc.value();
    if (root.is_null()) return error("the file is empty");
    if (!root.is_object()) {
      return error("expected a mapping with clusters, contexts and users at the top level, found " +
                   describe_type(root) + "; this is not a kubeconfig");
    }
    std::string kind;
    if (Status s = get_string(root, "kind", "the top level", kind); !s) return s;
    if (!kind.empty() && kind != "Config") {
      return error("kind is " + in_quotes(kind) +
                   ", expected \"Config\"; this is not a kubeconfig");
    }

    std::vector<Entry> contexts, clusters, users;
    if (Status s = collect(root, "contexts", "context", contexts); !s) return s;
    if (Status s = collect(root, "clusters", "cluster", clusters); !s) return s;
    if (Status s = collect(root, "users", "user", users); !s) return s;

    std::string context_name = context_override;
    if (context_name.empty()) {
      if (Status s = get_string(root, "current-context", "the top level", context_name); !s) {
        return s;
      }
      if (context_name.empty()) {
        return error("no current-context is set and no context was named (contexts: " +
                     names_of(contexts) + "); set current-context or name a context");
      }
    }
    const json* context = nullptr;
    if (Status s = find(contexts, "context", context_name, "", context); !s) return s;
    const std::string cwhere = "context " + in_quotes(context_name);
    std::string cluster_name, user_name;
    KubeConfig out;
    if (Status s = get_string(*context, "cluster", cwhere, cluster_name); !s) return s;
    if (Status s = get_string(*context, "user", cwhere, user_name); !s) return s;
    if (Status s = get_string(*context, "namespace", cwhere, out.namespace_name); !s) return s;
    if (cluster_name.empty()) return error(cwhere + " names no cluster");
    if (user_name.empty()) {
      return error(cwhere + " names no user; esk8s needs credentials (" + kSupportedCredentials +
                   ")");
    }
    const std::string referrer = " (named by " + cwhere + ")";
    const json* cluster = nullptr;
    if (Status s = find(clusters, "cluster", cluster_name, referrer, cluster); !s) return s;
    const json* user = nullptr;
    if (Status s = find(users, "user", user_name, referrer, user); !s) return s;

    if (Status s = read_cluster(*cluster, "cluster " + in_quotes(cluster_name), out); !s) return s;
    if (Status s = read_user(*user, "user " + in_quotes(user_name) + referrer, out); !s) return s;
    out.source = "kubeconfig " + source_ + " (context " + context_name + ")";
    return out;
  }

 private:
  struct Entry {
    std::string name;
    const json* body = nullptr;  // the `cluster:`/`context:`/`user:` mapping (maybe empty)
  };

  Status error(const std::string& msg) const {
    return Status::config("kubeconfig " + source_ + ": " + msg);
  }

  // obj[key] as a string; empty when absent or null.
  Status get_string(const json& obj, const char* key, const std::string& where,
                    std::string& out) const {
    out.clear();
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return Status::ok();
    if (!it->is_string()) {
      return error(where + ": " + key + " must be a string, found " + describe_type(*it));
    }
    out = it->get<std::string>();
    return Status::ok();
  }

  bool has(const json& obj, const char* key) const {
    auto it = obj.find(key);
    return it != obj.end() && !it->is_null();
  }

  // The named entries of the `list` ("clusters") whose bodies are under `item` ("cluster").
  Status collect(const json& root, const char* list, const char* item,
                 std::vector<Entry>& out) const {
    static const json kEmpty = json::object();
    auto it = root.find(list);
    if (it == root.end() || it->is_null()) return Status::ok();
    if (!it->is_array()) {
      return error(std::string(list) + " must be a list, found " + describe_type(*it));
    }
    size_t index = 0;
    for (const json& e : *it) {
      ++index;
      const std::string where = std::string(list) + " entry " + std::to_string(index);
      if (!e.is_object()) {
        return error(where + " must be a mapping with name and " + item + ", found " +
                     describe_type(e));
      }
      Entry entry;
      if (Status s = get_string(e, "name", where, entry.name); !s) return s;
      if (entry.name.empty()) return error(where + " has no name");
      for (const Entry& other : out) {
        if (other.name == entry.name) {
          return error(std::string(item) + " " + in_quotes(entry.name) +
                       " is defined more than once in " + list);
        }
      }
      auto body = e.find(item);
      if (body == e.end() || body->is_null()) {
        entry.body = &kEmpty;
      } else if (!body->is_object()) {
        return error(std::string(item) + " " + in_quotes(entry.name) + ": " + item +
                     " must be a mapping, found " + describe_type(*body));
      } else {
        entry.body = &*body;
      }
      out.push_back(std::move(entry));
    }
    return Status::ok();
  }

  static std::string names_of(const std::vector<Entry>& entries) {
    std::vector<std::string> names;
    for (const Entry& e : entries) names.push_back(e.name);
    return join(names);
  }

  Status find(const std::vector<Entry>& entries, const char* item, const std::string& name,
              const std::string& referrer, const json*& body) const {
    for (const Entry& e : entries) {
      if (e.name == name) {
        body = e.body;
        return Status::ok();
      }
    }
    return error(std::string(item) + " " + in_quotes(name) + referrer + " not found (" + item +
                 "s: " + names_of(entries) + ")");
  }

  // Decodes a `*-data` field: base64 of a PEM file.
  Status decode_pem(const std::string& data, const std::string& where, const char* field,
                    std::string& out) const {
    const std::string what = where + ": " + field;
    if (data.find("-----BEGIN") != std::string::npos) {
      return error(what +
                   " contains PEM text, but it must be the base64 encoding of the PEM (e.g. "
                   "the output of `base64 -w0 file.pem`)");
    }
    auto decoded = esk8s::base64_decode(data);
    if (decoded) out = std::move(*decoded);
    if (!decoded) {
      return error(what +
                   " is not valid base64 (it must be the base64 encoding of the PEM, e.g. "
                   "the output of `base64 -w0 file.pem`)");
    }
    if (out.find("-----BEGIN ") == std::string::npos) {
      out.clear();
      return error(what + " does not decode to PEM (expected a -----BEGIN ...----- block)");
    }
    return Status::ok();
  }

  Status read_cluster(const json& c, const std::string& where, KubeConfig& out) const {
    if (Status s = get_string(c, "server", where, out.server); !s) return s;
    if (out.server.empty()) return error(where + " has no server");
    if (auto addr = parse_server_url(out.server); !addr) {
      return error(where + ": " + addr.status().message());
    }
    while (out.server.back() == '/') out.server.pop_back();  // the URL has a host, so never empty
    std::string ca_file, ca_data, tls_server_name, proxy_url;
    if (Status s = get_string(c, "certificate-authority", where, ca_file); !s) return s;
    if (Status s = get_string(c, "certificate-authority-data", where, ca_data); !s) return s;
    if (Status s = get_string(c, "tls-server-name", where, tls_server_name); !s) return s;
    if (Status s = get_string(c, "proxy-url", where, proxy_url); !s) return s;
    if (!ca_file.empty() && !ca_data.empty()) {
      return error(where +
                   " sets both certificate-authority and certificate-authority-data; keep one");
    }
    if (!ca_data.empty()) {
      if (Status s = decode_pem(ca_data, where, "certificate-authority-data", out.ca_pem); !s) {
        return s;
      }
    }
    out.ca_file = resolve_path(base_dir_, ca_file);
    if (auto it = c.find("insecure-skip-tls-verify"); it != c.end() && !it->is_null()) {
      if (!it->is_boolean()) {
        return error(where + ": insecure-skip-tls-verify must be true or false, found " +
                     describe_type(*it));
      }
      out.insecure_skip_tls_verify = it->get<bool>();
    }
    if (out.insecure_skip_tls_verify && (!ca_file.empty() || !ca_data.empty())) {
      return error(where +
                   " sets insecure-skip-tls-verify together with a certificate authority; remove "
                   "one of them");
    }
    if (!tls_server_name.empty()) {
      return error(where +
                   ": tls-server-name is not supported by esk8s; use a server URL whose host "
                   "matches the API server certificate");
    }
    if (!proxy_url.empty()) {
      return error(where +
                   ": proxy-url is not supported by esk8s; the API server must be reachable "
                   "directly");
    }
    return Status::ok();
  }

  Status read_user(const json& u, const std::string& where, KubeConfig& out) const {
    const bool has_exec = has(u, "exec");
    if (auto it = u.find("auth-provider"); it != u.end() && !it->is_null()) {
      std::string name;
      if (it->is_object()) {
        if (auto n = it->find("name"); n != it->end() && n->is_string()) {
          name = " " + in_quotes(n->get<std::string>());
        }
      }
      return error(where + " uses the" + name + " auth-provider; " + kSupportedCredentials);
    }
    if (has(u, "username") || has(u, "password")) {
      return error(where + " uses basic authentication (username/password); " +
                   kSupportedCredentials);
    }
    for (const char* key : {"as", "as-uid", "as-groups", "as-user-extra"}) {
      if (has(u, key)) {
        return error(where + " impersonates another identity (" + key +
                     "); impersonation is not supported by esk8s");
      }
    }
    std::string token, token_file, cert_file, cert_data, key_file, key_data;
    if (Status s = get_string(u, "token", where, token); !s) return s;
    if (Status s = get_string(u, "tokenFile", where, token_file); !s) return s;
    if (Status s = get_string(u, "client-certificate", where, cert_file); !s) return s;
    if (Status s = get_string(u, "client-certificate-data", where, cert_data); !s) return s;
    if (Status s = get_string(u, "client-key", where, key_file); !s) return s;
    if (Status s = get_string(u, "client-key-data", where, key_data); !s) return s;
    if (!cert_file.empty() && !cert_data.empty()) {
      return error(where + " sets both client-certificate and client-certificate-data; keep one");
    }
    if (!key_file.empty() && !key_data.empty()) {
      return error(where + " sets both client-key and client-key-data; keep one");
    }
    const bool has_cert = !cert_file.empty() || !cert_data.empty();
    const bool has_key = !key_file.empty() || !key_data.empty();
    if (has_cert && !has_key) {
      return error(where +
                   " has a client certificate but no client key (client-key or client-key-data)");
    }
    if (has_key && !has_cert) {
      return error(where +
                   " has a client key but no client certificate (client-certificate or "
                   "client-certificate-data)");
    }
    if (has_exec) {
      if (has_cert || !token.empty() || !token_file.empty()) {
        return error(where +
                     " sets exec together with a token, tokenFile or client certificate; keep "
                     "one way to authenticate");
      }
      return read_exec(*u.find("exec"), where, out);
    }
    if (!has_cert && token.empty() && token_file.empty()) {
      return error(where + " has no credentials; " + kSupportedCredentials);
    }
    if (!cert_data.empty()) {
      if (Status s = decode_pem(cert_data, where, "client-certificate-data", out.client_cert_pem);
          !s) {
        return s;
      }
    }
    if (!key_data.empty()) {
      if (Status s = decode_pem(key_data, where, "client-key-data", out.client_key_pem); !s) {
        return s;
      }
    }
    out.client_cert_file = resolve_path(base_dir_, cert_file);
    out.client_key_file = resolve_path(base_dir_, key_file);
    out.token_file = resolve_path(base_dir_, token_file);
    if (out.token_file.empty()) out.token = token;
    return Status::ok();
  }

  // An exec credential plugin: validated here, run by exec_credential.cc.
  Status read_exec(const json& e, const std::string& where, KubeConfig& out) const {
    if (!e.is_object()) return error(where + ": exec must be a mapping, found " + describe_type(e));
    const std::string w = where + ": exec";
    ExecConfig x;
    x.origin = "kubeconfig " + source_ + ": " + where;
    if (Status s = get_string(e, "apiVersion", w, x.api_version); !s) return s;
    if (Status s = get_string(e, "command", w, x.command); !s) return s;
    if (Status s = get_string(e, "interactiveMode", w, x.interactive_mode); !s) return s;
    if (Status s = get_string(e, "installHint", w, x.install_hint); !s) return s;
    if (x.api_version.empty()) {
      return error(w + " has no apiVersion; set " + kExecV1 + " (or " + kExecV1beta1 +
                   ") as the plugin's documentation says");
    }
    if (x.api_version != kExecV1 && x.api_version != kExecV1beta1) {
      return error(w + " has apiVersion " + in_quotes(x.api_version) + "; esk8s (like kubectl) " +
                   "supports " + kExecV1 + " and " + kExecV1beta1 +
                   " (update the plugin and regenerate the kubeconfig)");
    }
    if (x.command.empty()) return error(w + " has no command");
    if (auto a = e.find("args"); a != e.end() && !a->is_null()) {
      if (!a->is_array()) return error(w + ": args must be a list, found " + describe_type(*a));
      for (const json& arg : *a) {
        if (!arg.is_string()) {
          return error(w + ": args must be strings, found " + describe_type(arg) +
                       " (quote it)");
        }
        x.args.push_back(arg.get<std::string>());
      }
    }
    if (auto env = e.find("env"); env != e.end() && !env->is_null()) {
      if (!env->is_array()) {
        return error(w + ": env must be a list of name/value entries, found " +
                     describe_type(*env));
      }
      size_t index = 0;
      for (const json& v : *env) {
        ++index;
        const std::string ew = w + ": env entry " + std::to_string(index);
        if (!v.is_object()) return error(ew + " must be a mapping with name and value");
        std::string name, value;
        if (Status s = get_string(v, "name", ew, name); !s) return s;
        if (Status s = get_string(v, "value", ew, value); !s) return s;
        if (name.empty() || name.find('=') != std::string::npos) {
          return error(ew + " needs a name without '='");
        }
        x.env.emplace_back(std::move(name), std::move(value));
      }
    }
    if (auto p = e.find("provideClusterInfo"); p != e.end() && !p->is_null()) {
      if (!p->is_boolean()) {
        return error(w + ": provideClusterInfo must be true or false, found " +
                     describe_type(*p));
      }
      x.provide_cluster_info = p->get<bool>();
    }
    if (x.interactive_mode.empty()) {
      if (x.api_version == kExecV1) {
        return error(w + " has no interactiveMode, which " + kExecV1 +
                     " requires (kubectl refuses it too); add interactiveMode: Never or "
                     "IfAvailable");
      }
      x.interactive_mode = "IfAvailable";
    }
    if (x.interactive_mode == "Always") {
      return error(w + " (command " + in_quotes(x.command) +
                   ") has interactiveMode Always: the plugin needs a terminal, but esk8s runs it "
                   "without one; log in with the plugin first or use non-interactive "
                   "credentials, and set interactiveMode: IfAvailable or Never");
    }
    if (x.interactive_mode != "Never" && x.interactive_mode != "IfAvailable") {
      return error(w + ": interactiveMode " + in_quotes(x.interactive_mode) +
                   " is not one of Never, IfAvailable, Always");
    }
    // Like kubectl: a relative path with a '/' is relative to the kubeconfig's directory.
    if (x.command.find('/') != std::string::npos) x.command = resolve_path(base_dir_, x.command);
    out.exec = std::move(x);
    return Status::ok();
  }

  std::string base_dir_;
  std::string source_;
};

}  // namespace

Result<KubeConfig> parse_kubeconfig(std::string_view text, const std::string& base_dir,
                                    const std::string& source_path,
                                    const std::string& context_override) {
  try {
    return KubeconfigReader(base_dir, source_path).read(text, context_override);
  } catch (const std::exception& e) {
    // Not expected: every problem is reported as a Status. Kept so that a bug cannot turn a
    // malformed file into a crash.
    return Status::internal("kubeconfig " + source_path + ": " + e.what());
  }
}

Result<KubeConfig> load_kubeconfig(const std::string& path, const std::string& context_override) {
  if (path.empty()) return Status::config("kubeconfig path is empty");
  auto text = read_regular_file(path, kKubeconfigMaxBytes, "kubeconfig");
  if (!text) {
    // A missing kubeconfig stays an I/O error, as callers have always seen it.
    const Status& s = text.status();
    return s.code() == Status::Code::kNotFound ? Status::io(s.message()) : s;
  }
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec);
  const std::string base_dir =
      ec ? fs::path(path).parent_path().string() : abs.lexically_normal().parent_path().string();
  return parse_kubeconfig(text.value(), base_dir, path, context_override);
}

Result<KubeConfig> in_cluster_config(const std::string& host, const std::string& port,
                                     const std::string& sa_dir) {
  auto error = [](const std::string& msg) { return Status::config("in-cluster config: " + msg); };
  const std::string mount_hint =
      "the pod needs a service account token mounted (automountServiceAccountToken must not be "
      "false on the pod or its service account)";
  if (host.empty()) {
    return error(
        "KUBERNETES_SERVICE_HOST is not set, so esk8s is not running in a Kubernetes pod (outside "
        "a cluster, give it a kubeconfig)");
  }
  if (port.empty()) {
    return error("KUBERNETES_SERVICE_PORT is not set (KUBERNETES_SERVICE_HOST is " +
                 in_quotes(host) + ")");
  }
  uint16_t port_number = 0;
  if (!parse_port(port, port_number)) {
    return error("KUBERNETES_SERVICE_PORT " + in_quotes(port) + " is not a port number (1-65535)");
  }
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  std::string authority;
  if (bare.find(':') != std::string::npos) {
    if (!is_ipv6(bare)) {
      return error("KUBERNETES_SERVICE_HOST " + in_quotes(host) + " is not a valid IPv6 address");
    }
    authority = "[" + bare + "]";
  } else {
    if (!is_host_name(bare)) {
      return error("KUBERNETES_SERVICE_HOST " + in_quotes(host) + " is not a valid host");
    }
    authority = bare;
  }

  KubeConfig out;
  out.server = "https://" + authority + ":" + std::to_string(port_number);
  out.token_file = resolve_path("", (fs::path(sa_dir) / "token").string());
  out.ca_file = resolve_path("", (fs::path(sa_dir) / "ca.crt").string());
  auto token = read_regular_file(out.token_file, kMaxSmallFileBytes, "service account token");
  if (!token) return error(token.status().message() + "; " + mount_hint);
  if (trim(token.value()).empty()) {
    return error("service account token " + out.token_file + " is empty; " + mount_hint);
  }
  auto ca = read_regular_file(out.ca_file, kMaxSmallFileBytes, "service account CA certificate");
  if (!ca) return error(ca.status().message() + "; " + mount_hint);
  const std::string ns_file = resolve_path("", (fs::path(sa_dir) / "namespace").string());
  if (auto ns = read_regular_file(ns_file, kMaxSmallFileBytes, "namespace file")) {
    out.namespace_name = trim(ns.value());
  }
  out.source = "in-cluster (" + resolve_path("", sa_dir) + ")";
  return out;
}

Result<ServerAddress> parse_server_url(const std::string& url) {
  auto bad = [&url](const std::string& why) {
    return Status::config("server URL " + in_quotes(url) + " " + why);
  };
  if (url.empty()) return Status::config("server URL is empty; expected https://host[:port]");
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return bad("contains whitespace or control characters");
    }
  }
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return bad("has no scheme; expected https://host[:port]");
  std::string scheme = url.substr(0, sep);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "http") {
    return bad(
        "uses plain http. esk8s only talks to the Kubernetes API server over verified TLS; use "
        "the server's https:// address.");
  }
  if (scheme != "https") {
    return bad("has scheme " + in_quotes(scheme) + "; expected https://host[:port]");
  }
  const std::string rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string::npos) {
    return bad("must not have a query or fragment");
  }
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    return bad(
        "must not contain user credentials (user@host); credentials belong in the user "
        "entry of the kubeconfig");
  }
  if (authority.empty()) return bad("has no host; expected https://host[:port]");

  ServerAddress out;
  std::string port_text;
  bool has_port = false;
  if (authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return bad("has an unterminated IPv6 literal '['");
    out.host = authority.substr(1, close - 1);
    if (!is_ipv6(out.host)) return bad("has an invalid IPv6 address " + in_quotes(out.host));
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("has unexpected text after the IPv6 address");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string::npos && authority.find(':', colon + 1) != std::string::npos) {
      return bad("has an IPv6 address without brackets; write it as https://[address]:port");
    }
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) return bad("has no host; expected https://host[:port]");
    if (!is_host_name(out.host)) return bad("has an invalid host " + in_quotes(out.host));
  }
  if (has_port && !parse_port(port_text, out.port)) {
    return bad("has an invalid port " + in_quotes(port_text) + " (expected 1-65535)");
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  out.base_path = path;
  return out;
}

}  // namespace esk8s::kube
