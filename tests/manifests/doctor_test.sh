#!/usr/bin/env bash
# `esk8s doctor` on an overlay (issue 18): applied to kubesim with the prerequisites its
# kustomization.yaml documents and the SSD StorageClass the base asks for (fast-ssd), the
# documented deployment has no error finding. Where kubesim can run the members (not
# cert-manager: no CSI driver; not dns-discovery: no cluster DNS) the doctor runs once they are
# Ready, so the live /members checks run too. It is given each namespace of the overlay ALONE:
# the other namespaces of a cluster must come from the members' ESK8S_PEER_NAMESPACES, and the
# cluster be judged whole (the multi-namespace overlay once got "set ESK8S_CLUSTER_SIZE=1").
# usage: doctor_test.sh REPO_ROOT KUBESIM ESK8S_CLI OVERLAY [FIXTURE...]
set -euo pipefail
root=$1
kubesim=$2
cli=$3
overlay=$4
shift 4
source "$(dirname "$0")/lib.sh"
require_kubectl
command -v jq >/dev/null || fail "jq is not installed (scripts/setup installs it)"
work=$(mktemp -d)
trap 'stop_kubesim; rm -rf "$work"' EXIT

case $overlay in
  # kubesim cannot run these members (no CSI driver, no cluster DNS): members that cannot find
  # each other would be findings about kubesim. With an empty --bin-dir no member process
  # starts, and the doctor checks the objects.
  cert-manager | dns-discovery)
    mkdir "$work/no-bin"
    kubesim_flags="--bin-dir $work/no-bin"
    ;;
esac
start_with_overlay "$root" "$kubesim" "$overlay" "$@"
create_prerequisites "$cli" "$work/rendered.yaml" "$work" "${namespaces[@]}"
printf 'apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast-ssd\nprovisioner: kubesim/ssd\n' |
  kc apply -f - >/dev/null || fail "creating StorageClass fast-ssd failed"
kc apply -f "$work/rendered.yaml" >/dev/null || fail "kubectl apply of overlay $overlay failed"

case $overlay in
  cert-manager | dns-discovery) echo "kubesim runs no members of $overlay: the doctor checks the objects" ;;
  *)
    members=0
    for replicas in $(docs_of_kind StatefulSet <"$work/rendered.yaml" | sed -n 's/^  replicas: //p'); do
      members=$((members + replicas))
    done
    ready=0
    for _ in $(seq 90); do
      ready=0
      for ns in "${namespaces[@]}"; do
        n=$(kc -n "$ns" get pods -o json | jq '[.items[] | select(any(.status.conditions[]?;
              .type == "Ready" and .status == "True"))] | length')
        ready=$((ready + n))
      done
      [ "$ready" = "$members" ] && break
      sleep 1
    done
    [ "$ready" = "$members" ] || fail "overlay $overlay: $ready of $members members Ready after 90 s"
    ;;
esac

for ns in "${namespaces[@]}"; do
  rc=0
  timeout 120 "$cli" doctor --kubeconfig "$kubeconfig" --namespace "$ns" --json >"$work/report.json" \
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
  echo "ok  overlay $overlay, doctor --namespace $ns: no error ($(jq -r '[.findings[] |
    "\(.severity) \(.check)"] | join(", ") | if . == "" then "no findings" else . end' "$work/report.json"))"
done
