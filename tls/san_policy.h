// SanPolicy: which names a member's certificate carries. Certificates are named after services,
// never after pod IPs: a rescheduled pod gets a new IP but keeps its name, so its certificate
// stays valid and peers keep recognising it.
//
// For pod P of headless service S in namespace N with cluster domain D the certificate has
//   CN  = P.S.N.svc.D (the pod identity; left empty when longer than the 64 characters X.509
//         allows a CN, which is harmless: identities are matched against DNS SANs only)
//   DNS = P.S.N.svc.D, P.S.N.svc, P.S.N, P.S                  (the pod, longest first)
//         C.N.svc.D, C.N.svc, C.N, C  for each client-facing service C, in the order given
//         localhost                                           (only when include_localhost)
//   IP  = 127.0.0.1, ::1                                      (only when include_localhost)
// and nothing else: no pod IP, no wildcard.
//
// Decision: peer namespaces add no names. Peers in other namespaces reach and verify a member by
// its full identity P.S.N.svc.D, which the certificate always carries; the shorter forms only
// resolve inside namespace N (or via the resolver's svc.D / D search suffixes, which the
// P.S.N.svc and P.S.N forms cover). required_names_for_peers() says which names a certificate made
// by someone else (the `files` mode) must carry for the configured peers, so a missing one is
// reported instead of surfacing as a handshake failure.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "tls/x509.h"

namespace esk8s::tls {

struct SanInput {
  std::string pod;             // pod name (DNS-1123 label)
  std::string service;         // headless Service governing the StatefulSet (label)
  std::string namespace_name;  // the pod's namespace (label)
  std::string cluster_domain;  // e.g. "cluster.local" (subdomain; one trailing dot is ignored)
  std::vector<std::string> client_services;  // Services clients connect through (labels)
  std::vector<std::string> peer_namespaces;  // other namespaces with members (labels)
  bool include_localhost = false;            // for clients on the pod itself (probes, sidecars)
};

struct SanPlan {
  std::string identity;                   // P.S.N.svc.D
  std::string common_name;                // = identity, or empty when identity > 64 chars
  std::vector<std::string> dns_names;     // deterministic order, no duplicates
  std::vector<std::string> ip_addresses;  // empty unless include_localhost
};

// The names for `in`, or invalid_argument naming the first bad value ("pod name \"Esdb_0\" is not
// a valid DNS-1123 label ..."). Duplicated client services or peer namespaces are ignored.
Result<SanPlan> plan_sans(const SanInput& in);

// plan_sans as a CertSpec (serverAuth and clientAuth: every member is both server and client of
// gossip) with the given validity.
Result<CertSpec> to_cert_spec(const SanInput& in, std::chrono::seconds validity);

// The DNS names a certificate must carry for the configured peers to reach this member:
// the full identity always; with peer namespaces also P.S.N.svc and P.S.N (names that resolve
// from another namespace). Identity first, no duplicates. Errors as plan_sans.
Result<std::vector<std::string>> required_names_for_peers(const SanInput& in);

}  // namespace esk8s::tls
