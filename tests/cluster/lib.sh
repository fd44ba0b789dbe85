# Shared by the cluster tests: a temporary state directory, esk8s-cluster started and stopped
# with its ready line and exit code checked, kubectl against it, waits with deadlines, and a
# failure that prints the last lines of every log. Source it after setting $bin.
#   start [ARGS...]   stop   kc KUBECTL-ARGS...   wait_for SECONDS DESCRIPTION COMMAND...
# Skipped (77), not failed, when the binary was not built (no Go) or kubectl is missing.
if [ ! -x "$bin" ]; then
  echo "SKIP: $bin is not built (scripts/setup builds it when Go is installed)"
  exit 77
fi
if ! command -v kubectl >/dev/null; then
  echo "SKIP: kubectl is not on the PATH"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/esk8s-cluster-test.XXXXXX")
state=$work/state
pid=

fail() {
  echo "FAIL: $*" >&2
  if [ -n "$pid" ] && [ -f "$state/kubeconfig" ]; then
    echo "--- pods and recent events" >&2
    kubectl --kubeconfig "$state/kubeconfig" get pods -A -o wide >&2 2>&1 || true
    kubectl --kubeconfig "$state/kubeconfig" get events -A --sort-by=.lastTimestamp 2>&1 | tail -n 25 >&2 || true
  fi
  for f in "$work/out.log" "$state"/logs/*.log; do
    [ -f "$f" ] || continue
    echo "--- last lines of $f" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ -n "${ESK8S_TEST_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# start [ARGS...]: runs esk8s-cluster on $state and waits (at most 240 s) for its ready line.
start() {
  : >"$work/out.log"
  timeout 1800 "$bin" --state-dir "$state" "$@" >"$work/out.log" 2>&1 &
  pid=$!
  local t0=$SECONDS
  url=
  while [ $((SECONDS - t0)) -lt 240 ]; do
    url=$(sed -n 's/^esk8s-cluster: ready //p' "$work/out.log")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || fail "esk8s-cluster exited before it was ready"
    sleep 0.2
  done
  [ -n "$url" ] || fail "esk8s-cluster not ready after 240 s"
  grep '^esk8s-cluster: started in' "$work/out.log"
}

# stop: SIGTERM; it must exit 0 within 60 s and leave no process that names the state directory.
stop() {
  kill -TERM "$pid"
  local code=0 t0=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    [ $((SECONDS - t0)) -lt 60 ] || fail "esk8s-cluster still running 60 s after SIGTERM"
    sleep 0.1
  done
  wait "$pid" || code=$?
  pid=
  [ "$code" -eq 0 ] || fail "esk8s-cluster exited $code after SIGTERM"
  echo "stopped in $((SECONDS - t0)) s: $(grep 'components and etcd stopped' "$work/out.log" || true)"
  local left
  left=$(pgrep -af -- "$state" || true)
  [ -z "$left" ] || fail "processes left after stop: $left"
}

calls=0
kc() {
  calls=$((calls + 1))
  timeout 60 kubectl --kubeconfig "$state/kubeconfig" --cache-dir "$work/kube-cache/$calls" "$@"
}

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds.
wait_for() {
  local limit=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt "$limit" ] || fail "$what: not after $limit s"
    sleep 0.5
  done
  echo "ok: $what ($((SECONDS - t0)) s)"
}

# ssd_class: the StorageClass the base's claim template names (fast-ssd), backed by
# esk8s-cluster's local provisioner, as a production cluster has its own SSD class.
ssd_class() {
  printf '%s\n' 'apiVersion: storage.k8s.io/v1' 'kind: StorageClass' 'metadata:' '  name: fast-ssd' \
    'provisioner: esk8s.local/local-path' 'volumeBindingMode: WaitForFirstConsumer' 'reclaimPolicy: Delete' |
    kc apply -f - >/dev/null || fail "creating StorageClass fast-ssd failed"
}

# alive_members IP: how many members the node at IP lists as alive (its /members).
alive_members() {
  curl -s --max-time 2 "http://$1:2115/members" | jq '[.members[] | select(.state == "alive")] | length'
}

