#!/usr/bin/env bash
# cluster.helm_chart_installs_upgrades_tests_and_uninstalls_on_the_real_control_plane: the chart
# with the real helm on esk8s-cluster (the real apiserver and controllers, the process kubelet
# running esk8s-node members on three Nodes):
#   - every case of tests/helm/values renders objects the real API server accepts
#     (kubectl apply --dry-run=server --validate=strict; without the test hook, whose Pod
#     admission refuses before its ServiceAccount exists: `helm test` below creates it for real);
#   - `helm install` (--wait=watcher) of the defaults: three members Ready on three Nodes, each
#     listing three alive members;
#   - `helm test --logs` runs `esk8s doctor` in a pod of the cluster and passes, printing its
#     report;
#     after `helm upgrade --set pdb.maxUnavailable=2` (a budget that lets a majority go) it
#     fails, naming pdb.too-permissive;
#   - `helm upgrade` with the budget back and one more ESK8S_* setting rolls the members (the
#     config checksum), the rollout completes with three Ready members listing three alive,
#     the new setting in the ConfigMap, and `helm test` passes again;
#   - `helm upgrade` of podManagementPolicy or storage.size fails: the API server says the field
#     is immutable (docs/OPERATIONS.md says so);
#   - `helm uninstall` leaves nothing of the release: no objects labelled with it, no pods, no
#     test hook objects, no release record; the data claims stay (the StatefulSet's, not the
#     release's, as with kubectl delete -k).
#
#   netns-run install_test.sh ESK8S_CLUSTER_BINARY HELM ESK8S_NODE_DIR ESK8S_CLI REPO_ROOT
#   (exit 77: skipped, esk8s-cluster or helm not built, or kubectl missing)
set -euo pipefail
bin=${1:?usage: install_test.sh ESK8S_CLUSTER_BINARY HELM ESK8S_NODE_DIR ESK8S_CLI REPO_ROOT}
helm=${2:?} node_dir=${3:?} cli=${4:?} root=${5:?}
source "$root/tests/cluster/lib.sh"
source "$root/tests/helm/lib.sh"
[ -n "${ESK8S_NETNS:-}" ] || fail "run through tests/cluster/netns-run: pods get addresses of 10.244.0.0/16"
command -v jq >/dev/null || fail "jq is not installed (scripts/setup installs it)"

test_start=$SECONDS
# The members run esk8s-node, the test hook the esk8s CLI: both directories are searched for
# container commands.
start --pod-path "$node_dir" --pod-path "$(dirname "$cli")" --crashloop-backoff-scale 0.1
h() { timeout 300 "$helm" --kubeconfig "$state/kubeconfig" "$@"; }

"$cli" cert create-ca --out "$work/ca" >/dev/null
for ns in esdb esdb-a esdb-b; do kc create namespace $ns >/dev/null; done
kc -n esdb create secret generic esk8s-ca --from-file="$work/ca/ca.crt" --from-file="$work/ca/ca.key" >/dev/null
ssd_class
kc apply -f "$root/tests/manifests/cert-manager-crds.yaml" >/dev/null || fail "cert-manager CRDs"
kc wait --for=condition=Established crd/issuers.cert-manager.io --timeout=30s >/dev/null

for c in $(cases); do
  template "$c" --skip-tests >"$work/$c.yaml" || fail "helm template of case $c failed"
  out=$(kc apply --dry-run=server --validate=strict -f "$work/$c.yaml" 2>&1) ||
    fail "the API server refused the chart with values/$c.yaml: $out"
done
echo "ok: the API server accepts the chart rendered with each of: $(cases | tr '\n' ' ')"

t0=$SECONDS
out=$(h install esdb "$chart" --namespace esdb --wait=watcher --timeout 240s 2>&1) || fail "helm install: $out"
echo "ok: helm install --wait=watcher ($((SECONDS - t0)) s)"

field() { kc -n esdb get "$@"; }
all_ready() { kc -n esdb wait --for=condition=Ready pod/esdb-0 pod/esdb-1 pod/esdb-2 --timeout=2s; }
three_alive_everywhere() {
  local ip
  for ip in $(field pods -l app.kubernetes.io/name=esdb -o jsonpath='{.items[*].status.podIP}'); do
    [ "$(alive_members "$ip")" = 3 ] || return 1
  done
}
wait_for 180 "three members Ready" all_ready
nodes=$(field pods -l app.kubernetes.io/name=esdb -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | wc -l)
[ "$nodes" -eq 3 ] || fail "members on $nodes Nodes, want 3"
wait_for 60 "every member lists three alive members" three_alive_everywhere

t0=$SECONDS
out=$(h test esdb --namespace esdb --logs --timeout 120s 2>&1) || fail "helm test of a healthy release failed: $out"
grep -q 'esk8s doctor: cluster of StatefulSet esdb/esdb: 3 member(s)' <<<"$out" ||
  fail "helm test passed without printing the doctor's report: $out"
echo "ok: helm test: esk8s doctor in the cluster finds no error ($((SECONDS - t0)) s)"
[ -z "$(kc -n esdb get pods,serviceaccounts,roles,rolebindings -l app.kubernetes.io/component=doctor -o name)" ] &&
  [ -z "$(kc -n esdb get serviceaccount,role,rolebinding esdb-doctor -o name --ignore-not-found)" ] ||
  fail "the passed test left its objects behind"
