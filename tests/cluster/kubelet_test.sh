#!/usr/bin/env bash
# cluster.process_kubelet_runs_pods_as_the_real_kubelet_does: our process kubelet (kubelet.go,
# pod.go, probes.go, volumes.go, env.go) on one Node of esk8s-cluster, with pods whose containers
# are plain /bin/sh scripts. Each behaviour is proved twice: by what the real API shows (kubectl
# get -o jsonpath, events) and by what the processes observed (marker files they write into a
# hostPath volume, read here):
#   - deletion: the preStop exec hook runs to its end before SIGTERM (the trap's marker comes
#     after the hook's); a container that ignores SIGTERM lives through the grace period and is
#     SIGKILLed after it (>= terminationGracePeriodSeconds, within a few seconds more; a grace
#     period of 1 s is the kubelet's minimum of 2 s), then the pod object is gone; a preStop
#     httpGet reaches the server the container runs (python3's http.server, when python3 is
#     installed) before SIGTERM, and a 404 does not fail the hook; a forced delete
#     (--grace-period=0 --force) removes the object at once and the process still gets the
#     kubelet's minimum grace period of 1 s (preStop, SIGTERM, SIGKILL 2 s later); the cluster
#     then stops its pods without delay;
#   - liveness failure: Unhealthy events, a Killing event, preStop and SIGTERM, SIGKILL after the
#     probe's own terminationGracePeriodSeconds (2 s, not the pod's 30), a restart with
#     restartCount 1 and lastState.terminated exit code 137;
#   - CrashLoopBackOff: a container exiting 1 restarts at once, then after 1, 2, 4 s (10 s
#     doubling times --crashloop-backoff-scale 0.1), waiting reason CrashLoopBackOff, BackOff
#     events; restartPolicy Never: exit 0 is phase Succeeded, exit 3 is phase Failed, exit code 3;
#   - a failing readiness probe makes the pod not Ready without a restart; a startup probe keeps
#     the liveness probe from running until it succeeds (started false, then true);
#   - env: downward API (metadata.name, status.podIP), configMapKeyRef, secretKeyRef, envFrom with
#     prefixes, $(VAR) expansion and $$ escapes in env and args; automountServiceAccountToken:
#     false mounts no token (and a pod without it gets one); a configMap volume updated in place
#     reaches the running process within the sync period (--volume-sync-period, 5 s).
#
#   netns-run kubelet_test.sh ESK8S_CLUSTER_BINARY   (exit 77: skipped, binary or kubectl missing)
set -euo pipefail

bin=${1:?usage: kubelet_test.sh ESK8S_CLUSTER_BINARY}
source "$(dirname "$0")/lib.sh"
[ -n "${ESK8S_NETNS:-}" ] || fail "run through tests/cluster/netns-run: pods get addresses of 10.244.0.0/16"

test_start=$SECONDS
markers=$work/markers
mkdir -p "$markers"
# python3 serves the preStop httpGet when the machine has it (its real path: a pyenv shim needs
# the shell's environment).
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)

start --nodes 1 --crashloop-backoff-scale 0.1
grep '^esk8s-cluster: 1 nodes ready' "$work/out.log" || fail "no '1 nodes ready' line"

kc create namespace kt >/dev/null
sa_exists() { kc -n kt get serviceaccount default; }
wait_for 30 "the serviceaccount controller created kt/default" sa_exists
kc -n kt create configmap cm-env --from-literal=color=red >/dev/null
kc -n kt create configmap cm-bulk --from-literal=a=1 --from-literal=b=2 >/dev/null
kc -n kt create configmap cm-vol --from-literal=color=red >/dev/null
kc -n kt create secret generic s-env --from-literal=password=s3cret >/dev/null

