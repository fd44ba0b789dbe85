#include "tests/kubesim/api_server.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include <httplib.h>

#include "tests/kubesim/patch.h"
#include "tests/kubesim/protobuf.h"
#include "tests/kubesim/rbac.h"
#include "tls/x509.h"

namespace kubesim {

using nlohmann::json;

namespace {

constexpr size_t kMaxBody = 3 * 1024 * 1024;  // kube-apiserver's request size limit

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream ss(path);
  std::string seg;
  while (std::getline(ss, seg, '/')) {
    if (!seg.empty()) out.push_back(seg);
  }
  return out;
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

bool truthy(const std::string& v) { return v == "true" || v == "1"; }

std::optional<uint64_t> parse_rv(const std::string& s) {
  if (s.empty() || s == "0") return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

bool valid_rv_text(const std::string& s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << content;
  }
  chmod(path.c_str(), mode);
}

RbacObjects rbac_objects(const Store& store) {
  RbacObjects o;
  o.roles = store.all("roles.rbac.authorization.k8s.io");
  o.cluster_roles = store.all("clusterroles.rbac.authorization.k8s.io");
  o.role_bindings = store.all("rolebindings.rbac.authorization.k8s.io");
  o.cluster_role_bindings = store.all("clusterrolebindings.rbac.authorization.k8s.io");
  return o;
}

bool is_master(const UserInfo& u) {
  for (const auto& g : u.groups) {
    if (g == "system:masters") return true;
  }
  return false;
}

}  // namespace

struct ApiServer::Route {
  ResourceType type;
  std::string ns;
  std::string name;
  std::string sub;
  std::string verb;  // RBAC verb
};

ApiServer::ApiServer(ServerOptions options, Store& store, ResourceRegistry& registry,
                     Authenticator& auth)
    : opts_(std::move(options)), store_(store), registry_(registry), auth_(auth) {}

ApiServer::~ApiServer() { stop(); }

std::string ApiServer::url() const {
  return "https://" + opts_.address + ":" + std::to_string(port_);
}

void ApiServer::count(const std::string& user, const std::string& verb, int code) {
  std::lock_guard lock(counts_mu_);
  ++counts_[user + " " + verb + " " + std::to_string(code)];
}

json ApiServer::request_counts() const {
  std::lock_guard lock(counts_mu_);
  json out = json::object();
  for (const auto& [k, v] : counts_) out[k] = v;
  return out;
}

void ApiServer::send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.code;
  res.set_content(e.to_status().dump(), "application/json");
}

esk8s::Status ApiServer::start() {
  namespace tls = esk8s::tls;
  auto ca = tls::make_self_signed_ca("kubesim-ca", tls::KeyType::kEcdsaP256,
                                     std::chrono::hours(24 * 365));
  if (!ca.is_ok()) return ca.status();
  tls::CertSpec spec;
  spec.common_name = "kube-apiserver";
  spec.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local"};
  spec.ip_addresses = {"127.0.0.1", "::1"};
  spec.validity = std::chrono::hours(24 * 365);
  spec.client_auth = false;
  auto serving = tls::issue(spec, ca.value());
  if (!serving.is_ok()) return serving.status();
  ca_pem_ = ca->cert_pem;
  ca_key_pem_ = ca->key_pem;

  const std::string dir = opts_.state_dir;
  mkdir(dir.c_str(), 0755);
  write_file(dir + "/ca.crt", ca_pem_, 0644);
  write_file(dir + "/ca.key", ca_key_pem_, 0600);
  write_file(dir + "/server.crt", serving->cert_pem, 0644);
  write_file(dir + "/server.key", serving->key_pem, 0600);

  server_ = std::make_unique<httplib::SSLServer>((dir + "/server.crt").c_str(),
                                                 (dir + "/server.key").c_str());
  if (!server_->is_valid())
    return esk8s::Status::internal("cannot load the generated serving certificate");
  size_t threads = opts_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(kMaxBody);
  server_->set_keep_alive_max_count(1000);
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(10, 0);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Patch(".*", handler);
  server_->Delete(".*", handler);

  int port = opts_.port == 0 ? server_->bind_to_any_port(opts_.address)
                             : (server_->bind_to_port(opts_.address, opts_.port) ? opts_.port : -1);
  if (port <= 0) {
    return esk8s::Status::io("kubesim cannot listen on " + opts_.address + ":" +
                             std::to_string(opts_.port));
  }
  port_ = static_cast<uint16_t>(port);
  admin_token_ = random_token();
  auth_.add(admin_token_, UserInfo{"kubesim-admin", {"system:masters"}});

  std::string kubeconfig =
      "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: " + url() +
      "\n    certificate-authority: " + dir +
      "/ca.crt\nusers:\n- name: kubesim-admin\n  user:\n    token: " + admin_token_ +
      "\ncontexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim-admin\n"
      "    namespace: default\ncurrent-context: kubesim\n";
  write_file(dir + "/kubeconfig", kubeconfig, 0600);

  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return esk8s::Status::ok();
}

