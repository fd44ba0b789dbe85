#!/usr/bin/env bash
# helm.chart_renders_the_objects_of_each_kustomize_overlay: for each overlay of
# examples/kubernetes/overlays, `kubectl kustomize` of it and `helm template` of the chart with
# tests/helm/values/OVERLAY.yaml create the same objects (kind, namespace, name) with the same
# fields: ConfigMap data, containers (env, ports, probes, command, resources, preStop), volumes,
# RBAC rules and subjects, PDB, podManagementPolicy, anti-affinity, volumeClaimTemplates...
# (compare.py says what it leaves out: Namespaces, Helm's extra labels, annotations). A change
# to one side only fails here, naming the field.
#   drift_test.sh HELM REPO_ROOT      (exit 77: helm not built or kubectl missing)
set -euo pipefail
helm=${1:?usage: drift_test.sh HELM REPO_ROOT} root=${2:?}
source "$(dirname "$0")/lib.sh"
command -v kubectl >/dev/null || { echo "SKIP: kubectl is not on the PATH"; exit 77; }
command -v python3 >/dev/null || fail "python3 is not installed (scripts/setup installs it)"

status=0
n=0
for dir in "$root"/examples/kubernetes/overlays/*/; do
  overlay=$(basename "$dir")
  n=$((n + 1))
  [ -f "$cases_dir/$overlay.yaml" ] || { echo "FAIL: overlay $overlay has no tests/helm/values/$overlay.yaml" >&2; status=1; continue; }
  timeout 60 kubectl kustomize "$dir" >"$helm_home/kustomize.yaml" || fail "kubectl kustomize $overlay failed"
  template "$overlay" --skip-tests >"$helm_home/helm.yaml" || fail "helm template of $overlay failed"
  if out=$(python3 "$root/tests/helm/compare.py" "$helm_home/kustomize.yaml" "$helm_home/helm.yaml" 2>&1); then
    echo "ok  $overlay: ${out##*$'\n'}"
  else
    echo "FAIL: the chart with values/$overlay.yaml and overlay $overlay differ:" >&2
    echo "$out" >&2
    status=1
  fi
done
[ "$n" -ge 5 ] || fail "only $n overlays found"
exit $status
