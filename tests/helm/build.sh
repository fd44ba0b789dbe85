#!/usr/bin/env bash
# Builds the real helm CLI (helm.sh/helm/v4, pinned in go.mod and go.sum; tools.go names it) into
# OUTDIR/helm when Go is installed, and only when go.mod, go.sum, this script or the Go version
# changed. Without Go it says so and exits 0: the tests labelled "helm" are then skipped (exit
# 77). A cold build (empty module and build caches) downloads ~120 modules and compiles helm and
# client-go: a few minutes, so it prints progress.
#   tests/helm/build.sh OUTDIR        (scripts/setup runs it with OUTDIR=build/helm)
#   ESK8S_SKIP_HELM=1                 skip the build
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}

if [ -n "${ESK8S_SKIP_HELM:-}" ]; then
  echo "setup: ESK8S_SKIP_HELM is set: not building helm (the helm tests will be skipped)"
  exit 0
fi
# shellcheck source=../go_build.sh
. "$src/../go_build.sh"
if ! go_find; then
  echo "setup: go not found: not building helm (the helm tests, ctest -L helm, are skipped" \
    "until Go is installed and setup runs again)"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$out/helm
inputs=$(go_inputs_hash "$src" build.sh ../go_build.sh tools.go go.mod go.sum)
if go_up_to_date "$bin" "$inputs"; then
  echo "setup: helm is up to date ($bin)"
  exit 0
fi

version=$(awk '$1 == "require" && $2 == "helm.sh/helm/v4" { print $3 }' "$src/go.mod")
echo "setup: building helm $version (helm.sh/helm/v4 with Go; a cold build takes a few minutes," \
  "a cached one seconds) -> $bin"
build_helm() {
  cd "$src"
  # -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
  # helm reports its version from this variable, as its own Makefile stamps it.
  GOFLAGS=-mod=readonly go build -p "${ESK8S_GO_JOBS:-2}" -trimpath -o "$bin.tmp" \
    -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version" helm.sh/helm/v4/cmd/helm
}
go_build_logged helm setup "$bin" "$inputs" "$out/build.log" "; ESK8S_SKIP_HELM=1 skips it" \
  -- build_helm
echo "setup: built helm in $((SECONDS - GO_BUILD_T0)) s ($("$bin" version --short 2>/dev/null || echo "version unknown"))"