# The pods. marked_pod NAME GRACE SCRIPT [CONTAINER_YAML] prints a pod whose container "main" runs
# SCRIPT with /bin/sh; CONTAINER_YAML (indented four spaces) adds probes and hooks. The scripts
# write "WHAT SECONDS.NANOS" lines to $M/NAME, M=/markers being a hostPath mount (the kubelet
# remaps the value to the directory). Kubernetes expands $(VAR) in command and args and turns $$
# into $, so a shell's $$ is written $$$$.
marked_pod() {
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n' "$1"
  printf '  terminationGracePeriodSeconds: %s\n' "$2"
  printf '  volumes: [{name: markers, hostPath: {path: %s, type: DirectoryOrCreate}}]\n' "$markers"
  printf '  containers:\n  - name: main\n    image: sh\n    command: ["/bin/sh", "-c"]\n    args:\n    - |\n'
  sed 's/^/      /' <<<"$3"
  printf '    env: [{name: M, value: /markers}]\n'
  printf '    volumeMounts: [{name: markers, mountPath: /markers}]\n'
  [ -z "${4:-}" ] || printf '%s\n' "$4"
}
pods=$(
  marked_pod stop-order 10 '
on_term() { echo "term $(date +%s.%N)" >> $M/stop-order; exit 0; }
trap on_term TERM
echo "start $(date +%s.%N)" >> $M/stop-order
while :; do sleep 0.1; done' '    lifecycle:
      preStop:
        exec:
          command: ["/bin/sh", "-c", "echo \"prestop $(date +%s.%N)\" >> $M/stop-order; sleep 1; echo \"prestop-done $(date +%s.%N)\" >> $M/stop-order"]'
  # These three ignore SIGTERM; the one force-deleted has a preStop hook.
  for p in ignores-term:3 grace-one:1 forced:30; do
    marked_pod "${p%:*}" "${p#*:}" "
trap 'echo \"term \$(date +%s.%N)\" >> \$M/${p%:*}' TERM
echo \$\$\$\$ > \$M/${p%:*}.pid
while :; do sleep 0.1; done" "$([ "${p%:*}" != forced ] || printf '%s\n' '    lifecycle:' '      preStop:' \
      '        exec: {command: ["/bin/sh", "-c", "echo \"prestop $(date +%s.%N)\" >> $M/forced"]}')"
  done
  # It ignores SIGTERM while $M/unhealthy exists (so only the probe's grace period ends it), and
  # exits on it otherwise (when the cluster stops).
  marked_pod liveness 30 '
rm -f $M/unhealthy
echo "start $(date +%s.%N)" >> $M/liveness
on_term() { echo "term $(date +%s.%N)" >> $M/liveness; [ -e $M/unhealthy ] || exit 0; }
trap on_term TERM
while :; do sleep 0.1; done' '    livenessProbe:
      exec: {command: ["/bin/sh", "-c", "test ! -e $M/unhealthy"]}
      periodSeconds: 1
      failureThreshold: 2
      terminationGracePeriodSeconds: 2
    lifecycle:
      preStop:
        exec: {command: ["/bin/sh", "-c", "echo \"prestop $(date +%s.%N)\" >> $M/liveness"]}'
  marked_pod crashloop 30 'echo "run $(date +%s.%N)" >> $M/crashloop; exit 1'
  marked_pod readiness 30 '
echo "start $(date +%s.%N)" >> $M/readiness
echo "$ESK8S_SERVICE_ACCOUNT_DIR" > $M/readiness.sa
while :; do sleep 0.1; done' '    readinessProbe:
      exec: {command: ["/bin/sh", "-c", "test -e $M/ready"]}
      periodSeconds: 1'
  marked_pod startup 30 '
echo "start $(date +%s.%N)" >> $M/startup
while :; do sleep 0.1; done' '    startupProbe:
      exec: {command: ["/bin/sh", "-c", "test -e $M/startup-ok"]}
      periodSeconds: 1
      failureThreshold: 60
    livenessProbe:
      exec: {command: ["/bin/sh", "-c", "echo \"liveness $(date +%s.%N)\" >> $M/startup-liveness"]}
      periodSeconds: 1'
  # Job-like pods: restartPolicy Never, exit 0 and exit 3.
  for j in job-ok:done:0 job-fail:failing:3; do
    IFS=: read -r name word code <<<"$j"
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  restartPolicy: Never\n' "$name"
    printf '  containers: [{name: main, image: sh, command: ["/bin/sh", "-c", "echo %s; exit %s"]}]\n' "$word" "$code"
  done
  echo ---
  cat <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: env}
