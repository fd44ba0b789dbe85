// Where the Kubernetes API server is and how to authenticate to it: a kubeconfig file (as kubectl,
// cloud CLIs, kind and minikube write it) or the in-cluster service-account mount.
//
// This module only interprets configuration. It never opens a connection and never reads the
// certificate, key or token files a config points to (the client does, and re-reads the token
// file because service-account tokens rotate); it only reads the kubeconfig file itself
// (load_kubeconfig) and, for in-cluster config, checks the service-account mount and reads its
// namespace file. All errors are Status values (never exceptions) written for the operator: they
// name the file, the context/cluster/user and what is missing or unsupported.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace esk8s::kube {

// A user whose credentials come from an exec plugin (client.authentication.k8s.io/v1 or v1beta1);
// exec_credential.h runs it.
struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or .../v1beta1
  std::string command;      // a name looked up in PATH, or an absolute path (a relative path with
                            // '/' is resolved against the kubeconfig's directory, as kubectl does)
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the inherited environment
  bool provide_cluster_info = false;
  std::string interactive_mode;  // "Never" or "IfAvailable" ("Always" is refused when parsing)
  std::string install_hint;      // shown when the command is not found
  std::string origin;            // for messages: `kubeconfig /path: user "name"`
};

// Everything needed to reach and authenticate to an API server.
struct KubeConfig {
  std::string server;      // "https://host:port" (IPv6 host in brackets)
  std::string ca_pem;      // inline CA bundle (certificate-authority-data decoded)
  std::string ca_file;     // or a CA file path (absolute; resolved relative to the kubeconfig dir)
  std::string token;       // static bearer token
  std::string token_file;  // or a token file, re-read by the client (service-account tokens rotate)
  std::string client_cert_pem, client_key_pem;  // client-certificate-data / client-key-data decoded
  std::string client_cert_file, client_key_file;  // or files (resolved like ca_file)
  std::optional<ExecConfig> exec;  // or an exec plugin (then the fields above are empty)
  std::string namespace_name;             // context namespace (kubeconfig) or the SA namespace file
                                          // (in-cluster); may be empty
  bool insecure_skip_tls_verify = false;  // only ever honoured by the client behind an explicitly
                                          // named dev flag
  std::string source;                     // human description: "kubeconfig /path (context x)" or
                                          // "in-cluster (/var/run/secrets/...)"
};

// Parses a kubeconfig: current-context (or `context_override` when non-empty) -> cluster + user +
// namespace. Errors name the file, the context/cluster/user names and what is missing, e.g.
// `kubeconfig /x: context "dev" not found (contexts: kind-kind, prod)`. A user with
// `auth-provider` credentials is an error that says esk8s supports token, tokenFile, client
// certificates and exec plugins. base_dir resolves relative file paths.
//
// Contract details:
//   - `server` must be an https:// URL (see parse_server_url); it is returned as written minus
//     any trailing '/'.
//   - Names must be unique within clusters, contexts and users, and every entry needs a name.
//   - Exactly as kubectl refuses them, these are errors: both `certificate-authority` and
//     `certificate-authority-data`; both `client-certificate` and `client-certificate-data` (same
//     for the key); `insecure-skip-tls-verify: true` together with a CA.
//   - A client certificate needs a client key and vice versa. A user must carry credentials:
//     a token, a tokenFile, a client certificate or an `exec` plugin (and exec alone: together
//     with the others it is an error). Exec needs apiVersion client.authentication.k8s.io/v1 or
//     v1beta1 and a command; args, env (name/value list), provideClusterInfo, installHint and
//     interactiveMode (required by v1, as kubectl requires it) are read; interactiveMode Always
//     is refused because esk8s never runs with a terminal for the plugin. When both `token` and
//     `tokenFile` are set the file wins (it is the one that stays current) and `token` is left
//     empty.
//   - `*-data` fields are base64 of PEM; they are decoded and must contain a PEM block.
//   - Unsupported settings that would silently change whom we talk to or as whom (basic auth,
//     impersonation `as`/`as-groups`/..., `proxy-url`, `tls-server-name`) are errors that name
//     the cluster or user.
//   - File paths are made absolute against `base_dir` (or the working directory when base_dir
//     is relative/empty); the files themselves are not read or checked here.
// `source_path` is only used in messages and in KubeConfig::source.
Result<KubeConfig> parse_kubeconfig(std::string_view text, const std::string& base_dir,
                                    const std::string& source_path,
                                    const std::string& context_override = "");

// Reads `path` (at most 1 MiB, kKubeconfigMaxBytes) and parses it with base_dir = the file's
// directory.
Result<KubeConfig> load_kubeconfig(const std::string& path,
                                   const std::string& context_override = "");

// In-cluster config: server from KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT (passed in,
// not read from the environment here, so tests inject them; IPv6 hosts get brackets), the
// token FILE <sa_dir>/token (token_file, not its content: the client re-reads it), CA file
// <sa_dir>/ca.crt, namespace from <sa_dir>/namespace. Errors say which variable/file is missing
// and that the pod needs a service account token mounted (automountServiceAccountToken).
// The token and CA files must exist and be readable; a missing namespace file leaves
// namespace_name empty.
Result<KubeConfig> in_cluster_config(const std::string& host, const std::string& port,
                                     const std::string& sa_dir);

// Splits "https://host:port" into host (without brackets) and port (default 443); errors for
// non-https schemes (the API server is always spoken to over verified TLS) and malformed URLs.
// base_path is the URL path without a trailing '/' ("" for none), e.g. "/k8s/clusters/c-1" for
// an API server behind a path-routing proxy. User info, queries and fragments are errors; IPv6
// hosts must be bracketed.
struct ServerAddress {
  std::string host;
  uint16_t port = 443;
  std::string base_path;
};
Result<ServerAddress> parse_server_url(const std::string& url);

}  // namespace esk8s::kube
