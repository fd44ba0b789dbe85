#!/usr/bin/env bash
# The RBAC of the overlays against the plugin's own RBAC self-check (`esk8s discover`), run as the
# members' service account (a bound token from the TokenRequest API) on esk8s-cluster, whose real
# RBAC authorizer answers the self-check's SelfSubjectAccessReviews:
#  1. the single-namespace overlay's rendered RBAC (rbac/role.yaml) passes the check, which asks
#     for exactly list+watch endpointslices, get pods and get statefulsets in the namespace;
#  2. with any one verb of any one resource removed from the Role, the check fails and names
#     exactly that verb and resource -- except the Events rule (create/patch events.events.k8s.io,
#     ESK8S_EVENTS): without it the check passes and a warning names it, as nothing but the
#     Events depends on it;
#  3. the same for the kubernetes-csr overlay's ClusterRole (rbac/csr.yaml) with
#     ESK8S_TLS_MODE=kubernetes-csr, which also asks for create/get/watch
#     certificatesigningrequests.
# The real authorizer reads Roles and bindings from its informers, so a change reaches it within
# moments, not at once: each expectation is retried for up to 15 s.
# usage: rbac_selfcheck_test.sh ESK8S_CLUSTER_BINARY REPO_ROOT ESK8S_CLI
#   (exit 77: skipped, binary or kubectl missing)
set -euo pipefail
bin=${1:?usage: rbac_selfcheck_test.sh ESK8S_CLUSTER_BINARY REPO_ROOT ESK8S_CLI}
root=${2:?} cli=${3:?}
source "$(dirname "$0")/lib.sh"
require jq

test_start=$SECONDS
start --nodes 0
ns=esdb

# The self-check with nothing but the given ESK8S_* settings; its JSON report in $work/report.json.
self_check() {
  local rc=0
  env -i PATH="$PATH" HOME="$work" "$@" timeout 60 "$cli" discover --service esdb --namespace "$ns" \
    --kubeconfig "$work/sa.kubeconfig" --json >"$work/report.json" 2>"$work/report.err" || rc=$?
  jq -e . "$work/report.json" >/dev/null || {
    cat "$work/report.json" "$work/report.err" >&2
    fail "esk8s discover printed no JSON report"
  }
  jq -e '[.rbac[] | select(.error != "")] | length == 0' "$work/report.json" >/dev/null || {
    cat "$work/report.json" >&2
    fail "the RBAC self-check could not run"
  }
  return $rc
}
missing() { jq -r '[.rbac[] | select(.allowed | not) | "\(.verb) \(.resource)"] | sort | join(", ")' "$work/report.json"; }
checked() { jq -r '[.rbac[] | "\(.verb) \(.resource)"] | sort | join(", ")' "$work/report.json"; }

# expect_pass DESCRIPTION CHECKS [ENV...]: the self-check passes (within 15 s: RBAC changes reach
# the authorizer through its informers) and asked for exactly CHECKS.
expect_pass() {
  local what=$1 want=$2 t0=$SECONDS
  shift 2
  until self_check "$@"; do
    [ $((SECONDS - t0)) -lt 15 ] ||
      { cat "$work/report.json" >&2; fail "$what: the self-check failed (missing: $(missing))"; }
    sleep 0.5
  done
  [ "$(checked)" = "$want" ] || fail "$what: the self-check asked for [$(checked)], expected [$want]"
  echo "ok  $what: passes, checking $want"
}

# expect_missing DESCRIPTION "VERB RESOURCE[, ...]" [ENV...]: the self-check fails and names exactly
# these permissions, each in a problem sentence.
# (within 15 s, as above).
expect_missing() {
  local what=$1 want=$2 t0=$SECONDS
  shift 2
  until ! self_check "$@" && [ "$(missing)" = "$want" ]; do
    [ $((SECONDS - t0)) -lt 15 ] || {
      cat "$work/report.json" >&2
      fail "$what: the self-check names [$(missing)] as missing, expected [$want]"
    }
    sleep 0.5
  done
  local item
  while read -r item; do
    jq -e --arg p "cannot $item " 'any(.problems[]; startswith($p))' "$work/report.json" >/dev/null ||
      fail "$what: no problem sentence starts with \"cannot $item\""
  done < <(tr ',' '\n' <<<"$want" | sed 's/^ //')
  echo "ok  $what: fails naming $want"
}

# expect_warned DESCRIPTION "VERB RESOURCE" [ENV...]: the self-check passes, reports exactly this
# permission as not allowed, and a warning names it (within 15 s, as above).
expect_warned() {
  local what=$1 want=$2 t0=$SECONDS
  shift 2
  until self_check "$@" && [ "$(missing)" = "$want" ]; do
    [ $((SECONDS - t0)) -lt 15 ] || {
      cat "$work/report.json" >&2
      fail "$what: expected a passing self-check warning about [$want], got missing [$(missing)]"
    }
    sleep 0.5
  done
  jq -e --arg p "cannot $want " 'any(.warnings[]; startswith($p))' "$work/report.json" >/dev/null ||
    fail "$what: no warning starts with \"cannot $want\""
  echo "ok  $what: passes with a warning naming $want"
}

