#!/usr/bin/env bash
# yamllint with the repository's .yamllint.
#   yamllint_test.sh sources REPO_ROOT   every YAML file in examples/, rbac/ and tests/
#   yamllint_test.sh rendered REPO_ROOT  what `kubectl kustomize` renders from every overlay
set -euo pipefail
mode=$1
root=$2
source "$(dirname "$0")/lib.sh"
command -v yamllint >/dev/null || fail "yamllint is not installed (scripts/setup installs it)"
config=$root/.yamllint
[ -f "$config" ] || fail "$config is missing"

case "$mode" in
  sources)
    mapfile -t files < <(find "$root/examples" "$root/rbac" "$root/tests" \
      \( -name '*.yaml' -o -name '*.yml' \) -type f | sort)
    ((${#files[@]} > 0)) || fail "no YAML files found under $root"
    timeout 60 yamllint --strict -c "$config" "$config" "${files[@]}"
    echo "ok  ${#files[@]} files"
    ;;
  rendered)
    require_kubectl
    status=0
    while read -r dir; do
      name=${dir#"$root"/}
      out=$(render "$dir") || fail "kubectl kustomize $name failed"
      # pipefail: the status is yamllint's.
      if timeout 60 yamllint --strict -c "$config" - <<<"$out" | sed "s|^stdin|$name (rendered)|"; then
        echo "ok  $name (rendered)"
      else
        status=1
      fi
    done < <(overlays "$root")
    exit $status
    ;;
  *) fail "unknown mode $mode" ;;
esac
