// RBAC evaluation for kubesim; see rbac.h for the contract. The structure mirrors kube-apiserver's
// rule resolver: visit the rules of every binding that applies to the user (ClusterRoleBindings,
// then the RoleBindings of the request's namespace), stopping at the first rule that allows.
#include "tests/kubesim/rbac.h"

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kubesim {
namespace {

using nlohmann::json;

// Reading possibly malformed JSON without throwing.

// obj[key] when obj is an object and the member is a string; nullptr otherwise.
const std::string* string_member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

// obj[key] as a list of strings: empty when absent or null (Go's nil slice), nullopt when present
// with any other shape (not an array, or an element that is not a string).
std::optional<std::vector<std::string>> string_list_member(const json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return std::nullopt;
  for (const json& e : *it) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.get<std::string>());
  }
  return out;
}

// metadata.name / metadata.namespace; nullptr when missing or not a string.
const std::string* meta_member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find("metadata");
  if (it == obj.end()) return nullptr;
  return string_member(*it, key);
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  for (const std::string& e : list) {
    if (e == value) return true;
  }
  return false;
}

// Parsed objects.

struct Rule {
  std::vector<std::string> verbs, api_groups, resources, resource_names, non_resource_urls;
};

// The well-formed rules of a Role or ClusterRole. A rule with any malformed list is dropped whole:
// keeping it with that list emptied could widen it (an emptied resourceNames means "any name").
std::vector<Rule> parse_rules(const json& role) {
  std::vector<Rule> rules;
  if (!role.is_object()) return rules;
  auto it = role.find("rules");
  if (it == role.end() || !it->is_array()) return rules;
  for (const json& r : *it) {
    if (!r.is_object()) continue;
    auto verbs = string_list_member(r, "verbs");
    auto api_groups = string_list_member(r, "apiGroups");
    auto resources = string_list_member(r, "resources");
    auto resource_names = string_list_member(r, "resourceNames");
    auto urls = string_list_member(r, "nonResourceURLs");
    if (!verbs || !api_groups || !resources || !resource_names || !urls) continue;
    rules.push_back(Rule{std::move(*verbs), std::move(*api_groups), std::move(*resources),
                         std::move(*resource_names), std::move(*urls)});
  }
  return rules;
}

struct Subject {
  std::string kind, name, ns;
};

struct Binding {
  std::string name;
  std::string ns;  // "" for a ClusterRoleBinding
  std::string role_kind, role_name;
  std::vector<Subject> subjects;  // the well-formed ones
};

// A RoleBinding (cluster == false) or ClusterRoleBinding; nullopt when its name, namespace (for a
// RoleBinding) or roleRef kind/name are missing or not strings. Malformed subjects are dropped.
std::optional<Binding> parse_binding(const json& obj, bool cluster) {
  const std::string* name = meta_member(obj, "name");
  const std::string* ns = meta_member(obj, "namespace");
  if (name == nullptr) return std::nullopt;
  if (!cluster && (ns == nullptr || ns->empty())) return std::nullopt;
  auto ref = obj.find("roleRef");
  if (ref == obj.end()) return std::nullopt;
  const std::string* kind = string_member(*ref, "kind");
  const std::string* role_name = string_member(*ref, "name");
  if (kind == nullptr || role_name == nullptr) return std::nullopt;

  Binding b{*name, cluster ? std::string() : *ns, *kind, *role_name, {}};
  auto subjects = obj.find("subjects");
  if (subjects != obj.end() && subjects->is_array()) {
    for (const json& s : *subjects) {
      const std::string* s_kind = string_member(s, "kind");
      const std::string* s_name = string_member(s, "name");
      if (s_kind == nullptr || s_name == nullptr) continue;
      std::string s_ns;
      auto ns_it = s.find("namespace");
      if (ns_it != s.end() && !ns_it->is_null()) {
        if (!ns_it->is_string()) continue;
        s_ns = ns_it->get<std::string>();
      }
      b.subjects.push_back(Subject{*s_kind, *s_name, std::move(s_ns)});
    }
  }
  return b;
}

// ---- Matching (Kubernetes' evaluation helpers)
// ---------------------------------------------------

bool list_matches(const std::vector<std::string>& list, const std::string& value) {
  for (const std::string& e : list) {
    if (e == "*" || e == value) return true;
  }
  return false;
}

bool resource_matches(const Rule& rule, const std::string& combined,
                      const std::string& subresource) {
  for (const std::string& r : rule.resources) {
    if (r == "*" || r == combined) return true;
    // "*/<subresource>" matches that subresource of any resource.
    if (!subresource.empty() && r.size() == subresource.size() + 2 && r.starts_with("*/") &&
        r.ends_with(subresource)) {
      return true;
    }
  }
  return false;
}

bool resource_name_matches(const Rule& rule, const std::string& name) {
  return rule.resource_names.empty() || contains(rule.resource_names, name);
}

bool non_resource_url_matches(const Rule& rule, const std::string& path) {
  for (const std::string& u : rule.non_resource_urls) {
    if (u == "*" || u == path) return true;
    if (u.ends_with('*')) {
      std::string_view prefix(u);
      while (!prefix.empty() && prefix.back() == '*') prefix.remove_suffix(1);
      if (path.starts_with(prefix)) return true;
    }
  }
  return false;
}

