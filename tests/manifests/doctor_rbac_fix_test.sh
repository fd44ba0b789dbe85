#!/usr/bin/env bash
# The RBAC fixes `esk8s doctor` prints are applied as printed (issue 18, item 4): on esk8s-cluster
# (no Nodes: the members' pods stay Pending, which this test does not look at) with the
# multi-namespace overlay, a deleted RoleBinding makes the doctor report the missing
# permissions with a command; running that command from the repository root restores exactly the
# RoleBindings the overlay made (name, roleRef, subjects) and nothing else changes. The printed
# fix once applied rbac/rolebinding-per-namespace.yaml under the name of rbac/role.yaml's binding,
# esk8s-discovery: it replaced the own-namespace binding (or was refused: roleRef is immutable).
#  1. the peer binding in esdb-b (esdb-a's members reading esdb-b) is deleted;
#  2. the own-namespace binding in esdb-a (rbac/role.yaml) is deleted.
# The real RBAC authorizer sees a change within moments (its informers), so the doctor's
# SubjectAccessReviews are asked again for up to 15 s until they show the expected state.
# usage: doctor_rbac_fix_test.sh ESK8S_CLUSTER_BINARY REPO_ROOT ESK8S_CLI
#   (exit 77: skipped, binary or kubectl missing)
set -euo pipefail
bin=${1:?usage: doctor_rbac_fix_test.sh ESK8S_CLUSTER_BINARY REPO_ROOT ESK8S_CLI}
root=${2:?} cli=${3:?}
source "$(dirname "$0")/lib.sh"
require jq

test_start=$SECONDS
cluster_flags="--nodes 0"
start_with_overlay "$root" multi-namespace
kubeconfig=$state/kubeconfig
kc apply -f "$work/rendered.yaml" >/dev/null || fail "kubectl apply of overlay multi-namespace failed"

# Every RoleBinding and ClusterRoleBinding as name, roleRef and subjects, sorted.
bindings() {
  kc get rolebindings,clusterrolebindings -A -o json |
    jq -S '[.items[] | {kind, namespace: .metadata.namespace, name: .metadata.name, roleRef, subjects}]
           | sort_by(.kind, .namespace, .name)'
}
# The doctor's rbac.missing findings, given namespace esdb-a (esdb-b is named by its members).
# It exits 1 whatever the RBAC: the pods have no Node, and lack the CA Secret, which this test
# does not create.
missing() {
  timeout 120 "$cli" doctor --kubeconfig "$kubeconfig" --namespace esdb-a --json >"$work/report.json" \
    2>"$work/progress" || true
  jq -e '.findings' "$work/report.json" >/dev/null || { cat "$work/report.json" "$work/progress" >&2; fail "no JSON report"; }
  jq '[.findings[] | select(.check == "rbac.missing")]' "$work/report.json"
}
expect_missing() { # DESCRIPTION COUNT FILE: COUNT findings, every one with a command naming FILE
  local got t0=$SECONDS
  while :; do
    missing >"$work/missing.json"
    got=$(jq length "$work/missing.json")
    [ "$got" = "$2" ] && break
    [ $((SECONDS - t0)) -lt 15 ] ||
      { cat "$work/missing.json" "$work/progress" >&2; fail "$1: $got rbac.missing findings, expected $2"; }
    sleep 0.5
  done
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
  local t0=$SECONDS
  until [ "$(missing | jq length)" = 0 ]; do
    [ $((SECONDS - t0)) -lt 15 ] || fail "$1: the doctor still reports missing permissions"
    sleep 0.5
  done
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

stop
echo "PASS: manifests.doctor_rbac_fixes_applied_as_printed_restore_the_overlays_bindings ($((SECONDS - test_start)) s)"