void ApiServer::stop() {
  if (!server_) return;
  stopping_ = true;
  store_.close_all_watches();
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

bool ApiServer::authorized(const UserInfo& user, const RequestAttributes& attrs) const {
  if (is_master(user)) return true;
  return kubesim::authorize(user, attrs, rbac_objects(store_)).allowed;
}

void ApiServer::handle(const httplib::Request& req, httplib::Response& res) {
  if (stopping_) {
    res.status = 503;
    return;
  }
  if (int ms = faults_.latency_ms.load(); ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));

  std::string token;
  std::string authz = req.get_header_value("Authorization");
  if (authz.rfind("Bearer ", 0) == 0) token = authz.substr(7);
  auto user = token.empty() ? std::nullopt : auth_.authenticate(token);

  if (req.path.rfind("/kubesim/", 0) == 0) {
    if (!user || !is_master(*user) || !admin_handler_) {
      send_error(
          res, ApiError::forbidden("", "", "", "", "the kubesim admin API needs the admin token"));
      return;
    }
    admin_handler_(req, res);
    return;
  }
  if (faults_.outage.load()) {
    // An unreachable API server: no HTTP answer at all.
    res.status = 503;
    res.set_header("Connection", "close");
    res.set_content("", "text/plain");
    count(user ? user->name : "anonymous", "outage", 503);
    return;
  }
  if (!user) {
    count("anonymous", req.method, 401);
    send_error(res, ApiError::unauthorized());
    return;
  }
  if (faults_.throttle_requests.load() > 0 && faults_.throttle_requests.fetch_sub(1) > 0) {
    // API Priority and Fairness rejects with a plain-text body and Retry-After.
    res.status = 429;
    res.set_header("Retry-After", std::to_string(faults_.retry_after_seconds.load()));
    res.set_content("Too many requests, please try again later.\n", "text/plain; charset=utf-8");
    count(user->name, req.method, 429);
    return;
  }
  if (faults_.error_requests.load() > 0 && faults_.error_requests.fetch_sub(1) > 0) {
    count(user->name, req.method, 500);
    send_error(res, ApiError::internal("kubesim: injected internal error"));
    return;
  }

  auto segs = split_path(req.path);
  RequestAttributes attrs;
  attrs.path = req.path;

  // Non-resource endpoints.
  bool api_prefix = !segs.empty() && (segs[0] == "api" || segs[0] == "apis");
  bool discovery_doc = api_prefix && ((segs[0] == "api" && segs.size() <= 2) ||
                                      (segs[0] == "apis" && segs.size() <= 3));
  if (!api_prefix || discovery_doc) {
    attrs.resource_request = false;
    attrs.verb = req.method == "GET"    ? "get"
                 : req.method == "POST" ? "post"
                 : req.method == "PUT"  ? "put"
                                        : "delete";
    if (!authorized(*user, attrs)) {
      count(user->name, attrs.verb, 403);
      send_error(res, ApiError{403, "Forbidden", forbidden_message(*user, attrs), json::object()});
      return;
    }
    json body;
    if (req.path == "/version") {
      body = {{"major", "1"},
              {"minor", "32"},
              {"gitVersion", "v1.32.0-kubesim"},
              {"gitCommit", "kubesim"},
              {"gitTreeState", "clean"},
              {"buildDate", "2026-01-01T00:00:00Z"},
              {"goVersion", "go1.23"},
              {"compiler", "gc"},
              {"platform", "linux/amd64"}};
    } else if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz") {
      res.set_content("ok", "text/plain");
      count(user->name, "get", 200);
      return;
    } else if (segs.size() == 1 && segs[0] == "api") {
      body = registry_.api_versions(opts_.address + ":" + std::to_string(port_));
    } else if (segs.size() == 1 && segs[0] == "apis") {
      body = registry_.api_group_list();
    } else if (segs.size() == 2 && segs[0] == "api") {
      body = registry_.api_resource_list("", segs[1]);
    } else if (segs.size() == 3 && segs[0] == "apis") {
      body = registry_.api_resource_list(segs[1], segs[2]);
    } else if (segs.size() == 2 && segs[0] == "apis") {
      json groups = registry_.api_group_list()["groups"];
      for (const auto& g : groups) {
        if (g["name"] == segs[1])
          body = json{{"kind", "APIGroup"},
                      {"apiVersion", "v1"},
                      {"name", g["name"]},
                      {"versions", g["versions"]},
                      {"preferredVersion", g["preferredVersion"]}};
      }
    } else if (req.path == "/openapi/v3") {
      body = {{"paths", json::object()}};
      body["paths"]["api/v1"] = {{"serverRelativeURL", "/openapi/v3/api/v1?hash=kubesim"}};
      std::set<std::string> gvs;
      for (const auto& t : registry_.all()) {
        if (!t.group.empty()) gvs.insert(t.group + "/" + t.version);
      }
      for (const auto& gv : gvs)
        body["paths"]["apis/" + gv] = {
            {"serverRelativeURL", "/openapi/v3/apis/" + gv + "?hash=kubesim"}};
    } else if (req.path.rfind("/openapi/v3/", 0) == 0) {
      // Just enough OpenAPI v3 for kubectl to learn that every kind accepts the fieldValidation
      // and dryRun query parameters (so it validates on the server and needs no schema).
      std::string gv = req.path.substr(std::string("/openapi/v3/").size());
      std::string group, version;
      if (gv.rfind("api/", 0) == 0) {
        version = gv.substr(4);
      } else if (gv.rfind("apis/", 0) == 0) {
        auto parts = split_path(gv.substr(5));
        if (parts.size() == 2) {
          group = parts[0];
          version = parts[1];
        }
      }
      json paths = json::object();
      for (const auto& t : registry_.all()) {
        if (t.group != group || t.version != version || version.empty()) continue;
        json op = {
            {"x-kubernetes-group-version-kind",
             {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}},
            {"parameters",
             {{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
              {{"name", "dryRun"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
              {{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}}}},
            {"responses", {{"200", {{"description", "OK"}}}}}};
        std::string base =
            "/" + gv + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural + "/{name}";
        paths[base] = {{"patch", op}, {"put", op}};
        std::string coll = "/" + gv + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural;
        paths[coll] = {{"post", op}};
      }
      if (paths.empty())
        body = nullptr;
      else
        body = {{"openapi", "3.0.0"},
                {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
                {"paths", paths},
                {"components", {{"schemas", json::object()}}}};
    }
    if (body.is_null()) {
      count(user->name, attrs.verb, 404);
      res.status = 404;
      res.set_content("404 page not found\n", "text/plain; charset=utf-8");
      return;
    }
    count(user->name, attrs.verb, 200);
    res.set_content(body.dump(), "application/json");
    return;
  }

  // Resource requests: /api/v1/... or /apis/<group>/<version>/...
  std::string group, version;
  std::vector<std::string> rest;
  if (segs[0] == "api") {
    version = segs[1];
    rest.assign(segs.begin() + 2, segs.end());
  } else {
    group = segs[1];
    version = segs[2];
    rest.assign(segs.begin() + 3, segs.end());
  }
  Route route;
  std::vector<std::string> tail = rest;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    auto t = registry_.find(group, version, rest[2]);
    if (t && t->namespaced) {
      route.ns = rest[1];
      tail.assign(rest.begin() + 2, rest.end());
    }
  }
  auto type = registry_.find(group, version, tail[0]);
  if (!type || tail.size() > 3) {
    count(user->name, req.method, 404);
    res.status = 404;
    res.set_content("404 page not found\n", "text/plain; charset=utf-8");
    return;
  }
  route.type = *type;
  if (tail.size() >= 2) route.name = tail[1];
  if (tail.size() == 3) route.sub = tail[2];
  if (!route.sub.empty() && !route.type.has_subresource(route.sub)) {
    count(user->name, req.method, 404);
    send_error(res, ApiError::not_found(route.type, route.name));
    return;
  }
  const std::string& m = req.method;
  if (m == "GET")
    route.verb = !route.name.empty() ? "get" : truthy(param(req, "watch")) ? "watch" : "list";
  else if (m == "POST")
    route.verb = "create";
  else if (m == "PUT")
    route.verb = "update";
  else if (m == "PATCH")
    route.verb = "patch";
  else if (m == "DELETE")
    route.verb = route.name.empty() ? "deletecollection" : "delete";
  if ((route.verb == "create" && !route.name.empty()) ||
      (route.verb == "update" && route.name.empty()) ||
      (route.verb == "patch" && route.name.empty())) {
    count(user->name, route.verb, 405);
    send_error(res, ApiError::method_not_allowed(
                        "the server does not allow this method on the requested resource"));
    return;
  }

  attrs.resource_request = true;
  attrs.verb = route.verb;
  attrs.api_group = group;
  attrs.resource = route.type.plural;
  attrs.subresource = route.sub;
  attrs.namespace_name = route.ns;
  attrs.name = route.name;
  if (route.type.plural == "namespaces" && !route.name.empty()) attrs.namespace_name = route.name;
  if (!authorized(*user, attrs)) {
    count(user->name, route.verb, 403);
    std::string msg = forbidden_message(*user, attrs);
    ApiError e{403, "Forbidden", msg, json::object()};
    if (!route.name.empty()) e.details["name"] = route.name;
    if (!group.empty()) e.details["group"] = group;
    e.details["kind"] = route.type.plural;
    send_error(res, e);
    return;
  }
  serve_resource(req, res, *user, route);
  count(user->name, route.verb, res.status);
}

ApiResult<json> ApiServer::review(const ResourceType& t, const json& body, const UserInfo& user) {
  json out = body;
  const json spec = body.value("spec", json::object());
  if (t.kind == "SelfSubjectReview") {
    out["status"] = {{"userInfo", {{"username", user.name}, {"groups", user.groups}}}};
    return out;
  }
  if (t.kind == "SelfSubjectRulesReview") {
    std::string ns = spec.value("namespace", "");
    out["status"] =
        is_master(user)
            ? json{{"resourceRules",
                    {{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}}},
                   {"nonResourceRules", {{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}}},
                   {"incomplete", false}}
            : rules_review_status(user, ns, rbac_objects(store_));
    return out;
  }
  UserInfo subject = user;
  if (t.kind == "SubjectAccessReview") {
    subject.name = spec.value("user", "");
    subject.groups.clear();
    if (spec.contains("groups") && spec["groups"].is_array()) {
      for (const auto& g : spec["groups"]) {
        if (g.is_string()) subject.groups.push_back(g.get<std::string>());
      }
    }
  }
  RequestAttributes a;
  if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
    const json& ra = spec["resourceAttributes"];
    a.resource_request = true;
    a.verb = ra.value("verb", "");
    a.api_group = ra.value("group", "");
    a.resource = ra.value("resource", "");
    a.subresource = ra.value("subresource", "");
    a.namespace_name = ra.value("namespace", "");
    a.name = ra.value("name", "");
  } else if (spec.contains("nonResourceAttributes") && spec["nonResourceAttributes"].is_object()) {
    a.resource_request = false;
    a.verb = spec["nonResourceAttributes"].value("verb", "");
    a.path = spec["nonResourceAttributes"].value("path", "");
  } else {
    return ApiError::invalid(t, "", "spec.resourceAttributes", "FieldValueRequired",
                             "Required value: exactly one of nonResourceAttributes or "
                             "resourceAttributes must be specified");
  }
  bool allowed = authorized(subject, a);
  out["status"] = {{"allowed", allowed}};
  if (allowed && !is_master(subject)) {
    out["status"]["reason"] = kubesim::authorize(subject, a, rbac_objects(store_)).reason;
  }
  return out;
}

ApiResult<json> ApiServer::apply_create_hooks(const ResourceType& t, const std::string& ns,
                                              json obj, const UserInfo& user) {
  (void)ns;
  if (t.kind == "Namespace") {
    obj["status"] = {{"phase", "Active"}};
  } else if (t.kind == "Pod") {
    if (!obj.contains("status")) obj["status"] = {{"phase", "Pending"}};
  } else if (t.kind == "Service") {
    json& spec = obj["spec"];
    if (!spec.is_object()) spec = json::object();
    if (!spec.contains("type")) spec["type"] = "ClusterIP";
    if (!spec.contains("clusterIP")) {
      static std::atomic<uint32_t> next{10};
      uint32_t n = next++;
      spec["clusterIP"] =
          "10.96." + std::to_string((n >> 8) & 0xff) + "." + std::to_string(n & 0xff);
    }
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (auto& p : spec["ports"]) {
        if (!p.contains("protocol")) p["protocol"] = "TCP";
        if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
      }
    }
  } else if (t.kind == "StatefulSet") {
    json& spec = obj["spec"];
    if (!spec.is_object()) spec = json::object();
    if (!spec.contains("replicas")) spec["replicas"] = 1;
    if (!spec.contains("podManagementPolicy")) spec["podManagementPolicy"] = "OrderedReady";
    if (!spec.contains("updateStrategy")) {
      spec["updateStrategy"] = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}};
    }
    if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
    if (!spec.contains("selector") || !spec.contains("serviceName") || !spec.contains("template")) {
      std::string field = !spec.contains("selector")   ? "spec.selector"
                          : !spec.contains("template") ? "spec.template"
                                                       : "spec.serviceName";
      return ApiError::invalid(t, obj["metadata"].value("name", ""), field, "FieldValueRequired",
                               "Required value");
    }
    auto sel = LabelSelector::from_label_selector(spec["selector"]);
    json tl = spec["template"].contains("metadata")
                  ? spec["template"]["metadata"].value("labels", json::object())
                  : json::object();
    if (!sel.is_ok() || !sel->matches(tl)) {
      return ApiError::invalid(t, obj["metadata"].value("name", ""),
                               "spec.template.metadata.labels", "FieldValueInvalid",
                               "Invalid value: `selector` does not match template `labels`");
    }
    obj["status"] = {{"replicas", 0}, {"availableReplicas", 0}};
  } else if (t.kind == "CertificateSigningRequest") {
    json& spec = obj["spec"];
    if (!spec.is_object()) spec = json::object();
    spec["username"] = user.name;
    spec["groups"] = user.groups;
    obj.erase("status");
    if (!spec.contains("signerName") || !spec.contains("request")) {
      return ApiError::invalid(t, obj["metadata"].value("name", ""),
                               !spec.contains("signerName") ? "spec.signerName" : "spec.request",
                               "FieldValueRequired", "Required value");
    }
  }
  return obj;
}