echo "ok: the passed test removed its pod, ServiceAccount, Role and RoleBinding"

out=$(h upgrade esdb "$chart" --namespace esdb --reuse-values --set pdb.maxUnavailable=2 2>&1) ||
  fail "helm upgrade --set pdb.maxUnavailable=2: $out"
[ "$(field pdb esdb -o jsonpath='{.spec.maxUnavailable}')" = 2 ] || fail "the upgrade did not change the PDB"
if out=$(h test esdb --namespace esdb --logs --timeout 120s 2>&1); then
  fail "helm test passed with a PodDisruptionBudget that lets two of three members go: $out"
fi
grep -q '^ERROR *pdb.too-permissive *PodDisruptionBudget esdb/esdb' <<<"$out" ||
  fail "helm test failed, but the report does not name pdb.too-permissive: $out"
echo "ok: helm test fails on a budget of 2 of 3, the report says: $(grep -A1 '^ERROR *pdb.too-permissive' <<<"$out" | tr -s ' ' | tr '\n' ' ')"

before=$(field statefulset esdb -o jsonpath='{.status.currentRevision}')
t0=$SECONDS
out=$(h upgrade esdb "$chart" --namespace esdb --reuse-values --set pdb.maxUnavailable=1 \
  --set-string extraConfig.ESK8S_TLS_VALIDITY_HOURS=168 2>&1) || fail "helm upgrade: $out"
rolled() {
  local s
  s=$(field statefulset esdb -o json)
  jq -e --arg before "$before" '.status.updateRevision != $before and
    .status.currentRevision == .status.updateRevision and .status.updatedReplicas == 3 and
    .status.readyReplicas == 3 and .status.observedGeneration == .metadata.generation' <<<"$s"
}
wait_for 300 "helm upgrade: the rolling update to the new config completes" rolled
wait_for 60 "three members Ready after the upgrade" all_ready
wait_for 60 "every member lists three alive members after the upgrade" three_alive_everywhere
echo "ok: helm upgrade rolled the members in $((SECONDS - t0)) s"
[ "$(field configmap esk8s-config -o jsonpath='{.data.ESK8S_TLS_VALIDITY_HOURS}')" = 168 ] ||
  fail "the ConfigMap lacks the upgraded setting"
[ "$(h history esdb --namespace esdb -o json | jq length)" = 3 ] || fail "release history is not 3 revisions"
out=$(h test esdb --namespace esdb --logs --timeout 120s 2>&1) || fail "helm test after the upgrade failed: $out"
echo "ok: helm test passes again after the upgrade"
# The failed test's pod stayed for `kubectl logs`; this passed run replaced and removed it.
[ -z "$(kc -n esdb get pod esdb-doctor -o name --ignore-not-found)" ] || fail "the test pod is still there"

# What docs/OPERATIONS.md says an upgrade cannot change: the API server refuses, naming it.
for change in podManagementPolicy=OrderedReady storage.size=20Gi; do
  if out=$(h upgrade esdb "$chart" --namespace esdb --reuse-values --set "$change" 2>&1); then
    fail "helm upgrade --set $change succeeded"
  fi
  why=$(grep -o 'field is immutable\|Forbidden: updates to statefulset spec' <<<"$out" | head -n 1) ||
    fail "helm upgrade --set $change failed, but not as immutable: $out"
  echo "ok: helm upgrade --set $change fails: $why"
done
[ "$(field statefulset esdb -o jsonpath='{.spec.podManagementPolicy}')" = Parallel ] || fail "policy changed"

t0=$SECONDS
out=$(h uninstall esdb --namespace esdb --wait --timeout 240s 2>&1) || fail "helm uninstall: $out"
no_pods() { [ -z "$(field pods -o name)" ]; }
wait_for 180 "every pod of the release gone" no_pods
echo "ok: helm uninstall ($((SECONDS - t0)) s)"
left=$(kc get statefulsets,services,configmaps,poddisruptionbudgets,serviceaccounts,roles,rolebindings,pods,issuers.cert-manager.io \
  -A -l app.kubernetes.io/instance=esdb -o name)
[ -z "$left" ] || fail "objects of the release left after helm uninstall: $left"
left=$(kc get clusterroles,clusterrolebindings -l app.kubernetes.io/instance=esdb -o name)
[ -z "$left" ] || fail "cluster objects of the release left: $left"
[ -z "$(field secrets -l owner=helm -o name)" ] || fail "the release record is still there"
[ -z "$(h list --namespace esdb -q)" ] || fail "helm list still shows the release"
[ "$(field pvc -o jsonpath='{.items[*].status.phase}')" = "Bound Bound Bound" ] ||
  fail "the data claims changed: $(field pvc)"
echo "ok: nothing of the release is left; the three data claims stay, as after kubectl delete -k"

stop
echo "PASS: cluster.helm_chart_installs_upgrades_tests_and_uninstalls_on_the_real_control_plane ($((SECONDS - test_start)) s)"