bool rule_allows(const RequestAttributes& attrs, const Rule& rule) {
  if (!list_matches(rule.verbs, attrs.verb)) return false;
  if (!attrs.resource_request) return non_resource_url_matches(rule, attrs.path);
  std::string combined = attrs.resource;
  if (!attrs.subresource.empty()) combined += "/" + attrs.subresource;
  return list_matches(rule.api_groups, attrs.api_group) &&
         resource_matches(rule, combined, attrs.subresource) &&
         resource_name_matches(rule, attrs.name);
}

// `binding_ns` is the RoleBinding's namespace, "" for a ClusterRoleBinding.
bool applies_to_user(const UserInfo& user, const Subject& s, const std::string& binding_ns) {
  if (s.kind == "User") return user.name == s.name;
  if (s.kind == "Group") return contains(user.groups, s.name);
  if (s.kind == "ServiceAccount") {
    const std::string& sa_ns = s.ns.empty() ? binding_ns : s.ns;
    if (sa_ns.empty()) return false;
    return user.name == "system:serviceaccount:" + sa_ns + ":" + s.name;
  }
  return false;
}

// ---- Go-compatible string rendering
// --------------------------------------------------------------

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one
// (bad lead or continuation byte, truncated, overlong, surrogate or beyond U+10FFFF).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  size_t len = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  unsigned cp = lead & (0x7Fu >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0u) != 0x80u) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3Fu);
  }
  const unsigned min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Go's two-character escape of an ASCII byte (backslash, n for a newline), or nullptr if none.
const char* short_escape(unsigned char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\a':
      return "\\a";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\v':
      return "\\v";
    default:
      return nullptr;
  }
}

