#!/usr/bin/env bash
# cluster.multi_namespace_members_take_one_disruption_at_a_time: the documented multi-namespace
# deployment (examples/kubernetes/overlays/multi-namespace: esdb-0 and esdb-1 in esdb-a, esdb-0 in
# esdb-b, one cluster of three) on esk8s-cluster with the real kubectl. No PodDisruptionBudget
# spans the two namespaces; the disruption guard (ESK8S_DISRUPTION_LEASE, a Lease in esdb-a)
# serialises disruptions across them:
#   - the three members become Ready and each lists three alive;
#   - the preStop question asked of esdb-a/esdb-0 and esdb-b/esdb-0 at the same instant is
#     answered 200 for exactly one of them;
#   - deleting one member in each namespace at the same moment never leaves the third
#     (esdb-a/esdb-1) with fewer than two members alive, both come back, and the Lease ends free.
#
#   netns-run multi_namespace_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR ESK8S_CLI SOURCE_DIR
#   (exit 77: skipped, binary or kubectl missing)
set -euo pipefail

bin=${1:?usage: multi_namespace_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR ESK8S_CLI SOURCE_DIR}
node_dir=${2:?} cli=${3:?} src=${4:?}
source "$(dirname "$0")/lib.sh"
[ -n "${ESK8S_NETNS:-}" ] || fail "run through tests/cluster/netns-run: pods get addresses of 10.244.0.0/16"

test_start=$SECONDS
start --pod-path "$node_dir"

# As the overlay's kustomization.yaml says: both namespaces, the same CA in each.
"$cli" cert create-ca --out "$work/ca" >/dev/null
for ns in esdb-a esdb-b; do
  kc create namespace "$ns" >/dev/null
  kc -n "$ns" create secret generic esk8s-ca --from-file="$work/ca/ca.crt" --from-file="$work/ca/ca.key" >/dev/null
done
ssd_class
kc apply -k "$src/examples/kubernetes/overlays/multi-namespace" >/dev/null

all_ready() {
  kc -n esdb-a wait --for=condition=Ready pod/esdb-0 pod/esdb-1 --timeout=2s >/dev/null &&
    kc -n esdb-b wait --for=condition=Ready pod/esdb-0 --timeout=2s >/dev/null
}
wait_for ${ESK8S_READY_WAIT:-180} "three members Ready in two namespaces" all_ready

ip_of() { kc -n "$1" get pod "$2" -o jsonpath='{.status.podIP}'; }
three_alive_everywhere() {
  local ip
  for ip in $(ip_of esdb-a esdb-0) $(ip_of esdb-a esdb-1) $(ip_of esdb-b esdb-0); do
    [ "$(alive_members "$ip")" = 3 ] || return 1
  done
}
wait_for 90 "every member lists three alive members" three_alive_everywhere
echo "ok: three members in two namespaces, each lists three alive"

# Two preStop hooks asking in the same instant: exactly one is approved.
a=$(ip_of esdb-a esdb-0) b=$(ip_of esdb-b esdb-0)
disruptable() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$1:2115/health/disruptable"; }
approved=0
for _ in $(seq 20); do
  # (wait for these two only: esk8s-cluster is a background job too)
  disruptable "$a" >"$work/a.code" & pa=$!
  disruptable "$b" >"$work/b.code" & pb=$!
  wait "$pa" "$pb" || true
  approved=$(( $(cat "$work/a.code") == 200 ? 1 : 0 ))
  approved=$(( approved + ($(cat "$work/b.code") == 200 ? 1 : 0) ))
  [ "$approved" = 0 ] || break
  sleep 0.5
done
[ "$approved" = 1 ] || fail "asked together, $approved of esdb-a/esdb-0 and esdb-b/esdb-0 were approved, want 1: $(curl -s --max-time 2 "http://$a:2115/health/disruptable") $(curl -s --max-time 2 "http://$b:2115/health/disruptable")"
echo "ok: asked together, one of esdb-a/esdb-0 and esdb-b/esdb-0 is approved; the other: $(curl -s --max-time 2 "http://$([ "$(cat "$work/a.code")" = 200 ] && echo "$b" || echo "$a"):2115/health/disruptable" | jq -c '{reason, guard}')"

# One member deleted in each namespace at the same moment.
third=$(ip_of esdb-a esdb-1)
uid_a=$(kc -n esdb-a get pod esdb-0 -o jsonpath='{.metadata.uid}')
uid_b=$(kc -n esdb-b get pod esdb-0 -o jsonpath='{.metadata.uid}')
kc -n esdb-a delete pod esdb-0 --wait=false >/dev/null & pa=$!
kc -n esdb-b delete pod esdb-0 --wait=false >/dev/null & pb=$!
wait "$pa" "$pb" || fail "kubectl delete failed"
fewest=3
replaced() {
  local n
  n=$(alive_members "$third" || true)
  if [ -n "$n" ] && [ "$n" -lt "$fewest" ]; then fewest=$n; fi
  [ "$(kc -n esdb-a get pod esdb-0 -o jsonpath='{.metadata.uid}' 2>/dev/null)" != "$uid_a" ] &&
    [ "$(kc -n esdb-b get pod esdb-0 -o jsonpath='{.metadata.uid}' 2>/dev/null)" != "$uid_b" ] &&
    all_ready && three_alive_everywhere
}
deadline=$((SECONDS + 240))
until replaced; do
  [ $SECONDS -lt $deadline ] || fail "the two deleted members were not back with three alive after 240 s"
  sleep 0.2
done
[ "$fewest" -ge 2 ] || fail "esdb-a/esdb-1 saw $fewest member(s) alive while the two were replaced"
echo "ok: deleted together in two namespaces, they left one at a time (esdb-a/esdb-1 saw at least $fewest alive)"

lease_free() {
  [ -z "$(kc -n esdb-a get lease esk8s-disruption-esdb -o jsonpath='{.spec.holderIdentity}')" ]
}
wait_for 30 "the returning members free the disruption guard's Lease" lease_free
echo "ok: the Lease esdb-a/esk8s-disruption-esdb is free again"

stop
echo "PASS: cluster.multi_namespace_members_take_one_disruption_at_a_time ($((SECONDS - test_start)) s)"
