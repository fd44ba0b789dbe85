#!/usr/bin/env bash
# Overlays cannot load rbac/*.yaml (kustomize's load restrictor), so the multi-namespace and
# kubernetes-csr overlays carry copies of the ClusterRoles. Their rendered rules must equal those
# of the rbac/ files, and the Role the base pulls in must be rbac/role.yaml's.
# usage: rbac_drift_test.sh REPO_ROOT
set -euo pipefail
root=$1
source "$(dirname "$0")/lib.sh"
require_kubectl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The rbac/ file through kustomize too, so both sides are in kustomize's canonical form.
render_file() {
  mkdir -p "$work/$1"
  cp "$root/rbac/$1" "$work/$1/"
  printf 'resources:\n  - %s\n' "$1" >"$work/$1/kustomization.yaml"
  render "$work/$1"
}

status=0
# compare OVERLAY KIND NAME RBAC_FILE
compare() {
  local expected actual
  expected=$(render_file "$4" | rules_of "$2" "$3")
  actual=$(render "$root/examples/kubernetes/overlays/$1" | rules_of "$2" "$3")
  [ -n "$expected" ] || fail "rbac/$4 has no $2 $3"
  if [ -z "$actual" ]; then
    echo "FAIL: overlay $1 renders no $2 $3" >&2
    status=1
  elif [ "$actual" != "$expected" ]; then
    echo "FAIL: the rules of $2 $3 in overlay $1 differ from rbac/$4 (< overlay, > rbac/$4):" >&2
    diff <(echo "$actual") <(echo "$expected") >&2 || true
    status=1
  else
    echo "ok  $2 $3 in overlay $1 has the rules of rbac/$4"
  fi
}
compare multi-namespace ClusterRole esk8s-discovery clusterrole.yaml
compare kubernetes-csr ClusterRole esk8s-csr csr.yaml
compare single-namespace Role esk8s-discovery role.yaml
exit $status
