#!/usr/bin/env bash
# helm.chart_passes_helm_lint_strict_with_each_case: `helm lint --strict` (warnings are failures)
# of charts/esk8s with its defaults and with each values file of tests/helm/values/.
#   lint_test.sh HELM REPO_ROOT      (exit 77: helm not built)
set -euo pipefail
helm=${1:?usage: lint_test.sh HELM REPO_ROOT} root=${2:?}
source "$(dirname "$0")/lib.sh"

status=0
lint() {
  local what=$1 out
  shift
  if out=$(timeout 60 "$helm" lint --strict "$chart" "$@" 2>&1); then
    echo "ok  helm lint --strict $what"
  else
    echo "FAIL: helm lint --strict $what:" >&2
    echo "$out" >&2
    status=1
  fi
}
lint "(defaults)"
for c in $(cases); do
  lint "--values values/$c.yaml" --namespace "$(namespace_of "$c")" --values "$cases_dir/$c.yaml"
done
exit $status
