#!/usr/bin/env bash
# `esk8s doctor` on an overlay (issue 18), on esk8s-cluster (the real control plane, three Nodes of
# the process kubelet): applied with the prerequisites its kustomization.yaml documents and the
# SSD StorageClass the base asks for (fast-ssd, from the local provisioner), the documented
# deployment has no error finding. Where the members can run here (multi-namespace, and
# kubernetes-csr with esk8s-cluster's --csr-signer esk8s.io/node approving and signing) the doctor
# runs once they are Ready and each member sees every member alive, so the live /members checks
# run too. It is given each namespace of the overlay ALONE: the other namespaces of a cluster must
# come from the members' ESK8S_PEER_NAMESPACES, and the cluster be judged whole (the
# multi-namespace overlay once got "set ESK8S_CLUSTER_SIZE=1").
# The members cannot run in two overlays: cert-manager needs its CSI driver and dns-discovery a
# cluster DNS. Their pods start no process (an empty --pod-path, so their containers
# wait in StartError back-off): the doctor checks the objects and the scheduled pods, and says
# that it cannot reach their /members (info).
# usage: netns-run doctor_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR REPO_ROOT ESK8S_CLI OVERLAY
#          [FIXTURE...]    (exit 77: skipped, binary or kubectl missing)
set -euo pipefail
bin=${1:?usage: doctor_test.sh ESK8S_CLUSTER_BINARY ESK8S_NODE_DIR REPO_ROOT ESK8S_CLI OVERLAY [FIXTURE...]}
node_dir=${2:?} root=${3:?} cli=${4:?} overlay=${5:?}
shift 5
source "$(dirname "$0")/lib.sh"
require jq curl
require_netns

test_start=$SECONDS
case $overlay in
  cert-manager | dns-discovery)
    runs=false
    mkdir "$work/no-bin"
    cluster_flags="--pod-path $work/no-bin"
    ;;
  kubernetes-csr)
    runs=true
    cluster_flags="--pod-path $node_dir --crashloop-backoff-scale 0.1 --csr-signer esk8s.io/node"
    ;;
  *)
    runs=true
    cluster_flags="--pod-path $node_dir --crashloop-backoff-scale 0.1"
    ;;
esac
start_with_overlay "$root" "$overlay" "$@"
create_prerequisites "$cli" "$work/rendered.yaml" "$work" "${namespaces[@]}"
ssd_class
kc apply -f "$work/rendered.yaml" >/dev/null || fail "kubectl apply of overlay $overlay failed"

members=0
for replicas in $(docs_of_kind StatefulSet <"$work/rendered.yaml" | sed -n 's/^  replicas: //p'); do
  members=$((members + replicas))
done
# pods: "namespace/name podIP ready" for every pod of the overlay.
pods() {
  local ns
  for ns in "${namespaces[@]}"; do
    kc -n "$ns" get pods -o json | jq -r '.items[] | [.metadata.namespace + "/" + .metadata.name,
      .status.podIP // "-", (any(.status.conditions[]?; .type == "Ready" and .status == "True") | tostring)]
      | join(" ")'
  done
}
# What the doctor needs of the pods: Ready members (they run), or scheduled ones (they cannot).
if $runs; then
  all_ready() { [ "$(pods | grep -c ' true$' || true)" = "$members" ]; }
  wait_for 180 "overlay $overlay: $members members Ready" all_ready
  alive_everywhere() {
    local pod ip alive
    while read -r pod ip _; do
      alive=$(curl -s --max-time 2 "http://$ip:2115/members" | jq '[.members[] | select(.state == "alive")] | length')
      [ "$alive" = "$members" ] || return 1
    done < <(pods)
  }
  wait_for 60 "overlay $overlay: every member sees $members members alive" alive_everywhere
else
  all_scheduled() {
    local ns n=0
    for ns in "${namespaces[@]}"; do
      n=$((n + $(kc -n "$ns" get pods -o json | jq '[.items[] | select(.spec.nodeName != null)] | length')))
    done
    [ "$n" = "$members" ]
  }
  wait_for 120 "overlay $overlay: $members pods scheduled (claims bound, one per Node)" all_scheduled
fi

for ns in "${namespaces[@]}"; do
  rc=0
  timeout 120 "$cli" doctor --kubeconfig "$state/kubeconfig" --namespace "$ns" --json >"$work/report.json" \
    2>"$work/progress" || rc=$?
  jq -e . "$work/report.json" >/dev/null || { cat "$work/report.json" "$work/progress" >&2; fail "no JSON report"; }
  errors=$(jq '.summary.errors' "$work/report.json")
  if [ "$rc" != 0 ] || [ "$errors" != 0 ]; then
    cat "$work/progress" >&2
    jq '.findings[] | select(.severity == "error")' "$work/report.json" >&2
    fail "overlay $overlay, doctor --namespace $ns: exit $rc with $errors error finding(s)"
  fi
  # The cluster is assembled from every namespace of the overlay, whichever one was given.
  for other in "${namespaces[@]}"; do
    jq -e --arg n "$other" '.summary.namespaces | index($n) != null' "$work/report.json" >/dev/null ||
      fail "overlay $overlay, doctor --namespace $ns did not read namespace $other"
  done
  if $runs; then
    jq -e '[.findings[] | select(.check | startswith("members."))] | length == 0' "$work/report.json" >/dev/null ||
      fail "overlay $overlay: the live checks found something: $(jq -c '.findings' "$work/report.json")"
  fi
  echo "ok: overlay $overlay, doctor --namespace $ns: no error ($(jq -r '[.findings[] |
    "\(.severity) \(.check)"] | join(", ") | if . == "" then "no findings" else . end' "$work/report.json"))"
done

stop
echo "PASS: doctor on overlay $overlay ($((SECONDS - test_start)) s)"