// Go's %q (strconv.Quote) for the strings that occur here: escapes quotes, backslashes, ASCII
// control characters and invalid UTF-8 bytes; valid multi-byte characters are kept as they are
// (Go would also escape the rare non-printable ones, such as U+2028).
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (size_t len = c >= 0x80 ? utf8_sequence_length(s, i) : 0; len > 0) {
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    ++i;
    if (const char* esc = short_escape(c)) {
      out += esc;
    } else if (c < 0x20 || c >= 0x7F) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

// kube-apiserver escapes "&", "<" and ">" in the authorizer part of a 403 message so that it can
// never read as HTML; quotes are left alone.
std::string sanitize_html(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

// ---- Visiting the rules that apply
// ----------------------------------------------------------------

// "ClusterRoleBinding "<name>" of <Kind> "<role>" to <Kind> "<subject>"", as Kubernetes describes
// the source of a rule; a RoleBinding is named "<name>/<namespace>", a ServiceAccount
// "<name>/<namespace>" with the namespace defaulted to the binding's.
std::string describe(const Binding& b, const Subject& s) {
  std::string out = b.ns.empty() ? "ClusterRoleBinding " + go_quote(b.name)
                                 : "RoleBinding " + go_quote(b.name + "/" + b.ns);
  out += " of " + b.role_kind + " " + go_quote(b.role_name) + " to " + s.kind + " ";
  if (s.kind == "ServiceAccount") {
    out += go_quote(s.name + "/" + (s.ns.empty() ? b.ns : s.ns));
  } else {
    out += go_quote(s.name);
  }
  return out;
}

// The rules `b` refers to, or nullopt with the error the real rule resolver reports: the
// listers' NotFound message for a missing role, or an unsupported-kind error.
std::optional<std::vector<Rule>> role_ref_rules(const Binding& b, const RbacObjects& objects,
                                                std::string* error) {
  if (b.role_kind == "Role") {
    // A Role is looked up in the binding's namespace; a ClusterRoleBinding has none, so a Role
    // referenced from one is never found.
    if (!b.ns.empty()) {
      for (const json& role : objects.roles) {
        const std::string* ns = meta_member(role, "namespace");
        const std::string* name = meta_member(role, "name");
        if (ns != nullptr && name != nullptr && *ns == b.ns && *name == b.role_name) {
          return parse_rules(role);
        }
      }
    }
    *error = "role.rbac.authorization.k8s.io " + go_quote(b.role_name) + " not found";
    return std::nullopt;
  }
  if (b.role_kind == "ClusterRole") {
    for (const json& role : objects.cluster_roles) {
      const std::string* name = meta_member(role, "name");
      if (name != nullptr && *name == b.role_name) return parse_rules(role);
    }
    *error = "clusterrole.rbac.authorization.k8s.io " + go_quote(b.role_name) + " not found";
    return std::nullopt;
  }
  *error = "unsupported role reference kind: " + go_quote(b.role_kind);
  return std::nullopt;
}

// Calls on_rule(binding, subject, rule) for each rule that applies to `user` in namespace `ns`
// ("" = cluster scope: ClusterRoleBindings only) until it returns false, and on_error(message)
// for each binding that applies but names a role that cannot be resolved.
template <typename OnRule, typename OnError>
void visit_rules_for(const UserInfo& user, const std::string& ns, const RbacObjects& objects,
                     OnRule&& on_rule, OnError&& on_error) {
  auto visit_binding = [&](const json& obj, bool cluster) {
    std::optional<Binding> b = parse_binding(obj, cluster);
    if (!b) return true;
    if (!cluster && b->ns != ns) return true;
    const Subject* matched = nullptr;
    for (const Subject& s : b->subjects) {
      if (applies_to_user(user, s, b->ns)) {
        matched = &s;
        break;
      }
    }
    if (matched == nullptr) return true;
    std::string error;
    std::optional<std::vector<Rule>> rules = role_ref_rules(*b, objects, &error);
    if (!rules) {
      on_error(error);
      return true;
    }
    for (const Rule& r : *rules) {
      if (!on_rule(*b, *matched, r)) return false;
    }
    return true;
  };
  for (const json& obj : objects.cluster_role_bindings) {
    if (!visit_binding(obj, true)) return;
  }
  if (ns.empty()) return;
  for (const json& obj : objects.role_bindings) {
    if (!visit_binding(obj, false)) return;
  }
}

// utilerrors.NewAggregate(...).Error(): distinct messages in order, joined by ", ", bracketed
// when there is more than one.
std::string aggregate_errors(const std::vector<std::string>& errors) {
  std::vector<std::string> distinct;
  for (const std::string& e : errors) {
    if (!contains(distinct, e)) distinct.push_back(e);
  }
  if (distinct.size() == 1) return distinct.front();
  std::string out;
  for (const std::string& e : distinct) {
    if (!out.empty()) out += ", ";
    out += e;
  }
  return distinct.empty() ? out : "[" + out + "]";
}

}  // namespace

UserInfo service_account_user(const std::string& ns, const std::string& name) {
  return UserInfo{
      "system:serviceaccount:" + ns + ":" + name,
      {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}};
}

Decision authorize(const UserInfo& user, const RequestAttributes& attrs,
                   const RbacObjects& objects) {
  Decision d;
  // Non-resource requests carry no namespace in Kubernetes.
  const std::string ns = attrs.resource_request ? attrs.namespace_name : std::string();
  visit_rules_for(
      user, ns, objects,
      [&](const Binding& b, const Subject& s, const Rule& r) {
        if (!rule_allows(attrs, r)) return true;
        d.allowed = true;
        d.reason = "RBAC: allowed by " + describe(b, s);
        return false;
      },
      [](const std::string&) {});
  return d;
}

std::string forbidden_message(const UserInfo& user, const RequestAttributes& attrs) {
  std::string detail;
  if (!attrs.resource_request) {
    detail =
        "User " + go_quote(user.name) + " cannot " + attrs.verb + " path " + go_quote(attrs.path);
  } else {
    std::string resource = attrs.resource;
    if (!attrs.subresource.empty()) resource += "/" + attrs.subresource;
    detail = "User " + go_quote(user.name) + " cannot " + attrs.verb + " resource " +
             go_quote(resource) + " in API group " + go_quote(attrs.api_group);
    detail += attrs.namespace_name.empty() ? std::string(" at the cluster scope")
                                           : " in the namespace " + go_quote(attrs.namespace_name);
  }
  detail = sanitize_html(detail);

  // apierrors.NewForbidden: the qualified resource (and quoted name) lead the message unless the
  // request has neither a group nor a resource, as with every non-resource request.
  std::string group = attrs.resource_request ? attrs.api_group : std::string();
  std::string resource = attrs.resource_request ? attrs.resource : std::string();
  std::string name = attrs.resource_request ? attrs.name : std::string();
  if (group.empty() && resource.empty()) return "forbidden: " + detail;
  std::string qualified = group.empty() ? resource : resource + "." + group;
  if (name.empty()) return qualified + " is forbidden: " + detail;
  return qualified + " " + go_quote(name) + " is forbidden: " + detail;
}

json rules_review_status(const UserInfo& user, const std::string& ns, const RbacObjects& objects) {
  json resource_rules = json::array();
  json non_resource_rules = json::array();
  std::vector<std::string> errors;
  visit_rules_for(
      user, ns, objects,
      [&](const Binding&, const Subject&, const Rule& r) {
        if (!r.resources.empty()) {
          json rule = {{"verbs", r.verbs}};
          if (!r.api_groups.empty()) rule["apiGroups"] = r.api_groups;
          rule["resources"] = r.resources;
          if (!r.resource_names.empty()) rule["resourceNames"] = r.resource_names;
          resource_rules.push_back(std::move(rule));
        }
        if (!r.non_resource_urls.empty()) {
          non_resource_rules.push_back(
              json{{"verbs", r.verbs}, {"nonResourceURLs", r.non_resource_urls}});
        }
        return true;
      },
      [&](const std::string& e) { errors.push_back(e); });

  json status = {{"resourceRules", std::move(resource_rules)},
                 {"nonResourceRules", std::move(non_resource_rules)},
                 {"incomplete", false}};
  if (!errors.empty()) status["evaluationError"] = aggregate_errors(errors);
  return status;
}

}  // namespace kubesim
