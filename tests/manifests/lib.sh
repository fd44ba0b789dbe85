# shellcheck shell=bash
# Shared by the manifest tests (sourced): rendering and picking documents out of rendered YAML.
# The tests that need an API server set $bin (the esk8s-cluster binary) before sourcing this file,
# which then sources tests/cluster/lib.sh (esk8s-cluster in a temporary state directory, its kc
# and its fail, exit 77 without the binary) for the helpers at the end. Every external command is bounded with
# `timeout`.

# Exit code ctest reports as "skipped" (SKIP_RETURN_CODE in CMakeLists.txt).
readonly kSkip=77

fail() { echo "FAIL: $*" >&2; exit 1; }

# scripts/setup stops without kubectl; run on their own, these tests skip (not fail) without it.
require_kubectl() { command -v kubectl >/dev/null || { echo "kubectl is not installed"; exit $kSkip; }; }

# require TOOL...: fails, naming scripts/setup, when a tool is missing.
require() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null || fail "$t is not installed (scripts/setup installs it)"; done
}

# The tests whose pods run: they must be inside tests/cluster/netns-run's network namespace.
require_netns() {
  [ -n "${ESK8S_NETNS:-}" ] || fail "run through tests/cluster/netns-run: pods get addresses of 10.244.0.0/16"
}

# The overlay directories, one per line.
overlays() { find "$1/examples/kubernetes/overlays" -mindepth 1 -maxdepth 1 -type d | sort; }

render() { timeout 60 kubectl kustomize "$1"; }

# Reads a rendered multi-document stream on stdin and prints the documents whose kind is one of
# the arguments, each preceded by '---'.
docs_of_kind() {
  awk -v kinds=" $* " '
    function flush() { if (index(kinds, " " kind " ") > 0) printf "---\n%s", doc; doc = ""; kind = "" }
    /^---$/ { flush(); next }
    /^kind: / { kind = $2 }
    { doc = doc $0 "\n" }
    END { flush() }'
}

# Reads kustomize output (canonical: sorted keys, block style) on stdin and prints the `rules:`
# block of every object of kind $1 named $2.
rules_of() {
  awk -v want_kind="$1" -v want_name="$2" '
    function flush() {
      if (kind == want_kind && name == want_name) printf "%s", rules
      kind = ""; name = ""; rules = ""; top = ""
    }
    /^---$/ { flush(); next }
    /^[^ #-]/ { top = $0; sub(/:.*/, "", top) }
    top == "kind" { kind = $2 }
    top == "metadata" && /^  name: / { name = $2 }
    top == "rules" { rules = rules $0 "\n" }
    END { flush() }'
}

# create_prerequisites ESK8S_CLI RENDERED WORK NAMESPACE...: what an overlay's kustomization.yaml
# tells users to create before applying it, in every namespace: the CSR signer's CA ConfigMap
# (kubernetes-csr: the CA of esk8s-cluster's --csr-signer), the CA as a TLS Secret (cert-manager's
# CA Issuer) or the CA Secret of local-ca (one CA for all namespaces). Needs kc and $state
# (tests/cluster/lib.sh).
create_prerequisites() {
  local cli=$1 rendered=$2 work=$3 ns
  shift 3
  if grep -q '^  ESK8S_TLS_MODE: kubernetes-csr$' "$rendered"; then
    for ns in "$@"; do
      kc create configmap esk8s-signer-ca -n "$ns" --from-file=ca.crt="$state/csr-signer-ca.crt" >/dev/null ||
        fail "creating the signer CA ConfigMap failed"
    done
    return
  fi
  timeout 60 "$cli" cert create-ca --out "$work/ca" >/dev/null || fail "esk8s cert create-ca failed"
  for ns in "$@"; do
    if grep -q '^  ESK8S_TLS_MODE: files$' "$rendered"; then
      kc create secret tls esk8s-ca -n "$ns" --cert="$work/ca/ca.crt" --key="$work/ca/ca.key" >/dev/null ||
        fail "creating the esk8s-ca TLS Secret in $ns failed"
    else
      kc create secret generic esk8s-ca -n "$ns" --from-file="$work/ca/ca.crt" \
        --from-file="$work/ca/ca.key" >/dev/null || fail "creating the esk8s-ca Secret in $ns failed"
    fi
  done
}

# The namespaces an overlay renders, one per line (reads rendered YAML on stdin).
rendered_namespaces() { docs_of_kind Namespace | sed -n 's/^  name: //p'; }

# ssd_class (the fast-ssd StorageClass) comes with tests/cluster/lib.sh.

# start_with_overlay ROOT OVERLAY [FIXTURE...]: renders the overlay into $work/rendered.yaml,
# starts esk8s-cluster (with the words of $cluster_flags, if set), applies the fixtures and creates
# the overlay's namespaces (listed in the array `namespaces`). Needs tests/cluster/lib.sh.
start_with_overlay() {
  local root=$1 overlay=$2 fixture
  shift 2
  render "$root/examples/kubernetes/overlays/$overlay" >"$work/rendered.yaml" ||
    fail "kubectl kustomize $overlay failed"
  # shellcheck disable=SC2086 # cluster_flags is a list of words
  start ${cluster_flags:-}
  for fixture in "$@"; do
    kc apply -f "$fixture" >/dev/null || fail "applying fixture $fixture failed"
  done
  mapfile -t namespaces < <(rendered_namespaces <"$work/rendered.yaml")
  docs_of_kind Namespace <"$work/rendered.yaml" | kc apply -f - >/dev/null || fail "creating the namespaces failed"
}

if [ -n "${bin:-}" ]; then
  # shellcheck source=../cluster/lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
fi
