#!/usr/bin/env bash
# cluster.control_plane_serves_kubectl: esk8s-cluster (the real kube-apiserver, controllers and
# scheduler on an embedded etcd) starts in a temporary state directory and the real kubectl
# works against it: /readyz; a namespace, a headless Service, a 3-replica OrderedReady
# StatefulSet (only web-0 is created while it is not Ready: it runs with --nodes 0, no kubelet), its pod
# admitted with a bound service-account token volume and left Pending by the scheduler, the
# EndpointSlice and kube-root-ca.crt controllers, a PodDisruptionBudget with status from the
# disruption controller, real RBAC (a service account and a token user are refused), and
# `kubectl diff` / `--dry-run=server` that write nothing. SIGTERM stops it with no process left;
# a second run on the same directory finds the objects again, and --delete-state cleans up.
#
#   control_plane_test.sh ESK8S_CLUSTER_BINARY      (exit 77: skipped, binary or kubectl missing)
set -euo pipefail

bin=${1:?usage: control_plane_test.sh ESK8S_CLUSTER_BINARY}

source "$(dirname "$0")/lib.sh"

test_start=$SECONDS
start --user tester --nodes 0
[[ "$url" == https://127.0.0.1:* ]] || fail "ready URL '$url' is not https://127.0.0.1:PORT"

[ "$(kc get --raw /readyz)" = ok ] || fail "/readyz did not answer ok"
echo "ok: /readyz"
kc version -o json | grep -q '"gitVersion": "v1.37' || fail "the server is not v1.37: $(kc version 2>&1)"

kc create namespace t >/dev/null
cat >"$work/app.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: t}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: t}
spec:
  serviceName: web
  replicas: 3
  podManagementPolicy: OrderedReady
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.invalid/no-kubelet-runs-this:1
        readinessProbe: {httpGet: {path: /, port: 80}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: t}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
EOF
kc apply -f "$work/app.yaml" >/dev/null

pods() { kc -n t get pods -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}'; }
has_web0() { [ "$(pods)" = "web-0 " ]; }
wait_for 60 "the statefulset controller created web-0" has_web0
owner=$(kc -n t get pod web-0 -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')
[ "$owner" = StatefulSet/web ] || fail "web-0 is owned by '$owner'"
[ "$(kc -n t get pod web-0 -o jsonpath='{.spec.hostname}.{.spec.subdomain}')" = web-0.web ] ||
  fail "web-0 has no hostname/subdomain from serviceName"
# Admission: the ServiceAccount plugin mounted a bound token (projected kube-api-access-* volume).
kc -n t get pod web-0 -o jsonpath='{.spec.volumes[*].name}' | grep -q kube-api-access- ||
  fail "web-0 has no kube-api-access volume: $(kc -n t get pod web-0 -o jsonpath='{.spec.volumes}')"

unschedulable() {
  [ "$(kc -n t get pod web-0 -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}')" = Unschedulable ]
}
wait_for 60 "the scheduler reports web-0 Unschedulable (no Nodes)" unschedulable

# With an integer minAvailable the real controller expects the pods that exist (1), not the
# StatefulSet's replicas.
pdb_status() {
  [ "$(kc -n t get pdb web -o jsonpath='{.status.observedGeneration} {.status.expectedPods} {.status.desiredHealthy} {.status.currentHealthy} {.status.disruptionsAllowed} {.status.conditions[?(@.type=="DisruptionAllowed")].reason}')" = "1 1 2 0 0 InsufficientPods" ]
}
wait_for 60 "the disruption controller wrote the PDB status (expected 1, desired 2, healthy 0, allowed 0, InsufficientPods)" pdb_status

slice() { kc -n t get endpointslices -l kubernetes.io/service-name=web -o name | grep -q .; }
wait_for 60 "the endpointslice controller created the Service's EndpointSlice" slice
root_ca() { kc -n t get configmap kube-root-ca.crt -o jsonpath='{.data.ca\.crt}' | grep -q 'BEGIN CERTIFICATE'; }
wait_for 60 "the root-ca-cert-publisher wrote kube-root-ca.crt" root_ca

# OrderedReady: web-1 must not appear while web-0 is not Ready.
sleep 5
[ "$(pods)" = "web-0 " ] || fail "OrderedReady broken: pods are '$(pods)' while web-0 is not Ready"
echo "ok: still only web-0 after 5 s (OrderedReady)"

# RBAC is real: a service account with no binding and a token user are refused; admin is not.
answer=$(kc auth can-i --as=system:serviceaccount:default:nobody list pods 2>&1 || true)
[ "$answer" = no ] || fail "auth can-i as an unbound service account said '$answer'"
[ "$(kc auth can-i list pods 2>&1 || true)" = yes ] || fail "admin may not list pods"
echo "ok: auth can-i --as=system:serviceaccount:default:nobody list pods: no"
denied=$(timeout 60 kubectl --kubeconfig "$state/users/tester.kubeconfig" --cache-dir "$work/kube-cache/tester" \
  -n t get pods 2>&1 || true)
[[ "$denied" == *'User "tester" cannot list resource "pods" in API group "" in the namespace "t"'* ]] ||
  fail "the token user tester was not refused: $denied"
echo "ok: the static-token user tester is refused by RBAC"

# kubectl diff and --dry-run=server write nothing.
rv_before=$(kc -n t get statefulset web -o jsonpath='{.metadata.resourceVersion}')
sed 's/replicas: 3/replicas: 5/' "$work/app.yaml" >"$work/app5.yaml"
diff_code=0
kc diff -f "$work/app5.yaml" >"$work/diff.out" 2>&1 || diff_code=$?
[ "$diff_code" -eq 1 ] || fail "kubectl diff exited $diff_code: $(cat "$work/diff.out")"
grep -q '^+  replicas: 5' "$work/diff.out" || fail "kubectl diff did not show replicas 5: $(cat "$work/diff.out")"
kc apply --dry-run=server -f "$work/app5.yaml" >/dev/null
[ "$(kc -n t get statefulset web -o jsonpath='{.spec.replicas} {.metadata.resourceVersion}')" = "3 $rv_before" ] ||
  fail "kubectl diff or --dry-run=server changed the StatefulSet"
echo "ok: kubectl diff and apply --dry-run=server wrote nothing"

stop

# The state directory is kept: a second run serves the same objects, and --delete-state cleans.
start --user tester --nodes 0 --delete-state
kc -n t get statefulset web -o name >/dev/null || fail "the StatefulSet is gone after a restart on the same state dir"
echo "ok: restart on the same state directory keeps the objects"
stop
[ ! -e "$state" ] || fail "--delete-state left: $(ls -A "$state")"
echo "ok: --delete-state removed the state directory"

echo "PASS: cluster.control_plane_serves_kubectl ($((SECONDS - test_start)) s)"
