#!/usr/bin/env bash
# cluster.esk8s_members_run_on_the_real_control_plane: the documented single-namespace deployment
# (examples/kubernetes/overlays/single-namespace, applied with the real kubectl) on esk8s-cluster:
# the real apiserver, StatefulSet, EndpointSlice, disruption and volume controllers and scheduler,
# with the process kubelet running three esk8s-node members on three Nodes.
#   - the claims bind through the local provisioner, the members land on three different Nodes
#     (required anti-affinity), become Ready and each lists three alive members;
#   - the EndpointSlice lists three ready endpoints; `kubectl logs` and `kubectl get events` show
#     the members;
#   - `kubectl drain` of a member's Node is allowed when all are Ready (the PDB allows one
#     disruption), the evicted member's replacement stays Pending (its Node is cordoned and
#     anti-affinity forbids the others), and draining a second Node meanwhile is refused by the
#     PodDisruptionBudget (eviction 429); after uncordoning, all three are Ready again;
#   - a fourth replica on three Nodes stays Pending with the scheduler's anti-affinity reason.
#
#   netns-run members_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR ESK8S_CLI SOURCE_DIR
#   (exit 77: skipped, binary or kubectl missing)
set -euo pipefail

bin=${1:?usage: members_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR ESK8S_CLI SOURCE_DIR}
node_dir=${2:?} cli=${3:?} src=${4:?}
source "$(dirname "$0")/lib.sh"
[ -n "${ESK8S_NETNS:-}" ] || fail "run through tests/cluster/netns-run: pods get addresses of 10.244.0.0/16"

test_start=$SECONDS
start --pod-path "$node_dir"
grep '^esk8s-cluster: 3 nodes ready' "$work/out.log" || fail "no '3 nodes ready' line"

"$cli" cert create-ca --out "$work/ca" >/dev/null
kc create namespace esdb >/dev/null
kc -n esdb create secret generic esk8s-ca --from-file="$work/ca/ca.crt" --from-file="$work/ca/ca.key" >/dev/null
ssd_class  # the base asks for an SSD class by name, as production clusters name theirs
kc apply -k "$src/examples/kubernetes/overlays/single-namespace" >/dev/null

all_ready() { kc -n esdb wait --for=condition=Ready pod/esdb-0 pod/esdb-1 pod/esdb-2 --timeout=2s; }
wait_for ${ESK8S_READY_WAIT:-180} "three members Ready" all_ready

field() { kc -n esdb get "$@"; }
nodes=$(field pods -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | wc -l)
[ "$nodes" -eq 3 ] || fail "members on $nodes Nodes, want 3: $(kc -n esdb get pods -o wide)"
echo "ok: one member per Node"
[ "$(field pvc -o jsonpath='{.items[*].status.phase}')" = "Bound Bound Bound" ] ||
  fail "claims not bound: $(kc -n esdb get pvc)"
echo "ok: three claims Bound to provisioned local volumes"

three_alive_everywhere() {
  local ip
  for ip in $(field pods -o jsonpath='{.items[*].status.podIP}'); do
    [ "$(alive_members "$ip")" = 3 ] || return 1
  done
}
wait_for 60 "every member lists three alive members" three_alive_everywhere

ready_endpoints() {
  kc -n esdb get endpointslices -l kubernetes.io/service-name=esdb -o json |
    jq '[.items[].endpoints // [] | .[] | select(.conditions.ready == true)] | length'
}
[ "$(ready_endpoints)" = 3 ] || fail "EndpointSlice ready endpoints: $(ready_endpoints), want 3"
echo "ok: the EndpointSlice controller lists three ready endpoints"

kc -n esdb logs esdb-0 | grep -q . || fail "kubectl logs esdb-0 printed nothing"
echo "ok: kubectl logs esdb-0: $(kc -n esdb logs esdb-0 --tail=1)"
started=$(kc -n esdb get events --field-selector reason=Started -o jsonpath='{range .items[*]}{.involvedObject.name}{"\n"}{end}' | sort -u | tr '\n' ' ')
[ "$started" = "esdb-0 esdb-1 esdb-2 " ] || fail "Started events for '$started', want esdb-0 esdb-1 esdb-2"
echo "ok: kubectl get events shows each member Started"

# Drain the Node of esdb-2: allowed (all Ready; the PDB allows one disruption).
node2=$(field pod esdb-2 -o jsonpath='{.spec.nodeName}')
node0=$(field pod esdb-0 -o jsonpath='{.spec.nodeName}')
out=$(kc drain "$node2" --ignore-daemonsets --delete-emptydir-data --timeout=150s 2>&1) ||
  fail "drain of $node2 with all members Ready failed: $out"
echo "ok: kubectl drain $node2 evicted esdb-2"
unschedulable() {
  [ "$(field pod esdb-2 -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}')" = Unschedulable ]
}
wait_for 60 "the replacement esdb-2 stays Pending (cordoned Node, anti-affinity)" unschedulable

# Meanwhile a second drain must be refused by the PodDisruptionBudget.
if out=$(kc drain "$node0" --ignore-daemonsets --delete-emptydir-data --timeout=15s 2>&1); then
  fail "drain of $node0 succeeded while esdb-2 was down: $out"
fi
grep -q "violate the pod's disruption budget" <<<"$out" || fail "drain refused, but not by the PDB: $out"
[ -z "$(field pod esdb-0 -o jsonpath='{.metadata.deletionTimestamp}')" ] || fail "esdb-0 is being deleted"
echo "ok: a second drain is refused by the PodDisruptionBudget (eviction 429) and esdb-0 keeps running"

kc uncordon "$node0" "$node2" >/dev/null
wait_for 180 "all three Ready again after uncordon" all_ready
wait_for 60 "every member lists three alive members again" three_alive_everywhere

# A fourth replica on three Nodes: required anti-affinity leaves it Pending, with the reason.
kc -n esdb scale statefulset esdb --replicas=4 >/dev/null
scheduler_said() {
  kc -n esdb get events --field-selector involvedObject.name=esdb-3,reason=FailedScheduling \
    -o jsonpath='{.items[*].message}' | grep -q "anti-affinity"
}
wait_for 60 "esdb-3 Pending: the scheduler names anti-affinity" scheduler_said
[ "$(field pod esdb-3 -o jsonpath='{.status.phase}')" = Pending ] || fail "esdb-3 is not Pending"
echo "ok: $(kc -n esdb get events --field-selector involvedObject.name=esdb-3,reason=FailedScheduling -o jsonpath='{.items[0].message}')"

stop
echo "PASS: cluster.esk8s_members_run_on_the_real_control_plane ($((SECONDS - test_start)) s)"
