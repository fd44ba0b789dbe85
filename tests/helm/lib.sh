# shellcheck shell=bash
# Shared by the chart tests (sourced after setting $helm and $root): the values file that stands
# for each kustomize overlay, the namespace it is rendered in, and `helm template` bounded in time.
# Skipped (77), not failed, when helm was not built (scripts/setup builds it when Go is installed),
# as the cluster tests are without esk8s-cluster.
if [ ! -x "$helm" ]; then
  echo "SKIP: $helm is not built (scripts/setup builds it with tests/helm/build.sh when Go is installed)"
  exit 77
fi
chart=$root/charts/esk8s
cases_dir=$root/tests/helm/values
# Helm's own state (repositories, cache, plugins) under a temporary directory, never ~/.config:
# the cluster tests' $work (tests/cluster/lib.sh, sourced first, removes it), else our own.
if [ -n "${work:-}" ]; then
  helm_home=$work/helm
  mkdir -p "$helm_home"
else
  helm_home=$(mktemp -d "${TMPDIR:-/tmp}/esk8s-helm-test.XXXXXX")
  trap 'rm -rf "$helm_home"' EXIT
  fail() { echo "FAIL: $*" >&2; exit 1; }
fi
export HELM_CONFIG_HOME=$helm_home/config HELM_CACHE_HOME=$helm_home/cache HELM_DATA_HOME=$helm_home/data

# The cases: one values file per kustomize overlay (same name) and options.yaml, one per line.
cases() { find "$cases_dir" -name '*.yaml' -printf '%f\n' | sed 's/\.yaml$//' | sort; }

# The release namespace of a case: the overlays' namespace (the first one for multi-namespace).
namespace_of() { if [ "$1" = multi-namespace ]; then echo esdb-a; else echo esdb; fi; }

# template CASE [HELM-ARGS...]: the chart rendered as the release "esdb" with the case's values
# (with the `helm test` hook objects unless HELM-ARGS say --skip-tests).
template() {
  local c=$1
  shift
  timeout 60 "$helm" template esdb "$chart" --namespace "$(namespace_of "$c")" \
    --values "$cases_dir/$c.yaml" "$@"
}
