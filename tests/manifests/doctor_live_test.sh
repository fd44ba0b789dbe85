#!/usr/bin/env bash
# `esk8s doctor` and kubectl against a live esk8s deployment on esk8s-cluster (the real control
# plane, three Nodes of the process kubelet running esk8s-node members): the single-namespace
# overlay, applied with the real kubectl as docs/OPERATIONS.md tells an operator. One cluster for
# all of it, in this order:
#   - the members become Ready; the EndpointSlice lists esdb-0..2 by hostname, ready;
#   - the doctor finds no error and exits 0, having read every member's /members;
#   - a namespace without members is one error (exit 1); an unreachable API server and an unknown
#     argument exit 2 with a clear message;
#   - a deleted member comes back under the same name with a new IP, and all see it alive;
#   - pitfalls introduced one at a time are each named: publishNotReadyAddresses false (error),
#     the PodDisruptionBudget deleted (a warning: exit 0), the Role without its statefulsets rule
#     (rbac.missing naming the file), OrderedReady with ESK8S_READY_MODE=quorum (error). The real
#     API server refuses to change podManagementPolicy in place (kubesim allowed it): the
#     StatefulSet is deleted with --cascade=orphan and created again, as an operator must;
#   - a fourth replica on three Nodes stays Pending (required anti-affinity), and the doctor names
#     it with the scheduler's reason and what to do (pods.unschedulable, exit 1).
# usage: netns-run doctor_live_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR REPO_ROOT ESK8S_CLI
#   (exit 77: skipped, binary or kubectl missing)
set -euo pipefail
bin=${1:?usage: doctor_live_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR REPO_ROOT ESK8S_CLI}
node_dir=${2:?} root=${3:?} cli=${4:?}
source "$(dirname "$0")/lib.sh"
require jq curl
require_netns

test_start=$SECONDS
cluster_flags="--pod-path $node_dir --crashloop-backoff-scale 0.1"
start_with_overlay "$root" single-namespace
create_prerequisites "$cli" "$work/rendered.yaml" "$work" esdb
ssd_class
apply_overlay() { kc apply -f "$work/rendered.yaml" >/dev/null || fail "kubectl apply of the overlay failed"; }
apply_overlay

