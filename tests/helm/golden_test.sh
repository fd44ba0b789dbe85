#!/usr/bin/env bash
# helm.template_renders_the_golden_files: `helm template` of each case of tests/helm/values/
# (release esdb, the case's namespace, with the `helm test` hook) equals tests/helm/golden/CASE.yaml
# byte for byte; a difference is printed as a diff. After an intended change of the chart,
# regenerate the golden files and review them with `git diff tests/helm/golden`:
#   tests/helm/golden_test.sh build/helm/helm . --regenerate
#   golden_test.sh HELM REPO_ROOT [--regenerate]      (exit 77: helm not built)
set -euo pipefail
helm=${1:?usage: golden_test.sh HELM REPO_ROOT [--regenerate]} root=${2:?}
regenerate=${3:-}
source "$(dirname "$0")/lib.sh"
golden=$root/tests/helm/golden

status=0
n=0
for c in $(cases); do
  n=$((n + 1))
  out=$helm_home/$c.yaml
  template "$c" >"$out" || fail "helm template of case $c failed"
  if [ "$regenerate" = --regenerate ]; then
    cp "$out" "$golden/$c.yaml"
    echo "wrote tests/helm/golden/$c.yaml"
  elif [ ! -f "$golden/$c.yaml" ]; then
    echo "FAIL: tests/helm/golden/$c.yaml is missing (regenerate: tests/helm/golden_test.sh HELM . --regenerate)" >&2
    status=1
  elif ! diff -u "$golden/$c.yaml" "$out" >"$helm_home/diff"; then
    echo "FAIL: helm template of case $c differs from tests/helm/golden/$c.yaml:" >&2
    head -n 80 "$helm_home/diff" >&2
    status=1
  else
    echo "ok  $c ($(grep -c '^kind: ' "$out") objects)"
  fi
done
[ "$n" -ge 6 ] || fail "only $n cases in tests/helm/values"
# A golden file without a case is stale.
for g in "$golden"/*.yaml; do
  [ -f "$cases_dir/$(basename "$g")" ] || { echo "FAIL: ${g#"$root"/} has no values file" >&2; status=1; }
done
exit $status