spec:
  automountServiceAccountToken: false
  volumes:
  - {name: markers, hostPath: {path: @MARKERS@, type: DirectoryOrCreate}}
  - {name: cfg, configMap: {name: cm-vol}}
  containers:
  - name: main
    image: sh
    command: ["/bin/sh", "-c", "env > $M/env.txt; echo \"ARG1=$1\" >> $M/env.txt; echo \"ARG2=$2\" >> $M/env.txt; while :; do c=$(cat $CFG/color); [ \"$c\" = \"$last\" ] || { echo \"$c $(date +%s.%N)\" >> $M/cfg-seen; last=$c; }; sleep 0.2; done"]
    args: ["sh", "$(FROM_CM)", "$$(FROM_CM)"]
    envFrom:
    - {configMapRef: {name: cm-bulk}, prefix: BULK_}
    - {secretRef: {name: s-env}, prefix: SEC_}
    env:
    - {name: M, value: /markers}
    - {name: CFG, value: /etc/cfg}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: FROM_CM, valueFrom: {configMapKeyRef: {name: cm-env, key: color}}}
    - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: s-env, key: password}}}
    - {name: GREETING, value: "hi $(POD_NAME) at $(POD_IP), $$(POD_NAME) escaped, $(UNDEFINED) kept"}
    volumeMounts:
    - {name: markers, mountPath: /markers}
    - {name: cfg, mountPath: /etc/cfg}
YAML
)
if [ -n "$py" ]; then
  pods+=$'\n---\n'
  pods+=$(cat <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: prestop-http}
spec:
  terminationGracePeriodSeconds: 5
  volumes: [{name: markers, hostPath: {path: @MARKERS@, type: DirectoryOrCreate}}]
  containers:
  - name: main
    image: python
    command: ["/bin/sh", "-c", "exec @PY@ -m http.server 8080 --bind $POD_IP --directory $M/www 2>> $M/http.log"]
    ports: [{name: http, containerPort: 8080}]
    env:
    - {name: M, value: /markers}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    volumeMounts: [{name: markers, mountPath: /markers}]
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
    lifecycle:
      preStop:
        httpGet: {path: /prestop-hit, port: http}
YAML
)
  mkdir -p "$markers/www"
fi
echo "$pods" | sed -e "s|@MARKERS@|$markers|g" -e "s|@PY@|$py|g" | kc -n kt apply -f - >/dev/null
pod_created=$(date +%s.%N)

get() { kc -n kt get pod "$1" -o jsonpath="$2"; }
# elapsed FROM TO: seconds between two "date +%s.%N" stamps, to the millisecond.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# between VALUE LOW HIGH: LOW <= VALUE <= HIGH.
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
stamp() { awk -v w="$2" '$1 == w { print $2; exit }' "$markers/$1"; }
events_for() { kc -n kt get events --field-selector "involvedObject.name=$1" -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}'; }
running() { [ "$(get "$1" '{.status.phase}')" = Running ]; }

for p in stop-order ignores-term grace-one forced liveness readiness startup env ${py:+prestop-http}; do
  wait_for 60 "pod $p Running" running "$p"
done

# --- env: downward API, configMapKeyRef, secretKeyRef, envFrom, $(VAR), no service-account token.
has_env() { [ -s "$markers/env.txt" ] && grep -q '^ARG2=' "$markers/env.txt"; }
wait_for 20 "the env pod wrote its environment" has_env
ip=$(get env '{.status.podIP}')
case "$ip" in 10.244.*) ;; *) fail "env pod IP '$ip' is not in 10.244.0.0/16" ;; esac
want_env() {
  grep -qxF -- "$1" "$markers/env.txt" || fail "the env pod's environment lacks '$1': $(cat "$markers/env.txt")"
}
want_env "POD_NAME=env"
want_env "POD_IP=$ip"
want_env "FROM_CM=red"
want_env "FROM_SECRET=s3cret"
want_env "BULK_a=1"
want_env "BULK_b=2"
want_env "SEC_password=s3cret"
want_env "HOSTNAME=env"
want_env "GREETING=hi env at $ip, \$(POD_NAME) escaped, \$(UNDEFINED) kept"
want_env "ARG1=red"
want_env "ARG2=\$(FROM_CM)"
echo "ok: env: metadata.name, status.podIP ($ip), configMapKeyRef, secretKeyRef, envFrom with prefixes, \$(VAR) expanded, \$\$ escaped, undefined kept, in env and args"
! grep -q '^ESK8S_SERVICE_ACCOUNT_DIR=' "$markers/env.txt" ||
  fail "automountServiceAccountToken: false, yet the env pod has $(grep '^ESK8S_SERVICE_ACCOUNT_DIR=' "$markers/env.txt")"