void ApiServer::after_write(const ResourceType& t, const std::string& verb, const json& obj) {
  if (t.kind == "CustomResourceDefinition") {
    if (verb == "delete")
      registry_.unregister_crd(obj);
    else
      registry_.register_crd(obj);
  }
}

void ApiServer::serve_resource(const httplib::Request& req, httplib::Response& res,
                               const UserInfo& user, const Route& route) {
  const ResourceType& t = route.type;
  auto reply = [&](int code, const json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  };
  auto parse_body = [&](json& out) -> bool {
    std::string ct = req.get_header_value("Content-Type");
    if (ct.rfind("application/vnd.kubernetes.protobuf", 0) == 0) {
      if (auto decoded = decode_k8s_protobuf(req.body)) {
        out = std::move(*decoded);
        return true;
      }
    }
    if (ct.rfind("application/vnd.kubernetes.protobuf", 0) == 0 ||
        ct.rfind("application/cbor", 0) == 0 || ct.rfind("application/yaml", 0) == 0) {
      // As a server without that codec: clients fall back to JSON on 415.
      send_error(
          res,
          ApiError{
              415, "UnsupportedMediaType",
              "the body of the request was in an unknown format - accepted media types include: "
              "application/json",
              nullptr});
      return false;
    }
    out = json::parse(req.body, nullptr, false);
    if (out.is_discarded() || !out.is_object()) {
      send_error(res, ApiError::bad_request(
                          "the request body is not a JSON object (kubesim accepts JSON only)"));
      return false;
    }
    return true;
  };
  if (t.namespaced && route.ns.empty() && (route.verb == "create" || !route.name.empty())) {
    send_error(res, ApiError::not_found(t, route.name));
    return;
  }

  if (route.verb == "get") {
    auto r = store_.get(t, route.ns, route.name);
    if (!r.ok()) return send_error(res, r.error());
    return reply(200, r.value());
  }

  if (route.verb == "list" || route.verb == "watch") {
    auto labels = LabelSelector::parse(param(req, "labelSelector"));
    if (!labels.is_ok()) return send_error(res, ApiError::bad_request(labels.status().message()));
    auto fields = FieldSelector::parse(param(req, "fieldSelector"));
    if (!fields.is_ok()) return send_error(res, ApiError::bad_request(fields.status().message()));
    for (const auto& term : fields->terms()) {
      bool ok = term.field == "metadata.name" || term.field == "metadata.namespace";
      for (const auto& f : t.field_labels) ok = ok || f == term.field;
      if (!ok) {
        return send_error(res, ApiError::bad_request("field label not supported: " + term.field));
      }
    }
    std::string rv = param(req, "resourceVersion");
    if (!valid_rv_text(rv)) {
      return send_error(
          res, ApiError::invalid(t, "", "metadata.resourceVersion", "FieldValueInvalid",
                                 "Invalid value: \"" + rv + "\": must be a non-negative integer"));
    }
    if (route.verb == "watch") return serve_watch(req, res, route);

    std::string match = param(req, "resourceVersionMatch");
    std::optional<uint64_t> exact;
    if (match == "Exact") {
      if (!parse_rv(rv))
        return send_error(res,
                          ApiError::bad_request(
                              "resourceVersionMatch=Exact needs a resourceVersion other than 0"));
      exact = parse_rv(rv);
    } else if (!match.empty() && match != "NotOlderThan") {
      return send_error(
          res, ApiError::bad_request("resourceVersionMatch: Unsupported value: \"" + match + "\""));
    } else if (auto n = parse_rv(rv); n && *n > store_.current_rv()) {
      // NotOlderThan a revision the server has not reached yet.
      return send_error(res, ApiError::timeout("Too large resource version: " + rv + ", current: " +
                                               std::to_string(store_.current_rv())));
    }
    size_t limit = 0;
    if (std::string l = param(req, "limit"); !l.empty())
      limit = static_cast<size_t>(std::strtoull(l.c_str(), nullptr, 10));
    // resourceVersion=0 means "any" and ignores limit on the watch cache.
    if (rv == "0") limit = 0;
    auto r = store_.list(t, route.ns, labels.value(), fields.value(), exact, limit,
                         param(req, "continue"));
    if (!r.ok()) return send_error(res, r.error());
    json md = {{"resourceVersion", std::to_string(r.value().resource_version)}};
    if (!r.value().continue_token.empty()) {
      md["continue"] = r.value().continue_token;
      md["remainingItemCount"] = r.value().remaining;
    }
    json items = json::array();
    for (auto& i : r.value().items) items.push_back(std::move(i));
    return reply(200, {{"kind", t.kind + "List"},
                       {"apiVersion", t.group_version()},
                       {"metadata", md},
                       {"items", items}});
  }

  if (route.verb == "create") {
    json body;
    if (!parse_body(body)) return;
    if (t.create_only) {
      auto r = review(t, body, user);
      if (!r.ok()) return send_error(res, r.error());
      return reply(201, r.value());
    }
    if (body.contains("kind") && body["kind"].is_string() && body["kind"] != t.kind) {
      return send_error(
          res, ApiError::bad_request("the object kind \"" + body["kind"].get<std::string>() +
                                     "\" does not match the resource \"" + t.plural + "\""));
    }
    if (t.namespaced && body.contains("metadata") && body["metadata"].contains("namespace") &&
        body["metadata"]["namespace"] != route.ns) {
      return send_error(res, ApiError::bad_request("the namespace of the provided object does not "
                                                   "match the namespace sent on the request"));
    }
    auto hooked = apply_create_hooks(t, route.ns, std::move(body), user);
    if (!hooked.ok()) return send_error(res, hooked.error());
    if (truthy(param(req, "dryRun")) || param(req, "dryRun") == "All")
      return reply(201, hooked.value());
    auto r = store_.create(t, t.namespaced ? route.ns : "", hooked.value());
    if (!r.ok()) return send_error(res, r.error());
    after_write(t, "create", r.value());
    return reply(201, r.value());
  }

  UpdateScope scope = route.sub == "status"     ? UpdateScope::kStatus
                      : route.sub == "approval" ? UpdateScope::kApproval
                                                : UpdateScope::kMain;
  if (route.verb == "update") {
    json body;
    if (!parse_body(body)) return;
    auto r = store_.update(t, route.ns, route.name, std::move(body), scope);
    if (!r.ok()) return send_error(res, r.error());
    after_write(t, "update", r.value());
    return reply(200, r.value());
  }

  if (route.verb == "patch") {
    json patch = json::parse(req.body, nullptr, false);
    if (patch.is_discarded())
      return send_error(res, ApiError::bad_request("the patch is not valid JSON"));
    std::string ct = req.get_header_value("Content-Type");
    ct = ct.substr(0, ct.find(';'));
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto cur = store_.get(t, route.ns, route.name);
      if (!cur.ok()) return send_error(res, cur.error());
      json next;
      if (ct == "application/merge-patch+json") {
        next = merge_patch(cur.value(), patch);
      } else if (ct == "application/strategic-merge-patch+json") {
        auto r = strategic_merge_patch(cur.value(), patch, t.kind);
        if (!r.is_ok()) return send_error(res, ApiError::bad_request(r.status().message()));
        next = r.value();
      } else if (ct == "application/json-patch+json") {
        try {
          next = cur.value().patch(patch);
        } catch (const std::exception& e) {
          return send_error(res, ApiError::bad_request(
                                     std::string("the JSON patch cannot be applied: ") + e.what()));
        }
      } else {
        return send_error(res, ApiError::unsupported_media_type(ct));
      }
      // A patch that does not set resourceVersion applies to whatever is current.
      bool pinned = patch.is_object() && patch.contains("metadata") &&
                    patch["metadata"].is_object() && patch["metadata"].contains("resourceVersion");
      if (!pinned) next["metadata"]["resourceVersion"] = cur.value()["metadata"]["resourceVersion"];
      auto r = store_.update(t, route.ns, route.name, std::move(next), scope);
      if (!r.ok() && r.error().reason == "Conflict" && !pinned) continue;
      if (!r.ok()) return send_error(res, r.error());
      after_write(t, "patch", r.value());
      return reply(200, r.value());
    }
    return send_error(res, ApiError::conflict(t, route.name));
  }

  if (route.verb == "delete") {
    json opts = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (!opts.is_object()) opts = json::object();
    std::optional<int64_t> grace;
    if (opts.contains("gracePeriodSeconds") && opts["gracePeriodSeconds"].is_number_integer()) {
      grace = opts["gracePeriodSeconds"].get<int64_t>();
    }
    if (std::string g = param(req, "gracePeriodSeconds"); !g.empty())
      grace = std::strtoll(g.c_str(), nullptr, 10);
    std::string uid;
    if (opts.contains("preconditions") && opts["preconditions"].is_object())
      uid = opts["preconditions"].value("uid", "");
    if (t.kind == "Pod" && (!grace || *grace > 0)) {
      auto cur = store_.get(t, route.ns, route.name);
      if (!cur.ok()) return send_error(res, cur.error());
      int64_t g =
          grace.value_or(cur.value()["spec"].value("terminationGracePeriodSeconds", int64_t{30}));
      if (g > 0) {
        // Graceful: the kubelet stops the process and removes the object.
        auto r = store_.mark_deleting(t, route.ns, route.name, g);
        if (!r.ok()) return send_error(res, r.error());
        return reply(200, r.value());
      }
    }
    if (t.kind == "Namespace") {
      for (const auto& rt : registry_.all()) {
        if (!rt.namespaced || rt.create_only) continue;
        for (const auto& o : store_.all(rt.qualified())) {
          if (o["metadata"].value("namespace", "") == route.name)
            store_.remove(rt, route.name, o["metadata"].value("name", ""));
        }
      }
    }
    auto r = store_.remove(t, route.ns, route.name, uid);
    if (!r.ok()) return send_error(res, r.error());
    after_write(t, "delete", r.value());
    return reply(200, r.value());
  }

  if (route.verb == "deletecollection") {
    auto labels = LabelSelector::parse(param(req, "labelSelector"));
    if (!labels.is_ok()) return send_error(res, ApiError::bad_request(labels.status().message()));
    auto fields = FieldSelector::parse(param(req, "fieldSelector"));
    if (!fields.is_ok()) return send_error(res, ApiError::bad_request(fields.status().message()));
    auto list = store_.list(t, route.ns, labels.value(), fields.value(), std::nullopt, 0, "");
    if (!list.ok()) return send_error(res, list.error());
    json items = json::array();
    for (const auto& o : list.value().items) {
      auto r =
          store_.remove(t, o["metadata"].value("namespace", ""), o["metadata"].value("name", ""));
      if (r.ok()) items.push_back(r.value());
    }
    return reply(200, {{"kind", t.kind + "List"},
                       {"apiVersion", t.group_version()},
                       {"metadata", {{"resourceVersion", std::to_string(store_.current_rv())}}},
                       {"items", items}});
  }
  send_error(res, ApiError::method_not_allowed("unsupported verb"));
}

