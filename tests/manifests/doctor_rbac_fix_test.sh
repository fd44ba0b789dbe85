#!/usr/bin/env bash
# The RBAC fixes `esk8s doctor` prints are applied as printed (issue 18, item 4): on kubesim with
# the multi-namespace overlay, a deleted RoleBinding makes the doctor report the missing
# permissions with a command; running that command from the repository root restores exactly the
# RoleBindings the overlay made (name, roleRef, subjects) and nothing else changes. The printed
# fix once applied rbac/rolebinding-per-namespace.yaml under the name of rbac/role.yaml's binding,
# esk8s-discovery: it replaced the own-namespace binding (or was refused: roleRef is immutable).
#  1. the peer binding in esdb-b (esdb-a's members reading esdb-b) is deleted;
#  2. the own-namespace binding in esdb-a (rbac/role.yaml) is deleted.
# usage: doctor_rbac_fix_test.sh REPO_ROOT KUBESIM ESK8S_CLI
set -euo pipefail
root=$1
kubesim=$2
cli=$3
source "$(dirname "$0")/lib.sh"
require_kubectl
command -v jq >/dev/null || fail "jq is not installed (scripts/setup installs it)"
work=$(mktemp -d)
trap 'stop_kubesim; rm -rf "$work"' EXIT

start_with_overlay "$root" "$kubesim" multi-namespace
kc apply -f "$work/rendered.yaml" >/dev/null || fail "kubectl apply of overlay multi-namespace failed"

# Every RoleBinding and ClusterRoleBinding as name, roleRef and subjects, sorted.
bindings() {
  kc get rolebindings,clusterrolebindings -A -o json |
    jq -S '[.items[] | {kind, namespace: .metadata.namespace, name: .metadata.name, roleRef, subjects}]
           | sort_by(.kind, .namespace, .name)'
}
# The doctor's rbac.missing findings, given namespace esdb-a (esdb-b is named by its members).
# It exits 1 whatever the RBAC: the pods lack the CA Secret, which this test does not create.
missing() {
  timeout 120 "$cli" doctor --kubeconfig "$kubeconfig" --namespace esdb-a --json >"$work/report.json" \
    2>"$work/progress" || true
  jq -e '.findings' "$work/report.json" >/dev/null || { cat "$work/report.json" "$work/progress" >&2; fail "no JSON report"; }
  jq '[.findings[] | select(.check == "rbac.missing")]' "$work/report.json"
}
expect_missing() { # DESCRIPTION COUNT FILE: COUNT findings, every one with a command naming FILE
  local got
  missing >"$work/missing.json"
  got=$(jq length "$work/missing.json")
  [ "$got" = "$2" ] || { cat "$work/missing.json" "$work/progress" >&2; fail "$1: $got rbac.missing findings, expected $2"; }
  jq -e --arg f "$3" 'all(.[]; .command != null and (.command | contains($f)))' "$work/missing.json" >/dev/null ||
    { cat "$work/missing.json" >&2; fail "$1: not every finding has a command applying $3"; }
  echo "ok  $1: $2 rbac.missing finding(s) naming $3"
}
apply_printed_fixes() {
  local cmd
  while read -r cmd; do
    echo "run: $cmd"
    (cd "$root" && KUBECONFIG=$kubeconfig timeout 60 bash -c "$cmd") >"$work/fix.out" 2>&1 ||
      { cat "$work/fix.out" >&2; fail "the printed fix failed: $cmd"; }
  done < <(jq -r '[.[].command] | unique[]' "$work/missing.json")
}
expect_restored() {
  [ "$(missing | jq length)" = 0 ] || fail "$1: the doctor still reports missing permissions"
  bindings >"$work/after.json"
  diff "$work/before.json" "$work/after.json" >&2 || fail "$1: the bindings differ from the overlay's"
  echo "ok  $1: the printed fix restored the overlay's bindings and changed no other"
}

expect_missing "the overlay as applied" 0 ""
bindings >"$work/before.json"

kc -n esdb-b delete rolebinding esk8s-discovery-from-esdb-a >/dev/null || fail "deleting the peer binding failed"
expect_missing "peer binding in esdb-b deleted" 2 rbac/rolebinding-per-namespace.yaml
apply_printed_fixes
expect_restored "peer binding in esdb-b"

kc -n esdb-a delete rolebinding esk8s-discovery >/dev/null || fail "deleting the own binding failed"
expect_missing "own binding in esdb-a deleted" 4 rbac/role.yaml
apply_printed_fixes
expect_restored "own binding in esdb-a"