vols=$(get env '{.spec.volumes[*].name}')
[ "$vols" = "markers cfg" ] || fail "automountServiceAccountToken: false, yet the env pod's volumes are: $vols"
env_uid=$(get env '{.metadata.uid}')
env_dir=$state/kubelet/node-1/pods/kt_env_$env_uid
[ -d "$env_dir/volumes" ] || fail "no pod directory $env_dir/volumes"
! ls "$env_dir/volumes" | grep -q kube-api-access ||
  fail "automountServiceAccountToken: false, yet $env_dir/volumes has $(ls "$env_dir/volumes")"
# The contrast: a pod without the field gets the projected token volume.
sa_dir=$(cat "$markers/readiness.sa")
[ -n "$sa_dir" ] && [ -s "$sa_dir/token" ] && [ -s "$sa_dir/ca.crt" ] && [ "$(cat "$sa_dir/namespace")" = kt ] ||
  fail "the readiness pod (automount by default) has no token in '$sa_dir'"
echo "ok: automountServiceAccountToken: false: no kube-api-access volume, no token directory; the default pod has token, ca.crt and namespace"

# --- a configMap volume updated in place reaches the running process within the sync period.
seen_color() { [ "$(tail -n 1 "$markers/cfg-seen" | cut -d' ' -f1)" = "$1" ]; }
wait_for 10 "the env pod reads color=red from its configMap volume" seen_color red
t_patch=$(date +%s.%N)
kc -n kt patch configmap cm-vol --type merge -p '{"data":{"color":"blue"}}' >/dev/null
wait_for 15 "the running env pod sees color=blue" seen_color blue
took=$(elapsed "$t_patch" "$(tail -n 1 "$markers/cfg-seen" | cut -d' ' -f2)")
between "$took" 0 7 || fail "the configMap update took $took s to reach the container (sync period 5 s)"
[ "$(get env '{.status.containerStatuses[0].restartCount}')" = 0 ] || fail "the env pod restarted"
echo "ok: configMap volume updated in place reached the same process in $took s (sync period 5 s)"

# --- readiness: failing means not Ready, never a restart.
[ "$(get readiness '{.status.conditions[?(@.type=="Ready")].status}')" = False ] ||
  fail "readiness pod Ready before its probe passed"
[ "$(get readiness '{.status.containerStatuses[0].started}')" = true ] || fail "readiness pod's container not started"
touch "$markers/ready"
ready_is() { [ "$(get readiness '{.status.conditions[?(@.type=="Ready")].status}')" = "$1" ]; }
wait_for 10 "readiness pod Ready once its probe passes" ready_is True
rm "$markers/ready"
wait_for 15 "readiness pod not Ready after 3 failed probes" ready_is False
[ "$(get readiness '{.status.containerStatuses[0].ready}')" = false ] || fail "container still ready"
[ "$(get readiness '{.status.containerStatuses[0].restartCount}')" = 0 ] || fail "a readiness failure restarted the container"
[ "$(grep -c '^start ' "$markers/readiness")" = 1 ] || fail "the readiness pod's script started more than once"
[ "$(get readiness '{.status.phase}')" = Running ] || fail "readiness pod not Running"
events_for readiness | grep -q '^Unhealthy: Readiness probe failed' || fail "no 'Unhealthy: Readiness probe failed' event: $(events_for readiness)"
echo "ok: readiness probe failing: Ready False, container running, restartCount 0, Unhealthy event"

# --- startup probe gates liveness.
[ "$(get startup '{.status.containerStatuses[0].started}')" = false ] || fail "startup pod started before its startup probe passed"
[ ! -e "$markers/startup-liveness" ] || fail "the liveness probe ran before the startup probe passed"
ok_at=$(date +%s.%N)
touch "$markers/startup-ok"
started() { [ "$(get startup '{.status.containerStatuses[0].started}')" = true ]; }
wait_for 10 "startup pod started once its startup probe passes" started
liveness_ran() { [ -s "$markers/startup-liveness" ]; }
wait_for 10 "the liveness probe runs after the startup probe passed" liveness_ran
first_liveness=$(awk '{ print $2; exit }' "$markers/startup-liveness")
between "$(elapsed "$ok_at" "$first_liveness")" 0 60 || fail "liveness ran before the startup probe could pass"
[ "$(get startup '{.status.containerStatuses[0].restartCount}')" = 0 ] || fail "startup pod restarted"
echo "ok: startup probe gates liveness: started false and no liveness run for $(elapsed "$pod_created" "$ok_at") s, then started and liveness probing"

