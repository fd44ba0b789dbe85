# shellcheck shell=bash
# Shared by the manifest tests (sourced): rendering, picking documents out of rendered YAML, and a
# kubesim that lives as long as the test. Every external command is bounded with `timeout`.

# Exit code ctest reports as "skipped" (SKIP_RETURN_CODE in CMakeLists.txt).
readonly kSkip=77

fail() { echo "FAIL: $*" >&2; exit 1; }

# scripts/setup stops without kubectl; run on their own, these tests skip (not fail) without it.
require_kubectl() { command -v kubectl >/dev/null || { echo "kubectl is not installed"; exit $kSkip; }; }

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

# start_kubesim BINARY DIR [ARGS...]: starts kubesim with its state in DIR and waits (at most
# 30 s) until it prints "kubesim: ready URL". Sets kubesim_pid, kubesim_url, kubeconfig (admin).
# The caller's EXIT trap must call stop_kubesim. kubesim is killed after 10 minutes regardless.
start_kubesim() {
  local bin=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  : >"$dir/kubesim.log"  # exists before the first poll below, whenever kubesim opens it
  timeout 600 "$bin" --state-dir "$dir" "$@" >"$dir/kubesim.log" 2>&1 &
  kubesim_pid=$!
  local _
  for _ in $(seq 300); do
    kubesim_url=$(sed -n 's/^kubesim: ready //p' "$dir/kubesim.log")
    [ -n "$kubesim_url" ] && break
    kill -0 "$kubesim_pid" 2>/dev/null || { cat "$dir/kubesim.log" >&2; fail "kubesim exited"; }
    sleep 0.1
  done
  [ -n "$kubesim_url" ] || { cat "$dir/kubesim.log" >&2; fail "kubesim not ready after 30 s"; }
  kubeconfig=$dir/kubeconfig
  kube_cache=$dir/kubectl-cache
}

# SIGTERM (kubesim stops its pods and exits), SIGKILL after 10 s.
stop_kubesim() {
  [ -n "${kubesim_pid:-}" ] || return 0
  kill -TERM "$kubesim_pid" 2>/dev/null || true
  local _
  for _ in $(seq 100); do
    kill -0 "$kubesim_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$kubesim_pid" 2>/dev/null || true
  wait "$kubesim_pid" 2>/dev/null || true
  kubesim_pid=
}

# kubectl as kubesim's admin. A fresh discovery cache per call: a cache filled before a
# CustomResourceDefinition was applied would not know its kind.
kc() {
  kubectl_calls=$((${kubectl_calls:-0} + 1))
  timeout 60 kubectl --kubeconfig "$kubeconfig" --cache-dir "$kube_cache/$kubectl_calls" "$@"
}

# create_prerequisites ESK8S_CLI RENDERED WORK NAMESPACE...: what an overlay's kustomization.yaml
# tells users to create before applying it, in every namespace: the CSR signer's CA ConfigMap
# (kubernetes-csr, from kubesim's signer), the CA as a TLS Secret (cert-manager's CA Issuer) or
# the CA Secret of local-ca (one CA for all namespaces). kubesim answers kubectl's protobuf
# `create` with 415, so they are rendered and applied. Needs kc (start_kubesim).
create_prerequisites() {
  local cli=$1 rendered=$2 work=$3 ns
  shift 3
  if grep -q '^  ESK8S_TLS_MODE: kubernetes-csr$' "$rendered"; then
    for ns in "$@"; do
      timeout 60 kubectl create configmap esk8s-signer-ca -n "$ns" --from-file=ca.crt="$work/sim/csr-ca.crt" \
        --dry-run=client -o yaml | kc apply -f - >/dev/null || fail "creating the signer CA ConfigMap failed"
    done
    return
  fi
  timeout 60 "$cli" cert create-ca --out "$work/ca" >/dev/null || fail "esk8s cert create-ca failed"
  for ns in "$@"; do
    if grep -q '^  ESK8S_TLS_MODE: files$' "$rendered"; then
      timeout 60 kubectl create secret tls esk8s-ca -n "$ns" --cert="$work/ca/ca.crt" --key="$work/ca/ca.key" \
        --dry-run=client -o yaml | kc apply -f - >/dev/null || fail "creating the esk8s-ca TLS Secret in $ns failed"
    else
      timeout 60 kubectl create secret generic esk8s-ca -n "$ns" --from-file="$work/ca/ca.crt" \
        --from-file="$work/ca/ca.key" --dry-run=client -o yaml | kc apply -f - >/dev/null ||
        fail "creating the esk8s-ca Secret in $ns failed"
    fi
  done
}

# The namespaces an overlay renders, one per line (reads rendered YAML on stdin).
rendered_namespaces() { docs_of_kind Namespace | sed -n 's/^  name: //p'; }

# start_with_overlay ROOT KUBESIM OVERLAY [FIXTURE...]: renders the overlay into $work/rendered.yaml,
# starts kubesim in $work/sim (with the words of $kubesim_flags, if set), applies the fixtures and
# creates the overlay's namespaces (listed in the array `namespaces`). Needs $work; the caller's
# EXIT trap must call stop_kubesim.
start_with_overlay() {
  local root=$1 bin=$2 overlay=$3 fixture
  shift 3
  render "$root/examples/kubernetes/overlays/$overlay" >"$work/rendered.yaml" ||
    fail "kubectl kustomize $overlay failed"
  # shellcheck disable=SC2086 # kubesim_flags is a list of words
  start_kubesim "$bin" "$work/sim" ${kubesim_flags:-}
  for fixture in "$@"; do
    kc apply -f "$fixture" >/dev/null || fail "applying fixture $fixture failed"
  done
  mapfile -t namespaces < <(rendered_namespaces <"$work/rendered.yaml")
  docs_of_kind Namespace <"$work/rendered.yaml" | kc apply -f - >/dev/null || fail "creating the namespaces failed"
}
