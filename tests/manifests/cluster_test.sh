#!/usr/bin/env bash
# An overlay, applied to kubesim with the prerequisites its kustomization.yaml documents (the CA
# Secret in every namespace, or the CSR signer's CA ConfigMap), runs: every member becomes Ready
# and sees all members alive over gossip. kubesim runs esk8s-node for the container image.
# (cert-manager needs its CSI driver and dns-discovery cluster DNS, neither of which kubesim has.)
# usage: cluster_test.sh REPO_ROOT KUBESIM ESK8S_CLI OVERLAY
set -euo pipefail
root=$1
kubesim=$2
cli=$3
overlay=$4
source "$(dirname "$0")/lib.sh"
require_kubectl
command -v jq >/dev/null || fail "jq is not installed (scripts/setup installs it)"
command -v curl >/dev/null || fail "curl is not installed (scripts/setup installs it)"
work=$(mktemp -d)
trap 'stop_kubesim; rm -rf "$work"' EXIT

render "$root/examples/kubernetes/overlays/$overlay" >"$work/rendered.yaml" ||
  fail "kubectl kustomize $overlay failed"
start_kubesim "$kubesim" "$work/sim"
mapfile -t namespaces < <(rendered_namespaces <"$work/rendered.yaml")
((${#namespaces[@]} > 0)) || fail "overlay $overlay renders no Namespace"
docs_of_kind Namespace <"$work/rendered.yaml" | kc apply -f - >/dev/null || fail "creating the namespaces failed"

# The prerequisites, as the overlay's kustomization.yaml tells users to create them.
create_prerequisites "$cli" "$work/rendered.yaml" "$work" "${namespaces[@]}"
kc apply -f "$work/rendered.yaml" >/dev/null || fail "kubectl apply of overlay $overlay failed"

members=0
for replicas in $(docs_of_kind StatefulSet <"$work/rendered.yaml" | sed -n 's/^  replicas: //p'); do
  members=$((members + replicas))
done
cluster_size=$(sed -n 's/^  ESK8S_CLUSTER_SIZE: "\([0-9]*\)"$/\1/p' "$work/rendered.yaml" | sort -u)
[ "$cluster_size" = "$members" ] ||
  fail "ESK8S_CLUSTER_SIZE is [$cluster_size] but the StatefulSets have $members replicas in all"

pods() { # namespace/name podIP ready, one line per pod of the overlay
  local ns
  for ns in "${namespaces[@]}"; do
    kc -n "$ns" get pods -o json | jq -r '.items[] | [.metadata.namespace + "/" + .metadata.name,
      .status.podIP // "-", (any(.status.conditions[]?; .type == "Ready" and .status == "True") | tostring)]
      | join(" ")'
  done
}
ready=0
for _ in $(seq 90); do
  ready=$(pods | grep -c ' true$' || true)
  [ "$ready" = "$members" ] && break
  sleep 1
done
if [ "$ready" != "$members" ]; then
  pods >&2
  for log in "$work"/sim/pods/*/container.log; do echo "== $log" >&2; tail -5 "$log" >&2; done
  fail "overlay $overlay: $ready of $members members Ready after 90 s"
fi
echo "ok  overlay $overlay: $members of $members members Ready"

while read -r pod ip _; do
  alive=$(timeout 10 curl -s --max-time 5 "http://$ip:2115/members" |
    jq '[.members[] | select(.state == "alive")] | length') || fail "GET /members of $pod failed"
  [ "$alive" = "$members" ] || fail "$pod sees $alive alive members, expected $members"
  echo "ok  $pod sees $alive alive members"
done < <(pods)