# --- liveness failure: Unhealthy, Killing, preStop, SIGTERM, SIGKILL after the probe's grace, restart.
touch "$markers/unhealthy"
restarted() { [ "$(get liveness '{.status.containerStatuses[0].restartCount}')" = 1 ] && [ "$(grep -c '^start ' "$markers/liveness")" = 2 ]; }
wait_for 20 "the liveness pod's container restarted after its probe failed" restarted
order=$(awk '{ printf "%s ", $1 }' "$markers/liveness")
[ "$order" = "start prestop term start " ] || fail "liveness: the container saw '$order', want 'start prestop term start'"
t_prestop=$(stamp liveness prestop) t_term=$(stamp liveness term)
t_start2=$(awk '$1 == "start" { s = $2 } END { print s }' "$markers/liveness")
kill_took=$(elapsed "$t_term" "$t_start2")
# It ignores SIGTERM: SIGKILL after the probe's terminationGracePeriodSeconds (2 s), not the pod's 30.
between "$kill_took" 1.8 6 || fail "liveness: SIGTERM to restart took $kill_took s, want about the probe's grace period of 2 s"
code=$(get liveness '{.status.containerStatuses[0].lastState.terminated.exitCode}')
[ "$code" = 137 ] || fail "liveness: lastState.terminated.exitCode '$code', want 137 (SIGKILL)"
[ -n "$(get liveness '{.status.containerStatuses[0].lastState.terminated.finishedAt}')" ] || fail "liveness: no lastState.terminated.finishedAt"
[ -n "$(get liveness '{.status.containerStatuses[0].state.running.startedAt}')" ] || fail "liveness: not running again"
ev=$(events_for liveness)
grep -q '^Unhealthy: Liveness probe failed' <<<"$ev" || fail "liveness: no Unhealthy event: $ev"
grep -q '^Killing: Container main failed liveness probe, will be restarted' <<<"$ev" || fail "liveness: no Killing event: $ev"
echo "ok: liveness failure: Unhealthy and Killing events, preStop then SIGTERM ($(elapsed "$t_prestop" "$t_term") s later), SIGKILL and restart $kill_took s after SIGTERM (probe grace 2 s, pod 30 s), restartCount 1, lastState exit 137"

# --- CrashLoopBackOff: at once, then 1, 2, 4 s (10 s doubling x 0.1).
runs() { [ "$(wc -l <"$markers/crashloop")" -ge "$1" ]; }
wait_for 30 "the crashing container ran five times" runs 5
mapfile -t t < <(awk '{ print $2 }' "$markers/crashloop")
g1=$(elapsed "${t[0]}" "${t[1]}") g2=$(elapsed "${t[1]}" "${t[2]}") g3=$(elapsed "${t[2]}" "${t[3]}") g4=$(elapsed "${t[3]}" "${t[4]}")
between "$g1" 0 0.9 || fail "crashloop: first restart after $g1 s, want at once"
between "$g2" 0.9 2.2 || fail "crashloop: second restart after $g2 s, want 1 s"
between "$g3" 1.9 3.2 || fail "crashloop: third restart after $g3 s, want 2 s"
between "$g4" 3.9 5.2 || fail "crashloop: fourth restart after $g4 s, want 4 s"
if [ "${#t[@]}" -ge 6 ]; then
  g5=$(elapsed "${t[4]}" "${t[5]}")
  between "$g5" 7.9 9.2 || fail "crashloop: fifth restart after $g5 s, want 8 s"
  g4="$g4, $g5"
