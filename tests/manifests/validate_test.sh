#!/usr/bin/env bash
# Every overlay passes the real kube-apiserver's validation: on one esk8s-cluster (no Nodes: no
# pod runs), each overlay is applied with `kubectl apply --dry-run=server --validate=strict`, as
# an operator checks a change before applying it. Strict field validation refuses unknown and
# duplicate fields; the server runs defaulting, validation and admission, and stores nothing. The
# namespaces an overlay renders are created first (a namespaced object cannot be checked in a
# namespace that does not exist); FIXTURE files (the CRDs of cert-manager's Issuer) are applied
# for real before the overlays.
# usage: validate_test.sh ESK8S_CLUSTER_BINARY REPO_ROOT FIXTURE...
#   (exit 77: skipped, binary or kubectl missing)
set -euo pipefail
bin=${1:?usage: validate_test.sh ESK8S_CLUSTER_BINARY REPO_ROOT FIXTURE...}
root=${2:?}
shift 2
source "$(dirname "$0")/lib.sh"

test_start=$SECONDS
start --nodes 0
for fixture in "$@"; do
  kc apply -f "$fixture" >/dev/null || fail "applying fixture $fixture failed"
done
kc wait --for=condition=Established crd --all --timeout=30s >/dev/null ||
  fail "the fixture CRDs were not established"

checked=0
while read -r dir; do
  overlay=$(basename "$dir")
  render "$dir" >"$work/$overlay.yaml" || fail "kubectl kustomize $overlay failed"
  docs_of_kind Namespace <"$work/$overlay.yaml" | kc apply -f - >/dev/null ||
    fail "creating the namespaces of $overlay failed"
  before=$(kc get statefulsets -A -o name | wc -l)
  kc apply --dry-run=server --validate=strict -f "$work/$overlay.yaml" >"$work/$overlay.out" 2>&1 || {
    cat "$work/$overlay.out" >&2
    fail "overlay $overlay: the API server refused it"
  }
  grep -qi 'warning' "$work/$overlay.out" && { cat "$work/$overlay.out" >&2; fail "overlay $overlay: the API server warned"; }
  expected=$(grep -c '^kind: ' "$work/$overlay.yaml")
  answered=$(grep -c '(server dry run)$' "$work/$overlay.out" || true)
  [ "$answered" = "$expected" ] ||
    { cat "$work/$overlay.out" >&2; fail "overlay $overlay renders $expected objects, the server checked $answered"; }
  [ "$(kc get statefulsets -A -o name | wc -l)" = "$before" ] || fail "overlay $overlay: the dry run stored a StatefulSet"
  echo "ok: overlay $overlay: $answered objects pass server-side strict validation, nothing stored"
  checked=$((checked + 1))
done < <(overlays "$root")
[ "$checked" -ge 5 ] || fail "only $checked overlays found"

# The check has teeth: a misspelt field is refused by strict validation.
sed 's/^  podManagementPolicy:/  podManagmentPolicy:/' "$work/single-namespace.yaml" >"$work/typo.yaml"
if out=$(kc apply --dry-run=server --validate=strict -f "$work/typo.yaml" 2>&1); then
  fail "a StatefulSet with spec.podManagmentPolicy passed strict validation"
fi
grep -q 'unknown field "spec.podManagmentPolicy"' <<<"$out" || fail "the typo was refused, but not as an unknown field: $out"
echo "ok: a misspelt field is refused: $(grep -o 'unknown field "spec.podManagmentPolicy"' <<<"$out")"

stop
echo "PASS: manifests.every_overlay_passes_server_side_strict_validation ($((SECONDS - test_start)) s)"
