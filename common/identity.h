// Stable DNS identities of members (`<pod>.<service>.<namespace>.svc.<cluster-domain>`) and the
// DNS name rules they are built from. Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace esk8s {

// RFC 1123 label as Kubernetes validates it: 1-63 chars of [a-z0-9-], starting and ending with an
// alphanumeric. Pod, service and namespace names are labels.
bool is_dns1123_label(std::string_view s);

// RFC 1123 subdomain: dot-separated labels, at most 253 chars in all. Cluster domains and
// identities are subdomains.
bool is_dns1123_subdomain(std::string_view s);

// "<pod>.<service>.<ns>.svc.<domain>".
// REQUIRES: pod, service, ns are labels and domain is a subdomain.
std::string make_identity(std::string_view pod, std::string_view service, std::string_view ns,
                          std::string_view domain);

}  // namespace esk8s