fi
# After the fifth exit the next delay is 8 s or more (16 s after the sixth...).
backing_off() {
  [ "$(get crashloop '{.status.containerStatuses[0].state.waiting.reason}')" = CrashLoopBackOff ] &&
    get crashloop '{.status.containerStatuses[0].state.waiting.message}' |
      grep -Eq '^back-off (8|16|32)s restarting failed container=main pod=crashloop_kt\('
}
wait_for 10 "crashloop pod waiting in CrashLoopBackOff, back-off of 8 s or more" backing_off
msg=$(get crashloop '{.status.containerStatuses[0].state.waiting.message}')
# Waiting in back-off, restartCount is that of the container that crashed (the kubelet counts a
# restart when it creates the next container): runs - 1.
rc=$(get crashloop '{.status.containerStatuses[0].restartCount}')
ran=$(wc -l <"$markers/crashloop")
[ "$rc" = $((ran - 1)) ] || fail "crashloop: restartCount $rc in back-off after $ran runs, want $((ran - 1))"
[ "$(get crashloop '{.status.containerStatuses[0].lastState.terminated.exitCode}')" = 1 ] || fail "crashloop: lastState exit code not 1"
[ "$(get crashloop '{.status.containerStatuses[0].lastState.terminated.reason}')" = Error ] || fail "crashloop: lastState reason not Error"
[ "$(get crashloop '{.status.phase}')" = Running ] || fail "crashloop: phase $(get crashloop '{.status.phase}'), want Running"
events_for crashloop | grep -q '^BackOff: Back-off restarting failed container main' || fail "crashloop: no BackOff event: $(events_for crashloop)"
echo "ok: CrashLoopBackOff: restarts after $g1, $g2, $g3, $g4 s; waiting CrashLoopBackOff ($msg), restartCount $rc, lastState exit 1, BackOff events"

# --- restartPolicy Never: phases Succeeded and Failed.
phase_is() { [ "$(get "$1" '{.status.phase}')" = "$2" ]; }
wait_for 20 "job-ok Succeeded" phase_is job-ok Succeeded
wait_for 20 "job-fail Failed" phase_is job-fail Failed
[ "$(get job-ok '{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}')" = "0 Completed" ] ||
  fail "job-ok: terminated $(get job-ok '{.status.containerStatuses[0].state.terminated}')"
[ "$(get job-fail '{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}')" = "3 Error" ] ||
  fail "job-fail: terminated $(get job-fail '{.status.containerStatuses[0].state.terminated}')"
[ "$(get job-fail '{.status.containerStatuses[0].restartCount}')" = 0 ] || fail "job-fail was restarted"
[ "$(kc -n kt logs job-fail)" = failing ] || fail "kubectl logs job-fail: '$(kc -n kt logs job-fail)'"
echo "ok: restartPolicy Never: exit 0 Succeeded (Completed), exit 3 Failed (exit code 3, Error, no restart), kubectl logs"

