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
