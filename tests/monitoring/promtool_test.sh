#!/usr/bin/env bash
# The shipped rules through Debian's promtool, and the monitoring YAML through yamllint.
#   promtool_test.sh check REPO_ROOT     promtool check rules: the rule file, the PrometheusRule
#   promtool_test.sh unit REPO_ROOT      promtool test rules on tests/monitoring/esk8s-rules-test.yaml
#   promtool_test.sh yamllint REPO_ROOT  yamllint --strict (the repository's .yamllint) on monitoring/
# A missing tool is a failure that says how to install it, never a pass.
set -euo pipefail
mode=$1
root=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
need() {
  command -v "$1" >/dev/null || fail "$1 is not installed: scripts/setup installs it (Debian package $2)"
}
rules=$root/monitoring/prometheus/esk8s-rules.yaml
[ -f "$rules" ] || fail "$rules is missing"
case "$mode" in
  check)
    need promtool prometheus
    timeout 60 promtool check rules "$rules"
    # The PrometheusRule's spec is a rule file of its own: strip the envelope and check it too.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    sed -n "/^spec:$/,$ p" "$root/monitoring/kubernetes/prometheusrule.yaml" | tail -n +2 |
      sed "s/^  //" >"$tmp/spec.yaml"
    grep -q '^groups:$' "$tmp/spec.yaml" || fail "prometheusrule.yaml has no spec.groups"
    timeout 60 promtool check rules "$tmp/spec.yaml"
    ;;
  unit)
    need promtool prometheus
    timeout 120 promtool test rules "$root/tests/monitoring/esk8s-rules-test.yaml"
    ;;
  yamllint)
    need yamllint yamllint
    timeout 60 yamllint --strict -c "$root/.yamllint" "$root/monitoring" "$root/tests/monitoring"
    echo "ok  monitoring YAML"
    ;;
  *) fail "unknown mode $mode (check, unit or yamllint)" ;;
esac