all_ready() { kc -n esdb wait --for=condition=Ready pod/esdb-0 pod/esdb-1 pod/esdb-2 --timeout=2s; }
wait_for 180 "three members Ready" all_ready
three_alive_everywhere() {
  local ip
  for ip in $(kc -n esdb get pods -o jsonpath='{.items[*].status.podIP}'); do
    [ "$(curl -s --max-time 2 "http://$ip:2115/members" | jq '[.members[] | select(.state == "alive")] | length')" = 3 ] ||
      return 1
  done
}
wait_for 60 "every member lists three alive members" three_alive_everywhere
hostnames=$(kc -n esdb get endpointslices -l kubernetes.io/service-name=esdb -o json |
  jq -r '[.items[].endpoints // [] | .[] | select(.conditions.ready == true) | .hostname] | sort | join(" ")')
[ "$hostnames" = "esdb-0 esdb-1 esdb-2" ] || fail "ready endpoints by hostname: [$hostnames]"
echo "ok: the EndpointSlice lists esdb-0 esdb-1 esdb-2 by hostname, ready"

# doctor [ARGS...]: the JSON report in $work/report.json, progress in $work/progress, exit code in
# $rc. Default namespace esdb.
doctor() {
  rc=0
  timeout 120 "$cli" doctor --kubeconfig "$state/kubeconfig" "${@:---namespace=esdb}" --json \
    >"$work/report.json" 2>"$work/progress" || rc=$?
  jq -e . "$work/report.json" >/dev/null || { cat "$work/report.json" "$work/progress" >&2; fail "doctor $*: no JSON report"; }
}
# with CHECK: the findings of that check, one compact JSON object per line.
with() { jq -c --arg c "$1" '.findings[] | select(.check == $c)' "$work/report.json"; }
errors() { jq -c '.findings[] | select(.severity == "error")' "$work/report.json"; }
# expect_one CHECK SEVERITY RC: exactly one finding of CHECK with SEVERITY, and the exit code RC.
expect_one() {
  [ "$(with "$1" | wc -l)" = 1 ] || { jq . "$work/report.json" >&2; fail "expected one $1 finding"; }
  [ "$(with "$1" | jq -r .severity)" = "$2" ] || fail "$1 is $(with "$1" | jq -r .severity), expected $2"
  [ "$rc" = "$3" ] || { errors >&2; fail "doctor exited $rc with $1, expected $3"; }
}

doctor
[ "$rc" = 0 ] && [ "$(jq .summary.errors "$work/report.json")" = 0 ] ||
  { errors >&2; cat "$work/progress" >&2; fail "the good deployment: doctor exited $rc"; }
[ "$(jq -c .summary.statefulsets "$work/report.json")" = '["esdb/esdb"]' ] || fail "statefulsets: $(jq -c .summary.statefulsets "$work/report.json")"
[ -z "$(with members.unreachable)$(with members.views-disagree)" ] || fail "live checks: $(with members.unreachable) $(with members.views-disagree)"
grep -q '/members of 3 pod(s)' "$work/progress" || fail "the doctor did not fetch three /members: $(cat "$work/progress")"
echo "ok: the good deployment: exit 0, no error, every /members read and agreeing ($(jq -r '[.findings[] | .check] | join(", ")' "$work/report.json"))"

kc create namespace empty >/dev/null
doctor --namespace esdb --namespace empty
expect_one workload.none error 1
[ "$(with workload.none | jq -r .object)" = "Namespace empty" ] || fail "workload.none: $(with workload.none)"
echo "ok: a namespace without members: workload.none, exit 1"

# An API server that is not there: nothing listens on port 1 of 127.0.0.1.
sed "s#server: .*#server: https://127.0.0.1:1#" "$state/kubeconfig" >"$work/nowhere.kubeconfig"
rc=0
out=$(timeout 60 "$cli" doctor --kubeconfig "$work/nowhere.kubeconfig" --namespace esdb 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "an unreachable API server: exit $rc, expected 2: $out"
grep -q 'cannot reach the Kubernetes API server https://127.0.0.1:1' <<<"$out" || fail "unreachable: $out"
rc=0
out=$(timeout 60 "$cli" doctor --nope 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q 'unknown argument "--nope"' <<<"$out" || fail "doctor --nope: exit $rc: $out"
echo "ok: an unreachable API server and an unknown argument exit 2, saying so"

# A deleted member comes back under its name with a new IP (the StatefulSet controller; the
# kubelet never reuses an address).
old_ip=$(kc -n esdb get pod esdb-1 -o jsonpath='{.status.podIP}')
kc -n esdb delete pod esdb-1 --timeout=120s >/dev/null || fail "kubectl delete pod esdb-1 failed"
back_with_new_ip() {
  local ip
  ip=$(kc -n esdb get pod esdb-1 -o jsonpath='{.status.podIP}')
  [ -n "$ip" ] && [ "$ip" != "$old_ip" ] && all_ready
}
wait_for 120 "esdb-1 back and Ready with a new IP (was $old_ip)" back_with_new_ip
wait_for 60 "every member lists three alive members again" three_alive_everywhere

# 1. The headless Service stops publishing not-ready addresses.
kc -n esdb patch service esdb -p '{"spec":{"publishNotReadyAddresses":false}}' >/dev/null
doctor
expect_one service.publish-not-ready error 1
[ "$(with service.publish-not-ready | jq -r .why)" = "DNS and EndpointSlices list only Ready pods, so members cannot find each other to become Ready" ] ||
  fail "publish-not-ready why: $(with service.publish-not-ready)"
echo "ok: publishNotReadyAddresses false: service.publish-not-ready, exit 1"
kc -n esdb patch service esdb -p '{"spec":{"publishNotReadyAddresses":true}}' >/dev/null

# 2. The PodDisruptionBudget is deleted: a warning, so the exit code stays 0.
kc -n esdb delete pdb esdb >/dev/null
doctor
expect_one pdb.missing warning 0
echo "ok: no PodDisruptionBudget: pdb.missing warning, exit 0"

# 3. The Role loses its statefulsets rule; the real authorizer sees it within moments.
kc -n esdb patch role esk8s-discovery --type=json -p '[{"op":"remove","path":"/rules/2"}]' >/dev/null
rbac_reported() { doctor; [ -n "$(with rbac.missing)" ]; }
wait_for 15 "the doctor reports the missing permission" rbac_reported
expect_one rbac.missing error 1
[ "$(with rbac.missing | jq -r .message)" = 'system:serviceaccount:esdb:esdb cannot get statefulsets.apps in namespace "esdb"' ] ||
  fail "rbac.missing: $(with rbac.missing)"
with rbac.missing | jq -e '.fix | contains("rbac/role.yaml")' >/dev/null || fail "rbac.missing fix: $(with rbac.missing)"
echo "ok: the Role without its statefulsets rule: rbac.missing naming rbac/role.yaml"
apply_overlay # restores the Role and the PDB
rbac_restored() { doctor; [ -z "$(with rbac.missing)" ] && [ "$rc" = 0 ]; }
wait_for 15 "the overlay applied again: no error" rbac_restored

# 4. OrderedReady with ESK8S_READY_MODE=quorum: the startup deadlock. podManagementPolicy is
# immutable on a real API server, so the StatefulSet is recreated (its pods are orphaned and
# adopted again: they keep running).
if out=$(kc -n esdb patch statefulset esdb --type=merge -p '{"spec":{"podManagementPolicy":"OrderedReady"}}' 2>&1); then
  fail "the API server changed podManagementPolicy in place: $out"
fi
grep -q 'spec.podManagementPolicy: Invalid value: "OrderedReady": field is immutable' <<<"$out" || fail "refused, but not as immutable: $out"
echo "ok: podManagementPolicy cannot change in place (the real API server's immutability)"
recreate_statefulset() { # POLICY
  kc -n esdb delete statefulset esdb --cascade=orphan >/dev/null
  docs_of_kind StatefulSet <"$work/rendered.yaml" | sed "s/^  podManagementPolicy: .*/  podManagementPolicy: $1/" |
    kc apply -f - >/dev/null || fail "creating the StatefulSet with $1 failed"
}
recreate_statefulset OrderedReady
kc -n esdb patch configmap esk8s-config --type=merge -p '{"data":{"ESK8S_READY_MODE":"quorum"}}' >/dev/null
doctor
expect_one statefulset.ordered-ready-quorum error 1
with statefulset.ordered-ready-quorum | jq -e '.why | contains("kubernetes#38418")' >/dev/null ||
  fail "ordered-ready-quorum why: $(with statefulset.ordered-ready-quorum)"
[ -z "$(with rbac.missing)" ] || fail "rbac.missing while the Role is whole: $(with rbac.missing)"
echo "ok: OrderedReady with ESK8S_READY_MODE=quorum: statefulset.ordered-ready-quorum, exit 1"
recreate_statefulset Parallel
apply_overlay
doctor
[ "$rc" = 0 ] || { errors >&2; fail "after restoring the overlay the doctor exits $rc"; }
wait_for 60 "the adopted members are all Ready" all_ready

# 5. A fourth replica on three Nodes: required anti-affinity leaves it Pending, and the doctor
# says why (the scheduler's PodScheduled condition) and what to do.
kc -n esdb scale statefulset esdb --replicas=4 >/dev/null
unschedulable() {
  [ "$(kc -n esdb get pod esdb-3 -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}')" = Unschedulable ]
}
wait_for 60 "esdb-3 Pending, PodScheduled False/Unschedulable" unschedulable
doctor
expect_one pods.unschedulable error 1
finding=$(with pods.unschedulable)
[ "$(jq -r .object <<<"$finding")" = "Pod esdb/esdb-3" ] || fail "pods.unschedulable object: $finding"
jq -e '.message | startswith("pod esdb-3 is Pending: the scheduler cannot place it (Unschedulable): 0/3 nodes are available")' <<<"$finding" >/dev/null ||
  fail "pods.unschedulable message: $finding"
jq -e '.message | contains("didn'"'"'t match pod anti-affinity rules")' <<<"$finding" >/dev/null || fail "no anti-affinity reason: $finding"
jq -e '(.fix | contains("add a node")) and (.fix | contains("reduce spec.replicas")) and (.fix | contains("relax the anti-affinity"))' \
  <<<"$finding" >/dev/null || fail "pods.unschedulable fix: $finding"
echo "ok: the fourth replica Pending: $(jq -r .message <<<"$finding")"
timeout 120 "$cli" doctor --kubeconfig "$state/kubeconfig" --namespace esdb 2>/dev/null | sed -n '/pods.unschedulable/,/fix:/p' || true

stop
echo "PASS: manifests.doctor_names_each_pitfall_of_a_live_deployment ($((SECONDS - test_start)) s)"
