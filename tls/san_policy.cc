#include "tls/san_policy.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "common/identity.h"

namespace esk8s::tls {

namespace {

// RFC 5280's upper bound for a common name.
constexpr size_t kMaxCommonNameChars = 64;

Status check_label(std::string_view what, const std::string& value) {
  if (is_dns1123_label(value)) return Status::ok();
  return Status::invalid_argument(
      std::string(what) + " \"" + value +
      "\" is not a valid DNS-1123 label (1-63 characters of a-z, 0-9 and '-', starting and "
      "ending with a letter or digit)");
}

void add_unique(std::vector<std::string>* names, std::string name) {
  if (std::find(names->begin(), names->end(), name) == names->end()) {
    names->push_back(std::move(name));
  }
}

struct Checked {
  std::string domain;  // without a trailing dot
};

Result<Checked> check_input(const SanInput& in) {
  if (Status s = check_label("pod name", in.pod); !s) return s;
  if (Status s = check_label("service name", in.service); !s) return s;
  if (Status s = check_label("namespace", in.namespace_name); !s) return s;
  std::string domain = in.cluster_domain;
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  if (!is_dns1123_subdomain(domain)) {
    return Status::invalid_argument("cluster domain \"" + in.cluster_domain +
                                    "\" is not a valid DNS-1123 subdomain (e.g. cluster.local)");
  }
  for (const std::string& c : in.client_services) {
    if (Status s = check_label("client service name", c); !s) return s;
  }
  for (const std::string& ns : in.peer_namespaces) {
    if (Status s = check_label("peer namespace", ns); !s) return s;
  }
  std::string identity = make_identity(in.pod, in.service, in.namespace_name, domain);
  if (!is_dns1123_subdomain(identity)) {
    return Status::invalid_argument("pod identity \"" + identity +
                                    "\" is longer than the 253 characters a DNS name may have");
  }
  return Checked{std::move(domain)};
}

}  // namespace

Result<SanPlan> plan_sans(const SanInput& in) {
  auto checked = check_input(in);
  if (!checked) return checked.status();
  const std::string& domain = checked->domain;
  const std::string& ns = in.namespace_name;

  SanPlan plan;
  plan.identity = make_identity(in.pod, in.service, ns, domain);
  if (plan.identity.size() <= kMaxCommonNameChars) plan.common_name = plan.identity;

  const std::string pod = in.pod + "." + in.service;
  add_unique(&plan.dns_names, plan.identity);
  add_unique(&plan.dns_names, pod + "." + ns + ".svc");
  add_unique(&plan.dns_names, pod + "." + ns);
  add_unique(&plan.dns_names, pod);
  for (const std::string& c : in.client_services) {
    std::string full = c + "." + ns + ".svc." + domain;
    if (!is_dns1123_subdomain(full)) {
      return Status::invalid_argument("client service name \"" + full +
                                      "\" is longer than the 253 characters a DNS name may have");
    }
    add_unique(&plan.dns_names, full);
    add_unique(&plan.dns_names, c + "." + ns + ".svc");
    add_unique(&plan.dns_names, c + "." + ns);
    add_unique(&plan.dns_names, c);
  }
  if (in.include_localhost) {
    add_unique(&plan.dns_names, "localhost");
    plan.ip_addresses = {"127.0.0.1", "::1"};
  }
  return plan;
}

Result<CertSpec> to_cert_spec(const SanInput& in, std::chrono::seconds validity) {
  auto plan = plan_sans(in);
  if (!plan) return plan.status();
  CertSpec spec;
  spec.common_name = std::move(plan->common_name);
  spec.dns_names = std::move(plan->dns_names);
  spec.ip_addresses = std::move(plan->ip_addresses);
  spec.validity = validity;
  spec.server_auth = true;
  spec.client_auth = true;
  return spec;
}

Result<std::vector<std::string>> required_names_for_peers(const SanInput& in) {
  auto plan = plan_sans(in);
  if (!plan) return plan.status();
  std::vector<std::string> names{plan->identity};
  bool other_namespace =
      std::any_of(in.peer_namespaces.begin(), in.peer_namespaces.end(),
                  [&](const std::string& ns) { return ns != in.namespace_name; });
  if (other_namespace) {
    std::string pod = in.pod + "." + in.service + "." + in.namespace_name;
    names.push_back(pod + ".svc");
    names.push_back(pod);
  }
  return names;
}

}  // namespace esk8s::tls
