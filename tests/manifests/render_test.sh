#!/usr/bin/env bash
# Every overlay in examples/kubernetes/overlays renders with `kubectl kustomize` (the kustomize
# built into kubectl), into at least one StatefulSet, and the expected overlays all exist.
# usage: render_test.sh REPO_ROOT
set -euo pipefail
root=$1
source "$(dirname "$0")/lib.sh"
require_kubectl

for expected in single-namespace multi-namespace cert-manager kubernetes-csr dns-discovery; do
  [ -f "$root/examples/kubernetes/overlays/$expected/kustomization.yaml" ] ||
    fail "overlay $expected is missing"
done
status=0
while read -r dir; do
  if ! out=$(render "$dir" 2>&1); then
    echo "FAIL: kubectl kustomize ${dir#"$root"/}:" >&2
    echo "$out" >&2
    status=1
  elif ! grep -q '^kind: StatefulSet$' <<<"$out"; then
    echo "FAIL: ${dir#"$root"/} renders no StatefulSet" >&2
    status=1
  else
    echo "ok  ${dir#"$root"/} ($(grep -c '^kind: ' <<<"$out") objects)"
  fi
done < <(overlays "$root")
exit $status
