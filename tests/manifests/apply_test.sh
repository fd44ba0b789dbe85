#!/usr/bin/env bash
# One overlay applies cleanly (`kubectl apply`, client-side as users run it) to a fresh kubesim,
# and every object it renders is then stored. FIXTURE files (e.g. CRDs the overlay's custom
# resources need) are applied first. Pods need not become Ready: the CA Secret or ConfigMap the
# overlay documents as a prerequisite is deliberately not created.
# usage: apply_test.sh REPO_ROOT KUBESIM OVERLAY [FIXTURE...]
set -euo pipefail
root=$1
kubesim=$2
overlay=$3
shift 3
source "$(dirname "$0")/lib.sh"
require_kubectl
work=$(mktemp -d)
trap 'stop_kubesim; rm -rf "$work"' EXIT

render "$root/examples/kubernetes/overlays/$overlay" >"$work/rendered.yaml" ||
  fail "kubectl kustomize $overlay failed"
start_kubesim "$kubesim" "$work/sim"
for fixture in "$@"; do
  kc apply -f "$fixture" || fail "applying fixture $fixture failed"
done
kc apply -f "$work/rendered.yaml" >"$work/apply.out" 2>&1 || {
  cat "$work/apply.out" >&2
  fail "kubectl apply of overlay $overlay failed"
}
cat "$work/apply.out"
grep -qi 'warning' "$work/apply.out" && fail "kubectl apply of overlay $overlay warned"
expected=$(grep -c '^kind: ' "$work/rendered.yaml")
stored=$(kc get -f "$work/rendered.yaml" -o name | wc -l) ||
  fail "not every object of overlay $overlay is stored"
[ "$stored" = "$expected" ] || fail "overlay $overlay renders $expected objects, kubesim holds $stored"
echo "ok  overlay $overlay: $stored objects applied and stored"
