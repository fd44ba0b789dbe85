#!/usr/bin/env bash
# helm.bad_values_are_refused_naming_the_value: each file of tests/helm/bad-values/ is refused by
# `helm template` (as by `helm install`) and by `helm lint`, and the message contains the text
# its first line names (`# expect: TEXT`: the value's path in values.schema.json's errors, or the
# chart's own message for combinations the schema cannot express). Files whose second line is
# `# lint: logs` hold such a combination, refused by the chart's `fail`: Helm's lint mode logs a
# `fail` and exits 0, so there lint must print the message. The defaults are accepted, so a
# refusal is the bad value's doing.
#   schema_test.sh HELM REPO_ROOT      (exit 77: helm not built)
set -euo pipefail
helm=${1:?usage: schema_test.sh HELM REPO_ROOT} root=${2:?}
source "$(dirname "$0")/lib.sh"

timeout 60 "$helm" template esdb "$chart" --namespace esdb >/dev/null || fail "the defaults are refused"
status=0
n=0
for f in "$root"/tests/helm/bad-values/*.yaml; do
  n=$((n + 1))
  name=bad-values/$(basename "$f")
  expect=$(sed -n '1s/^# expect: //p' "$f")
  lint_logs=$(sed -n '2s/^# lint: logs.*/yes/p' "$f")
  [ -n "$expect" ] || { echo "FAIL: $name has no '# expect: TEXT' first line" >&2; status=1; continue; }
  for cmd in lint template; do
    if [ $cmd = lint ]; then
      args=(lint "$chart" --namespace esdb --values "$f")
    else
      args=(template esdb "$chart" --namespace esdb --values "$f")
    fi
    code=0
    out=$(timeout 60 "$helm" "${args[@]}" 2>&1) || code=$?
    if [ $code -eq 0 ] && ! { [ $cmd = lint ] && [ -n "$lint_logs" ]; }; then
      echo "FAIL: helm $cmd accepted $name" >&2
      status=1
    elif ! grep -qF -- "$expect" <<<"$out"; then
      echo "FAIL: helm $cmd refused $name without naming '$expect':" >&2
      echo "$out" >&2
      status=1
    else
      verb=refuses
      [ $code -ne 0 ] || verb="logs (exit 0)"
      echo "ok  helm $cmd $verb $name: $(grep -F -- "$expect" <<<"$out" | head -n 1 | sed 's/^ *//')"
    fi
  done
done
[ "$n" -ge 10 ] || fail "only $n files in tests/helm/bad-values"
exit $status