# each_rule_removed KIND NAME NS_FLAGS ENV...: for every verb of every resource of the role, replace
# it without that one permission and expect exactly it to be reported missing; then restore.
each_rule_removed() {
  local kind=$1 name=$2 ns_flags=$3
  shift 3
  # shellcheck disable=SC2086 # ns_flags is "" or "-n NS"
  kc get $ns_flags "$kind" "$name" -o json |
    jq 'del(.metadata.resourceVersion, .metadata.uid, .metadata.creationTimestamp)' >"$work/original.json"
  local i group resource verb expected
  while read -r i group resource verb; do
    [ "$group" = "-" ] && group=""
    expected="$verb $resource${group:+.$group}"
    # Split the resource out of its rule, then drop the verb from it.
    jq --argjson i "$i" --arg r "$resource" --arg v "$verb" '
      .rules |= [to_entries[] | if .key == $i then
                   (.value | select((.resources - [$r]) | length > 0) | .resources -= [$r]),
                   (.value | .resources = [$r] | .verbs -= [$v] | select(.verbs | length > 0))
                 else .value end]' "$work/original.json" >"$work/reduced.json"
    kc replace -f "$work/reduced.json" >/dev/null || fail "replacing $kind $name failed"
    if [ "$resource" = events ]; then
      expect_warned "$kind $name without $expected" "$expected" "$@"
    else
      expect_missing "$kind $name without $expected" "$expected" "$@"
    fi
  done < <(jq -r '.rules | to_entries[] | .key as $i | .value as $rule |
                  if ($rule.apiGroups | length) != 1 then error("one apiGroup per rule expected")
                  else $rule.resources[] as $res | $rule.verbs[] |
                    "\($i) \(if $rule.apiGroups[0] == "" then "-" else $rule.apiGroups[0] end) \($res) \(.)"
                  end' "$work/original.json")
  kc replace -f "$work/original.json" >/dev/null || fail "restoring $kind $name failed"
}

overlay() { render "$root/examples/kubernetes/overlays/$1" || fail "kubectl kustomize $1 failed"; }

# 1 and 2: the single-namespace overlay's RBAC, rendered.
overlay single-namespace | docs_of_kind Namespace ServiceAccount Role RoleBinding >"$work/rbac.yaml"
kc apply -f "$work/rbac.yaml" >/dev/null || fail "applying the single-namespace RBAC failed"
# The members' view: a kubeconfig with a bound token of the service account, as a pod gets it.
kc -n "$ns" create token esdb --duration=1h >"$work/token" || fail "kubectl create token failed"
cat >"$work/sa.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: esk8s-cluster
    cluster:
      server: $url
      certificate-authority: $state/ca.crt
users:
  - name: esdb
    user:
      tokenFile: $work/token
contexts:
  - name: esk8s-cluster
    context: {cluster: esk8s-cluster, user: esdb, namespace: $ns}
current-context: esk8s-cluster
KUBECONFIG
# One member's EndpointSlice, so that the report has a peer: without any, "no endpoints found"
# is a problem and the check fails whatever the RBAC.
kc apply -f - >/dev/null <<SLICE || fail "creating the EndpointSlice failed"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: esdb-selfcheck
  namespace: $ns
  labels: {kubernetes.io/service-name: esdb}
addressType: IPv4
endpoints:
  - addresses: [10.0.0.1]
    hostname: esdb-0
ports:
  - {name: gossip, port: 2114}
SLICE
role_checks="create events.events.k8s.io, get pods, get statefulsets.apps, list endpointslices.discovery.k8s.io, patch events.events.k8s.io, watch endpointslices.discovery.k8s.io"
expect_pass "single-namespace RBAC (rbac/role.yaml)" "$role_checks"
each_rule_removed Role esk8s-discovery "-n $ns"
expect_pass "single-namespace RBAC restored" "$role_checks"

# 3: kubernetes-csr adds the CSR permissions (cluster-scoped) to the check.
csr_checks="create certificatesigningrequests.certificates.k8s.io, create events.events.k8s.io, get certificatesigningrequests.certificates.k8s.io, get pods, get statefulsets.apps, list endpointslices.discovery.k8s.io, patch events.events.k8s.io, watch certificatesigningrequests.certificates.k8s.io, watch endpointslices.discovery.k8s.io"
expect_missing "kubernetes-csr mode without rbac/csr.yaml" \
  "create certificatesigningrequests.certificates.k8s.io, get certificatesigningrequests.certificates.k8s.io, watch certificatesigningrequests.certificates.k8s.io" \
  ESK8S_TLS_MODE=kubernetes-csr
overlay kubernetes-csr | docs_of_kind ClusterRole ClusterRoleBinding >"$work/csr-rbac.yaml"
kc apply -f "$work/csr-rbac.yaml" >/dev/null || fail "applying the kubernetes-csr RBAC failed"
expect_pass "kubernetes-csr RBAC (rbac/csr.yaml)" "$csr_checks" ESK8S_TLS_MODE=kubernetes-csr
each_rule_removed ClusterRole esk8s-csr "" ESK8S_TLS_MODE=kubernetes-csr
expect_pass "kubernetes-csr RBAC restored" "$csr_checks" ESK8S_TLS_MODE=kubernetes-csr

stop
echo "PASS: manifests.rbac_files_grant_exactly_what_the_self_check_names ($((SECONDS - test_start)) s)"
