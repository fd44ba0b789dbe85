// TLS helpers shared by the transport and process tests: a CA, leaf certificates for member
// identities, and a PeerVerifier over tls::verify_peer like the plugin's (TlsManager::verifier).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "gossip/tls_snapshot.h"
#include "gossip/transport.h"
#include "tls/peer_verify.h"
#include "tls/x509.h"

namespace esk8s::test {

inline std::string member_identity(int i) {
  return "esdb-" + std::to_string(i) + ".esdb.prod.svc.cluster.local";
}

inline tls::CertAndKey make_ca(const std::string& name) {
  return tls::make_self_signed_ca(name, tls::KeyType::kEcdsaP256, std::chrono::hours(24)).value();
}

// A member certificate for `identity` (serverAuth + clientAuth) signed by `ca`.
inline tls::CertAndKey make_leaf(const tls::CertAndKey& ca, const std::string& identity) {
  tls::CertSpec spec;
  spec.common_name = identity;
  spec.dns_names = {identity};
  return tls::issue(spec, ca).value();
}

inline std::shared_ptr<const gossip::TlsSnapshot> snapshot(const tls::CertAndKey& leaf,
                                                           const std::string& bundle) {
  return gossip::TlsSnapshot::make({leaf.cert_pem, leaf.key_pem, bundle}).value();
}

// Verifies against `*bundle` (read at each handshake, so a test can change it) and the cluster
// pattern of namespace "prod".
inline gossip::PeerVerifier verifier(std::shared_ptr<std::string> bundle) {
  return [bundle](const std::string& chain, const std::string& expected, bool peer_is_client) {
    tls::PeerVerifyInput in;
    in.chain_pem = chain;
    in.trust_bundle_pem = *bundle;
    in.claimed_identity = expected;
    in.cluster_patterns = {"*.esdb.prod.svc.cluster.local"};
    in.our_role = peer_is_client ? tls::PeerRole::kServer : tls::PeerRole::kClient;
    in.now = std::chrono::system_clock::now();
    tls::PeerVerdict v = tls::verify_peer(in);
    return gossip::PeerCheck{v.ok(), std::string(tls::metric_label(v.reason)), v.detail,
                             v.identities};
  };
}

}  // namespace esk8s::test
