#include "tls/issuer.h"

#include <utility>

namespace esk8s::tls {

Issuer::~Issuer() = default;

Result<PreparedCsr> prepare_csr(const IssueRequest& request) {
  auto plan = plan_sans(request.names);
  if (!plan) return plan.status();
  auto spec = to_cert_spec(request.names, request.validity);
  if (!spec) return spec.status();
  auto key = generate_key(request.key_type);
  if (!key) return key.status();
  auto csr = make_csr(spec.value(), key->private_key_pem);
  if (!csr) return csr.status();
  return PreparedCsr{std::move(csr).value(), std::move(key->private_key_pem),
                     std::move(plan).value()};
}

}  // namespace esk8s::tls