void ApiServer::serve_watch(const httplib::Request& req, httplib::Response& res,
                            const Route& route) {
  const ResourceType& t = route.type;
  auto labels = LabelSelector::parse(param(req, "labelSelector")).value();
  auto fields = FieldSelector::parse(param(req, "fieldSelector")).value();
  auto from = parse_rv(param(req, "resourceVersion"));
  auto w = store_.watch(t, route.ns, from, std::move(labels), std::move(fields));

  struct State {
    std::shared_ptr<Watcher> watcher;
    std::optional<ApiError> initial_error;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point next_bookmark;
    bool bookmarks = false;
    uint64_t close_generation = 0;
  };
  auto st = std::make_shared<State>();
  if (!w.ok()) {
    if (opts_.watch_gone_as_http_status || w.error().code != 410) return send_error(res, w.error());
    st->initial_error = w.error();
  } else {
    st->watcher = w.value();
  }
  int timeout = 1800;
  if (std::string ts = param(req, "timeoutSeconds"); !ts.empty()) timeout = std::atoi(ts.c_str());
  auto now = std::chrono::steady_clock::now();
  st->deadline = now + std::chrono::seconds(timeout);
  st->bookmarks = truthy(param(req, "allowWatchBookmarks"));
  st->next_bookmark = now + opts_.bookmark_interval;
  st->close_generation = faults_.close_watches_generation.load();
  res.status = 200;
  std::string kind = t.kind, gv = t.group_version();

  // The `stream=watch` parameter keeps httplib from gzip-compressing the stream: its compressor
  // buffers, and a watch event must reach the client when it happens.
  res.set_chunked_content_provider(
      "application/json;stream=watch",
      [this, st, kind, gv](size_t, httplib::DataSink& sink) {
        auto write_line = [&](const json& ev) {
          std::string line = ev.dump() + "\n";
          return sink.write(line.data(), line.size());
        };
        if (st->initial_error) {
          write_line({{"type", "ERROR"}, {"object", st->initial_error->to_status()}});
          sink.done();
          return true;
        }
        auto now = std::chrono::steady_clock::now();
        if (stopping_ || st->watcher->closed() || now >= st->deadline ||
            faults_.close_watches_generation.load() != st->close_generation ||
            faults_.outage.load()) {
          store_.unwatch(st->watcher);
          sink.done();
          return true;
        }
        uint64_t rv_before = store_.current_rv();
        for (auto& ev : st->watcher->next(std::chrono::milliseconds(200))) {
          if (faults_.malformed_events.load() > 0 && faults_.malformed_events.fetch_sub(1) > 0) {
            std::string broken = "{\"type\":\"" + ev.type + "\",\"object\":{\"kind\":\n";
            if (!sink.write(broken.data(), broken.size())) return false;
            continue;
          }
          if (!write_line({{"type", ev.type}, {"object", ev.object}})) {
            store_.unwatch(st->watcher);
            return false;
          }
        }
        if (st->bookmarks && std::chrono::steady_clock::now() >= st->next_bookmark) {
          st->next_bookmark = std::chrono::steady_clock::now() + opts_.bookmark_interval;
          json bm = {{"type", "BOOKMARK"},
                     {"object",
                      {{"kind", kind},
                       {"apiVersion", gv},
                       {"metadata", {{"resourceVersion", std::to_string(rv_before)}}}}}};
          if (!write_line(bm)) {
            store_.unwatch(st->watcher);
            return false;
          }
        }
        if (!sink.is_writable()) {
          store_.unwatch(st->watcher);
          return false;
        }
        return true;
      },
      [this, st](bool) {
        if (st->watcher) store_.unwatch(st->watcher);
      });
}

}  // namespace kubesim