# --- deletion: preStop before SIGTERM; SIGKILL after the grace period; the objects disappear.
if [ -n "$py" ]; then
  serving() { [ "$(get prestop-http '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
  wait_for 20 "prestop-http Ready (its httpGet readiness probe reaches python3's server)" serving
fi
gone() { ! kc -n kt get pod "$1" >/dev/null 2>&1; }
pid_ignoring=$(cat "$markers/ignores-term.pid") pid_one=$(cat "$markers/grace-one.pid")
kill -0 "$pid_ignoring" || fail "ignores-term's shell (pid $pid_ignoring) is not running"
kill -0 "$pid_one" || fail "grace-one's shell (pid $pid_one) is not running"
t_delete=$(date +%s.%N)
kc -n kt delete pod stop-order ignores-term grace-one ${py:+prestop-http} --wait=false >/dev/null
# The two that ignore SIGTERM: alive through the grace period, dead soon after.
t_dead= t_dead_one=
while [ -z "$t_dead" ] || [ -z "$t_dead_one" ]; do
  now=$(date +%s.%N)
  if [ -z "$t_dead" ] && ! kill -0 "$pid_ignoring" 2>/dev/null; then t_dead=$now; fi
  if [ -z "$t_dead_one" ] && ! kill -0 "$pid_one" 2>/dev/null; then t_dead_one=$now; fi
  between "$(elapsed "$t_delete" "$now")" 0 15 || fail "a process that ignores SIGTERM is alive 15 s after delete"
  sleep 0.05
done
killed_after=$(elapsed "$t_delete" "$t_dead")
between "$killed_after" 2.9 6 || fail "ignores-term: SIGKILLed $killed_after s after delete, want after its 3 s grace period"
# The kubelet never gives SIGTERM less than 2 s (minimumGracePeriodInSeconds): grace 1 means 2.
killed_one=$(elapsed "$t_delete" "$t_dead_one")
between "$killed_one" 1.9 5 || fail "grace-one: SIGKILLed $killed_one s after delete, want after the kubelet's 2 s minimum"
[ -n "$(stamp grace-one term)" ] || fail "grace-one: its SIGTERM trap never ran"
t_term=$(stamp ignores-term term)
[ -n "$t_term" ] || fail "ignores-term: its SIGTERM trap never ran"
between "$(elapsed "$t_delete" "$t_term")" 0 2 || fail "ignores-term: SIGTERM $(elapsed "$t_delete" "$t_term") s after delete"
grep -q 'pod kt/ignores-term container main: grace period over, SIGKILL' "$state/logs/kubelet-node-1.log" ||
  fail "the kubelet's log does not say it SIGKILLed ignores-term"
wait_for 20 "pod ignores-term gone from the API" gone ignores-term
wait_for 20 "pod grace-one gone from the API" gone grace-one
echo "ok: deletion, SIGTERM ignored: SIGTERM at once, SIGKILL $killed_after s after delete (grace 3 s), object gone; grace 1 s: SIGKILL after $killed_one s (the kubelet's 2 s minimum)"
wait_for 20 "pod stop-order gone from the API" gone stop-order
order=$(awk '{ printf "%s ", $1 }' "$markers/stop-order")
[ "$order" = "start prestop prestop-done term " ] || fail "stop-order: the container saw '$order', want 'start prestop prestop-done term'"
hook=$(elapsed "$(stamp stop-order prestop)" "$(stamp stop-order prestop-done)")
between "$(elapsed "$(stamp stop-order prestop-done)" "$(stamp stop-order term)")" 0 2 || fail "stop-order: SIGTERM long after the hook"
echo "ok: deletion: preStop exec ran to its end ($hook s) before SIGTERM, the trap exited, object gone"
if [ -n "$py" ]; then
  wait_for 20 "pod prestop-http gone from the API" gone prestop-http
  grep -q '"GET /prestop-hit HTTP/1.1" 404' "$markers/http.log" ||
    fail "prestop-http: the server never saw the preStop GET: $(cat "$markers/http.log")"
  ! grep -q 'FailedPreStopHook' <<<"$(kc -n kt get events -o jsonpath='{range .items[*]}{.reason} {.involvedObject.name}{"\n"}{end}')" ||
    fail "a 404 failed the preStop httpGet hook (the kubelet ignores the status code)"
  echo "ok: deletion: preStop httpGet reached the container's own server (a 404, not a FailedPreStopHook), then SIGTERM ended it"
else
  echo "note: python3 not found: the preStop httpGet check is skipped"
fi
events_for ignores-term | grep -q '^Killing: Stopping container main' || fail "no Killing event for ignores-term"

# --- force deletion: gone from the API at once; the kubelet still stops the process with its
# minimum grace period of 1 s (pod_workers.go calculateEffectiveGracePeriod): preStop, SIGTERM,
# SIGKILL 2 s later (the runtime's minimum).
pid_forced=$(cat "$markers/forced.pid")
kill -0 "$pid_forced" || fail "forced's shell (pid $pid_forced) is not running"
t_delete=$(date +%s.%N)
kc -n kt delete pod forced --grace-period=0 --force >/dev/null 2>&1
gone forced || fail "forced: still in the API after a forced delete"
dead_forced() { ! kill -0 "$pid_forced"; }
wait_for 10 "the force-deleted pod's process is killed" dead_forced
killed_forced=$(elapsed "$t_delete" "$(date +%s.%N)")
between "$killed_forced" 1.9 4.5 || fail "forced: SIGKILLed $killed_forced s after the forced delete, want 2 s"
order=$(awk '{ printf "%s ", $1 }' "$markers/forced")
[ "$order" = "prestop term " ] || fail "forced: the container saw '$order', want 'prestop term'"
! events_for forced | grep -q FailedPreStopHook || fail "forced: $(events_for forced | grep FailedPreStopHook)"
echo "ok: force deletion: the object gone at once; preStop, SIGTERM, SIGKILL after $killed_forced s"

stop
# A pod removed from the API is no reason to wait at stop (the Node authorizer answers its status
# reads 403, which the kubelet retried for 5 s).
pods_stop=$(sed -n 's/^esk8s-cluster: pods stopped in \([0-9.]*\)s$/\1/p' "$work/out.log")
between "${pods_stop:-99}" 0 3 || fail "stopping the pods took ${pods_stop:-?} s (the running ones exit on SIGTERM)"
echo "PASS: cluster.process_kubelet_runs_pods_as_the_real_kubelet_does ($((SECONDS - test_start)) s)"
